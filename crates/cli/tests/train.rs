//! `cruciate train`, `predict` and `cv` end to end on small synthetic phantoms: run folder
//! contents, determinism, resume after SIGKILL, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn cruciate(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cruciate"));
    c.args(args).env("CRUCIATE_LOG", "off");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 40 small phantoms (train / valid / test) in `dir/data`.
fn phantoms(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let o = cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "40",
        "--seed",
        "5",
        "--size",
        "96",
        "--slices",
        "8..10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    data.join("manifest.csv")
}

/// Train arguments for a quick run with dropout, augmentation and a plateau schedule, so
/// that every source of randomness takes part in the determinism checks.
fn train_args<'a>(manifest: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--manifest",
        manifest,
        "--model",
        "small",
        "--out",
        out,
        "--epochs",
        epochs,
        "--seed",
        "3",
        "--set",
        "data.size=48",
        "--set",
        "data.slices=6",
        "--set",
        "model.dropout=0.2",
        "--set",
        "augment.flip=0.5",
        "--set",
        "augment.noise=0.5",
        "--set",
        "augment.rotate=0.5",
        "--set",
        "schedule.patience=0",
    ]
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn train_writes_a_run_folder_and_a_killed_run_resumes_to_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let m = manifest.to_str().unwrap();
    let a = dir.path().join("a");
    let o = cruciate(&train_args(m, a.to_str().unwrap(), "5"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("best epoch"));

    // The run folder: config as used, one metrics line per epoch, summary, best + last.
    let config = read(&a.join("config.toml"));
    assert!(
        config.contains("name = \"small\"") && config.contains("dropout = 0.2"),
        "{config}"
    );
    let lines: Vec<serde_json::Value> = read(&a.join("metrics.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i + 1);
        for key in [
            "train_loss",
            "valid_loss",
            "valid_accuracy",
            "valid_auc",
            "lr",
        ] {
            assert!(l[key].is_number(), "{key} in {l}");
        }
    }
    let summary: serde_json::Value = serde_json::from_str(&read(&a.join("summary.json"))).unwrap();
    let best = summary["best"]["epoch"].as_u64().unwrap() as usize;
    let min_loss = lines
        .iter()
        .map(|l| l["valid_loss"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert_eq!(summary["best"]["valid_loss"].as_f64().unwrap(), min_loss);
    let mut kept: Vec<String> = std::fs::read_dir(a.join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    let mut expected: Vec<String> = ["model", "optim", "scheduler"]
        .iter()
        .flat_map(|r| [format!("{r}-{best}.bpk"), format!("{r}-5.bpk")])
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(kept, expected);

    // A second run killed with SIGKILL once a complete checkpoint of epoch 2 or later is on
    // disk, then run again. Burn writes and prunes the three records of an epoch apart, so
    // what a kill leaves is read after it, with the resume's own rule (every record of the
    // epoch present), and the resume must start exactly there.
    let c = dir.path().join("c");
    let checkpoints = c.join("checkpoint");
    let mut child = command(&train_args(m, c.to_str().unwrap(), "5"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let complete = || cruciate_train::checkpoint::complete_epochs(&checkpoints);
    while complete().last().is_none_or(|&e| e < 2) {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!c.join("summary.json").exists());
    let left = complete()
        .last()
        .copied()
        .expect("the best epoch's checkpoint stays while later ones are written");
    let o = cruciate(&train_args(m, c.to_str().unwrap(), "5"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read(&a.join("metrics.jsonl")),
        read(&c.join("metrics.jsonl"))
    );
    let resumed: serde_json::Value = serde_json::from_str(&read(&c.join("summary.json"))).unwrap();
    assert_eq!(resumed["resumed_from"].as_u64(), Some(left as u64));
    assert_eq!(resumed["best"], summary["best"]);

    // A finished run is not overwritten; other settings do not resume it.
    let o = cruciate(&train_args(m, a.to_str().unwrap(), "5"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("finished run"), "{}", stderr(&o));
    // An interrupted run (its config, no summary) is resumed only with the same settings.
    let d = dir.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(a.join("config.toml"), d.join("config.toml")).unwrap();
    let o = cruciate(&train_args(m, d.to_str().unwrap(), "4"));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("holds a run with other settings"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!d.join("metrics.jsonl").exists(), "nothing trained");

    // The finished run describes itself: run.json names its kind, its model file and hash, and
    // that it was trained on synthetic phantoms.
    let info: serde_json::Value = serde_json::from_str(&read(&a.join("run.json"))).unwrap();
    assert_eq!(info["kind"], "network");
    assert_eq!(info["model"]["file"], "model.bpk");
    assert_eq!(
        info["model"]["mode"], "scratch",
        "auto resolves to scratch without weights"
    );
    assert_eq!(info["model"]["epoch"], summary["best"]["epoch"]);
    assert_eq!(info["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(info["training"]["synthetic"], true);
    assert!(a.join("model.bpk").is_file());
    // The input gate's domain reference: the network's features of the train exams, its limit
    // set on the valid ones to accept at least 97.5 % of them.
    let domain: serde_json::Value = serde_json::from_str(&read(&a.join("domain.json"))).unwrap();
    let [held_out, accepted] = [0, 1].map(|i| domain["held_out"][i].as_u64().unwrap());
    assert!(
        held_out > 0 && accepted as f64 >= 0.975 * held_out as f64,
        "{domain}"
    );
    assert!(
        domain["limit"].as_f64().is_some_and(|l| l > 0.0),
        "{domain}"
    );
    // The calibration beside it: a handful of valid exams is too few for grade sets, and
    // calibration.json says so.
    let calibration: serde_json::Value =
        serde_json::from_str(&read(&a.join("calibration.json"))).unwrap();
    assert!(calibration.get("conformal").is_none(), "{calibration}");
    assert!(
        calibration["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("at least 20 held-out exams")),
        "{calibration}"
    );

    // predict on an exam of the manifest: probabilities, call, key slices.
    let exam = manifest.parent().unwrap().join("exams/sagittal/00000.npy");
    let o = cruciate(&[
        "predict",
        "--run",
        a.to_str().unwrap(),
        exam.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let probs: Vec<f64> = p["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 2);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    assert!((p["injured_probability"].as_f64().unwrap() - probs[1]).abs() < 1e-9);
    let [first, end] = [
        p["slices"][0].as_u64().unwrap(),
        p["slices"][1].as_u64().unwrap(),
    ];
    for s in p["strongest_slices"].as_array().unwrap() {
        assert!((first..end).contains(&s.as_u64().unwrap()), "{p}");
    }
    assert_eq!(p["synthetic_model"], true);
    // A run folder from before run.json (config, summary and checkpoints only) still opens,
    // from its best checkpoint, and gives the same call.
    let legacy = dir.path().join("legacy");
    std::fs::create_dir_all(legacy.join("checkpoint")).unwrap();
    for name in ["config.toml", "summary.json", "metrics.jsonl"] {
        std::fs::copy(a.join(name), legacy.join(name)).unwrap();
    }
    for entry in std::fs::read_dir(a.join("checkpoint")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            legacy.join("checkpoint").join(entry.file_name()),
        )
        .unwrap();
    }
    let o = cruciate(&[
        "predict",
        "--run",
        legacy.to_str().unwrap(),
        exam.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let old: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The old folder has no calibration: the model's own probabilities.
    let own = p
        .get("uncalibrated_probabilities")
        .unwrap_or(&p["probabilities"]);
    assert_eq!(&old["probabilities"], own);
    assert_eq!(old["strongest_slices"], p["strongest_slices"]);
    assert_eq!(
        old["synthetic_model"], false,
        "old runs did not record their data"
    );
    // A damaged model file is refused in one line naming it.
    let damaged = dir.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::copy(a.join("run.json"), damaged.join("run.json")).unwrap();
    std::fs::write(damaged.join("model.bpk"), b"not a model").unwrap();
    let o = cruciate(&[
        "predict",
        "--run",
        damaged.to_str().unwrap(),
        exam.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("model.bpk") && e.contains("SHA-256"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");

    let o = cruciate(&[
        "predict",
        "--run",
        a.to_str().unwrap(),
        exam.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("injured probability"), "{text}");
    assert!(text.contains("not for clinical use"), "{text}");

    // explain: one overlay per slice the model saw, the importance strip, explain.json.
    for method in ["cam", "gradcam"] {
        let out = dir.path().join(format!("explain-{method}"));
        let o = cruciate(&[
            "explain",
            "--run",
            a.to_str().unwrap(),
            exam.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--method",
            method,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let e: serde_json::Value = serde_json::from_str(&read(&out.join("explain.json"))).unwrap();
        let shares: Vec<f64> = e["slice_importance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(shares.len() as u64, end - first);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        for s in first..end {
            let png = std::fs::read(out.join(format!("slice_{s:03}.png"))).unwrap();
            assert_eq!(&png[1..4], b"PNG");
            // Drawn on the exam's own 96x96 slice (the model saw 48x48), with a caption band
            // above and a colour bar beside it.
            let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
            let (width, height) = (size(16), size(20));
            assert!(width > 96 && height > 96, "{width}x{height}");
        }
        let chart = read(&out.join("slice_importance.svg"));
        // Slices are numbered from 1 for a reader (files keep the 0-based index), so the
        // last label is `end`, which a 0-based chart would lack.
        for s in first..end {
            let label = s + 1;
            assert!(
                chart.contains(&format!("\n{label}\n</text>")),
                "slice {label} is labelled"
            );
        }
    }
    let o = cruciate(&[
        "explain",
        "--run",
        a.to_str().unwrap(),
        exam.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--class",
        "7",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("class 7"), "{}", stderr(&o));
}

#[test]
fn bad_training_input_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let data = manifest.parent().unwrap();
    let text = read(&manifest);
    let run = |manifest: &Path, name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = train_args(manifest.to_str().unwrap(), out.to_str().unwrap(), "2");
        args.extend_from_slice(extra);
        let o = cruciate(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{name}: {e}");
        (e, out)
    };
    // An exam file that is not there.
    let missing = data.join("missing.csv");
    std::fs::write(
        &missing,
        text.replacen("exams/sagittal/00001.npy", "exams/sagittal/nope.npy", 1),
    )
    .unwrap();
    let (e, _) = run(&missing, "missing", &[]);
    assert!(e.contains("exam 00001") && e.contains("nope.npy"), "{e}");
    // A label that is not a grade.
    let bad_label = data.join("label.csv");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[1] = lines[1]
        .replacen(",0,", ",7,", 1)
        .replacen(",1,", ",7,", 1)
        .replacen(",2,", ",7,", 1)
        .replacen(",3,", ",7,", 1);
    std::fs::write(&bad_label, lines.join("\n")).unwrap();
    let (e, _) = run(&bad_label, "label", &[]);
    assert!(e.contains("line 2"), "{e}");
    // No validation exams.
    let no_valid = data.join("novalid.csv");
    std::fs::write(&no_valid, text.replace(",valid,", ",train,")).unwrap();
    let (e, _) = run(&no_valid, "novalid", &[]);
    assert!(e.contains("0 valid"), "{e}");
    // A valid split of healthy exams only: AUC cannot be monitored (and is not logged when
    // the loss is).
    let healthy_valid: Vec<String> = text
        .lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            if cells.get(3) == Some(&"valid") {
                cells[2] = "0";
            }
            cells.join(",")
        })
        .collect();
    let one_sided = data.join("onesided.csv");
    std::fs::write(&one_sided, healthy_valid.join("\n")).unwrap();
    let (e, _) = run(
        &one_sided,
        "onesided",
        &["--set", "train.monitor=\"valid_auc\""],
    );
    assert!(
        e.contains("holds only healthy ones (AUC is undefined): monitor valid_loss"),
        "{e}"
    );
    let out = dir.path().join("onesided-loss");
    let o = cruciate(&train_args(
        one_sided.to_str().unwrap(),
        out.to_str().unwrap(),
        "1",
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let record: serde_json::Value =
        serde_json::from_str(read(&out.join("metrics.jsonl")).lines().next().unwrap()).unwrap();
    assert!(record["valid_auc"].is_null(), "not 0.5: {record}");
    // Unknown setting, and weights of another architecture.
    let (e, _) = run(&manifest, "unknown", &["--set", "optim.momentom=0.5"]);
    assert!(e.contains("momentom"), "{e}");
    let weights = dir.path().join("w.safetensors");
    std::fs::write(&weights, b"not a weights file").unwrap();
    let (e, _) = run(
        &manifest,
        "weights",
        &["--weights", weights.to_str().unwrap()],
    );
    assert!(e.contains("w.safetensors"), "{e}");
    // A loss that blows up stops the run, names the batch and writes no summary.
    let (e, out) = run(
        &manifest,
        "nan",
        &["--set", "optim.optimizer=sgd", "--set", "optim.lr=1e30"],
    );
    assert!(
        e.contains("loss is") && e.contains("batch") && e.contains("exam"),
        "{e}"
    );
    assert!(!out.join("summary.json").exists());
}

#[test]
fn cv_trains_every_fold_and_pools_held_out_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let out = dir.path().join("cv");
    let mut args = train_args(manifest.to_str().unwrap(), out.to_str().unwrap(), "2");
    args[0] = "cv";
    args.extend_from_slice(&["--folds", "2"]);
    let o = cruciate(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&read(&out.join("cv.json"))).unwrap();
    let folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    let held_out: u64 = folds.iter().map(|f| f["exams"].as_u64().unwrap()).sum();
    let predictions = read(&out.join("predictions.csv"));
    // Every train and valid exam is held out exactly once.
    let manifest_rows = read(&manifest)
        .lines()
        .skip(1)
        .filter(|l| !l.contains(",test,"))
        .count();
    assert_eq!(held_out as usize, manifest_rows);
    assert_eq!(predictions.lines().count(), manifest_rows + 1);
    assert!(report["pooled"]["accuracy"].is_number());
    // Every held-out call went through the gate's rules: counted, and its verdict listed.
    let gate = &report["gate"];
    assert_eq!(
        gate["accepted"].as_u64().unwrap() + gate["abstained"].as_u64().unwrap(),
        held_out,
        "{gate}"
    );
    assert!(predictions.lines().next().unwrap().ends_with(",verdict"));
    assert!(out.join("fold-1/summary.json").exists() && out.join("fold-2/summary.json").exists());
}

#[test]
fn early_stopping_ends_a_run_whose_monitor_stops_improving() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let out = dir.path().join("es");
    let mut args = train_args(manifest.to_str().unwrap(), out.to_str().unwrap(), "6");
    // A learning rate too small to change the validation AUC: the best epoch stays the first.
    args.extend_from_slice(&[
        "--set",
        "optim.lr=1e-12",
        "--set",
        "train.monitor=\"valid_auc\"",
        "--set",
        "train.early_stopping=2",
    ]);
    let o = cruciate(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["stopped_early"], true);
    assert_eq!(summary["best"]["epoch"], 1);
    assert_eq!(summary["last_epoch"], 3);
    assert_eq!(read(&out.join("metrics.jsonl")).lines().count(), 3);
}
