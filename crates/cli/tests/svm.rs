//! The study's chosen system end to end on phantoms, through the command line: features from a
//! frozen backbone (cached by key), an SVM and a logistic regression fitted on them as run
//! folders, and those runs predicted, evaluated, compared with a network run, explained by
//! Grad-CAM through the backbone (occlusion when asked), cross-validated and searched over,
//! like any other run.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{QUICK_NETWORK, Server};

fn cruciate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(args)
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `exams` easy phantoms of `size` pixels and `slices` slices in `dir/ph`, from `seed`.
fn phantoms(dir: &Path, exams: u32, size: u32, slices: &str, seed: u32) -> std::path::PathBuf {
    let data = dir.join("ph");
    ok(&cruciate(&[
        "synth",
        "--out",
        s(&data),
        "--exams",
        &exams.to_string(),
        "--size",
        &size.to_string(),
        "--slices",
        slices,
        "--seed",
        &seed.to_string(),
    ]));
    data
}

/// `cruciate features` of the small backbone on 4 central slices of 32x32, with `extra` flags.
fn small_features(manifest: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "features",
        "--manifest",
        s(manifest),
        "--backbone",
        "small",
        "--slices",
        "central:4",
        "--size",
        "32",
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    cruciate(&args)
}

#[test]
fn feature_runs_are_classifiers_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = phantoms(d, 48, 64, "8..10", 5);
    let manifest = data.join("manifest.csv");
    let feats = d.join("feats");
    let features_of =
        |manifest: &Path, out: &Path, pool: &str| small_features(manifest, out, &["--pool", pool]);
    let features = |out: &Path, pool: &str| features_of(&manifest, out, pool);
    // A folder holding some of the exams (an extraction killed part-way looks the same) is
    // completed: what it holds is read, the rest computed.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let part: Vec<&str> = text.lines().take(21).collect();
    let part_manifest = data.join("part.csv");
    std::fs::write(&part_manifest, part.join("\n") + "\n").unwrap();
    ok(&features_of(&part_manifest, &feats, "max"));
    let first = ok(&features(&feats, "max"));
    assert!(first.contains("48 exams x 128 values"), "{first}");
    assert!(
        first.contains("28 computed") && first.contains("20 reused"),
        "{first}"
    );
    let npy = std::fs::read(feats.join("features.npy")).unwrap();
    let second = ok(&features(&feats, "max"));
    assert!(
        second.contains("0 computed") && second.contains("48 reused"),
        "{second}"
    );
    assert_eq!(std::fs::read(feats.join("features.npy")).unwrap(), npy);
    let header = json(&feats.join("features.json"));
    assert_eq!(header["exams"].as_array().unwrap().len(), 48);
    assert!(header["synthetic"].as_bool().unwrap());
    // Another pooling is another key: computed, twice as wide.
    let both = ok(&features(&d.join("feats2"), "max,mean"));
    assert!(
        both.contains("x 256 values") && both.contains("48 computed"),
        "{both}"
    );
    assert_ne!(json(&d.join("feats2/features.json"))["key"], header["key"]);

    let svm = d.join("svm");
    let trained = ok(&cruciate(&[
        "svm",
        "train",
        "--features",
        s(&feats),
        "--out",
        s(&svm),
        "--c",
        "2",
    ]));
    assert!(
        trained.contains("svm kernel=rbf C=2 gamma=scale class_weight=balanced"),
        "{trained}"
    );
    assert!(trained.contains("(synthetic phantoms)"), "{trained}");
    let run = json(&svm.join("run.json"));
    assert_eq!(run["kind"], "features");
    assert_eq!(run["model"]["name"], "small+svm");
    assert!(run["training"]["synthetic"].as_bool().unwrap());
    for file in ["model.json", "backbone.bpk", "config.json", "summary.json"] {
        assert!(svm.join(file).is_file(), "{file}");
    }
    let logistic = d.join("logistic");
    ok(&cruciate(&[
        "svm",
        "train",
        "--features",
        s(&feats),
        "--model",
        "logistic",
        "--out",
        s(&logistic),
    ]));

    // A feature folder is opened again only with the backbone that made it: a stored vector
    // the backbone no longer reproduces is refused, in one line.
    let tampered = d.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    for file in ["features.json", "features.npy"] {
        std::fs::copy(feats.join(file), tampered.join(file)).unwrap();
    }
    let mut npy = std::fs::read(tampered.join("features.npy")).unwrap();
    let data_at = 10 + u16::from_le_bytes([npy[8], npy[9]]) as usize;
    npy[data_at..data_at + 4].copy_from_slice(&1.0e6f32.to_le_bytes());
    std::fs::write(tampered.join("features.npy"), npy).unwrap();
    let refused = cruciate(&[
        "svm",
        "train",
        "--features",
        s(&tampered),
        "--out",
        s(&d.join("never")),
    ]);
    fails(&refused, "no longer reproduces the stored features");
    assert!(!d.join("never").exists());
    // Flags are parsed into their types: an unknown model kind names the ones there are.
    let unknown = cruciate(&[
        "svm",
        "train",
        "--features",
        s(&feats),
        "--model",
        "tree",
        "--out",
        s(&d.join("never")),
    ]);
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{err}");
    assert!(err.contains("svm") && err.contains("logistic"), "{err}");

    let exam = data.join("exams/sagittal/00000.npy");
    let predicted = ok(&cruciate(&["predict", "--run", s(&svm), s(&exam)]));
    assert!(predicted.contains("small+svm (features)"), "{predicted}");

    // The input gate's domain reference: written by svm train from the table's vectors, the
    // same (up to f32 rounding) when `cruciate domain` computes them again through the model,
    // and used by predict: with its limit at 0 every exam is unlike the training exams.
    assert!(trained.contains("input gate: "), "{trained}");
    let written = json(&svm.join("domain.json"));
    let [held_out, accepted] = [0, 1].map(|i| written["held_out"][i].as_u64().unwrap());
    assert!(
        held_out > 0 && accepted as f64 >= 0.975 * held_out as f64,
        "{written}"
    );
    let refit = ok(&cruciate(&[
        "domain",
        "--run",
        s(&svm),
        "--manifest",
        s(&manifest),
    ]));
    assert!(refit.contains("input gate: "), "{refit}");
    let again = json(&svm.join("domain.json"));
    let limit = |v: &serde_json::Value| v["limit"].as_f64().unwrap();
    assert!(
        (limit(&again) - limit(&written)).abs() <= 1e-4 * limit(&written).max(1e-3),
        "{written} {again}"
    );
    assert_eq!(again["held_out"], written["held_out"]);
    let mut strict = again.clone();
    strict["limit"] = serde_json::json!(0.0);
    std::fs::write(svm.join("domain.json"), strict.to_string()).unwrap();
    let refused = ok(&cruciate(&["predict", "--run", s(&svm), s(&exam)]));
    assert!(
        refused.contains("not analysed: unlike the training exams: score "),
        "{refused}"
    );
    assert!(refused.contains("limit 0.000"), "{refused}");
    std::fs::write(svm.join("domain.json"), again.to_string()).unwrap();
    assert!(predicted.contains("not for clinical use"), "{predicted}");

    // The same evaluation report as for a network run.
    let network = d.join("net");
    ok(&cruciate(
        &[
            &["train", "--manifest", s(&manifest)][..],
            &QUICK_NETWORK,
            &["--out", s(&network)],
        ]
        .concat(),
    ));
    let mut keys = Vec::new();
    for (run, out) in [(&svm, d.join("ev-svm")), (&network, d.join("ev-net"))] {
        ok(&cruciate(&[
            "evaluate",
            "--run",
            s(run),
            "--manifest",
            s(&manifest),
            "--out",
            s(&out),
        ]));
        let report = json(&out.join("report.json"));
        let mut k: Vec<String> = report.as_object().unwrap().keys().cloned().collect();
        k.sort();
        keys.push(k);
        assert!(out.join("report.html").is_file());
    }
    assert_eq!(
        keys[0], keys[1],
        "an SVM run's report has a network run's sections"
    );
    let table = ok(&cruciate(&[
        "compare",
        "--manifest",
        s(&manifest),
        s(&svm),
        s(&logistic),
        s(&network),
    ]));
    for name in ["small+svm", "small+logistic", "/net |"] {
        assert!(table.contains(name), "{name} in {table}");
    }

    let explained = d.join("ex");
    let said = ok(&cruciate(&[
        "explain",
        "--run",
        s(&svm),
        "--out",
        s(&explained),
        s(&exam),
    ]));
    // Grad-CAM through the backbone, the SVM as its head; occlusion when asked.
    assert!(said.contains("Grad-CAM"), "{said}");
    assert_eq!(json(&explained.join("explain.json"))["method"], "gradcam");
    assert!(explained.join("slice_importance.svg").is_file());
    let occluded = d.join("ex-occlusion");
    let said = ok(&cruciate(&[
        "explain",
        "--run",
        s(&svm),
        "--method",
        "occlusion",
        "--out",
        s(&occluded),
        s(&exam),
    ]));
    assert!(said.contains("occlusion sensitivity"), "{said}");
    assert_eq!(json(&occluded.join("explain.json"))["method"], "occlusion");
    fails(
        &cruciate(&[
            "explain",
            "--run",
            s(&svm),
            "--method",
            "cam",
            "--out",
            s(&d.join("ex-cam")),
            s(&exam),
        ]),
        "CAM needs a network's linear head",
    );

    let cv = ok(&cruciate(&[
        "svm",
        "cv",
        "--features",
        s(&feats),
        "--folds",
        "3",
        "--out",
        s(&d.join("cv")),
    ]));
    assert_eq!(
        cv.lines().filter(|l| l.starts_with("fold ")).count(),
        3,
        "{cv}"
    );

    // A grid of 2 x 2 settings over 3 folds; run again, nothing is run twice.
    let space = d.join("space.toml");
    std::fs::write(
        &space,
        "path = \"svm\"\ntask = \"binary\"\n[features]\nbackbone = \"small\"\nsize = 32\n\
         [search]\nc = [0.5, 4.0]\nkernel = [\"rbf\", \"linear\"]\nslices = [\"central:4\"]\n",
    )
    .unwrap();
    let tune = d.join("tune");
    let tune_args = [
        "tune",
        "--manifest",
        s(&manifest),
        "--space",
        s(&space),
        "--folds",
        "3",
        "--out",
        s(&tune),
    ];
    ok(&cruciate(&tune_args));
    let csv = std::fs::read_to_string(tune.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert_eq!(
        rows[0],
        "rank,trial,c,kernel,slices,auc_mean,auc_sd,folds,seconds"
    );
    let means: Vec<f64> = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(5).unwrap().parse().unwrap())
        .collect();
    assert!(
        means.windows(2).all(|w| w[0] >= w[1]),
        "best first: {means:?}"
    );
    assert_eq!(json(&tune.join("best-run/run.json"))["kind"], "features");
    assert!(
        std::fs::read_to_string(tune.join("best.toml"))
            .unwrap()
            .contains("[best]")
    );
    let trials = std::fs::read_to_string(tune.join("trials.jsonl")).unwrap();
    ok(&cruciate(&tune_args));
    assert_eq!(
        std::fs::read_to_string(tune.join("trials.jsonl")).unwrap(),
        trials
    );

    // The service serves it: an upload analysed by the SVM run, explained by Grad-CAM.
    let server = Server::start(&d.join("service"), &["--model", s(&svm)]);
    let (status, accepted) = server.upload(&exam, "knee.npy", &server.token);
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let analysed = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(analysed["status"], "done", "{analysed}");
    assert_eq!(analysed["result"]["explanation"]["method"], "Grad-CAM");
    assert_eq!(analysed["result"]["model"], "small+svm");
    assert_eq!(analysed["result"]["finding"], "acl");
    assert_eq!(analysed["result"]["synthetic_model"], true);
    drop(server);

    // Bad input: one line, status 2.
    fails(
        &cruciate(&[
            "svm",
            "train",
            "--features",
            s(&d.join("none")),
            "--out",
            s(&d.join("x")),
        ]),
        "not a feature folder",
    );
    fails(
        &cruciate(&[
            "svm",
            "train",
            "--features",
            s(&feats),
            "--c=-1",
            "--out",
            s(&d.join("x")),
        ]),
        "--c must be a positive number",
    );
    std::fs::write(
        &space,
        "path = \"svm\"\n[features]\nbackbone = \"small\"\n[search]\nlr = [1]\n",
    )
    .unwrap();
    fails(&cruciate(&tune_args), "\"lr\" is not an SVM setting");
    fails(
        &cruciate(&[
            "weights",
            "import-onnx",
            s(&exam),
            "--out",
            s(&d.join("w.safetensors")),
        ]),
        "not an ONNX model",
    );
}

#[test]
fn the_network_path_searches_training_settings_by_cross_validation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = phantoms(d, 24, 48, "6..6", 8);
    let space = d.join("space.toml");
    std::fs::write(
        &space,
        "path = \"network\"\n[search]\n\"model.name\" = [\"small\"]\n\"train.epochs\" = [1]\n\
         \"data.size\" = [32]\n\"data.slices\" = [4]\n\"optim.lr\" = [0.001, 0.0001]\n",
    )
    .unwrap();
    let out = d.join("tune");
    let printed = ok(&cruciate(&[
        "tune",
        "--manifest",
        s(&data.join("manifest.csv")),
        "--space",
        s(&space),
        "--folds",
        "2",
        "--metric",
        "accuracy",
        "--out",
        s(&out),
    ]));
    assert!(
        printed.contains("2 trials x 2 folds, by accuracy"),
        "{printed}"
    );
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().next().unwrap().contains("optim.lr"));
    for trial in [
        "trials/001/cv.json",
        "trials/002/cv.json",
        "best-run/run.json",
    ] {
        assert!(out.join(trial).is_file(), "{trial}");
    }
    let best = std::fs::read_to_string(out.join("best.toml")).unwrap();
    assert!(
        best.contains("path = \"network\"") && best.contains("\"optim.lr\""),
        "{best}"
    );
}

/// Features of another finding on another plane: the table carries that finding's labels and
/// that plane's series, the SVM run answers it and its gate reads that plane only; the
/// graded task is refused for a finding labelled yes or no.
#[test]
fn a_feature_run_answers_one_finding_on_one_plane() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let synth = d.join("synth");
    ok(&cruciate(&[
        "synth",
        "--out",
        s(&synth),
        "--exams",
        "30",
        "--size",
        "64",
        "--slices",
        "12..14",
        "--seed",
        "4",
        "--planes",
        "sagittal,coronal,axial",
    ]));
    let manifest = synth.join("manifest.csv");
    let feats = d.join("feats");
    ok(&small_features(
        &manifest,
        &feats,
        &["--finding", "meniscus", "--plane", "coronal"],
    ));
    let table = json(&feats.join("features.json"));
    assert_eq!(table["finding"], "meniscus");
    let m = cruciate_data::Manifest::read(&manifest).unwrap();
    for exam in table["exams"].as_array().unwrap() {
        let row = m
            .rows
            .iter()
            .find(|r| r.exam_id == exam["row"]["exam_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(exam["row"]["label"], 3 * row.meniscus.unwrap());
        assert_eq!(exam["row"]["plane"], "coronal");
        assert!(exam["source"].as_str().unwrap().contains("coronal"));
    }
    let run = d.join("svm");
    ok(&cruciate(&[
        "svm",
        "train",
        "--features",
        s(&feats),
        "--out",
        s(&run),
    ]));
    let info = json(&run.join("run.json"));
    assert_eq!(info["finding"], "meniscus");
    assert_eq!(info["classes"][1], "meniscal tear");
    assert_eq!(info["gate"]["plane"], "coronal");
    let said = ok(&cruciate(&[
        "predict",
        "--run",
        s(&run),
        s(&synth.join("exams/coronal/00000.npy")),
    ]));
    assert!(said.contains("meniscal tear probability"), "{said}");
    let said = ok(&cruciate(&[
        "predict",
        "--run",
        s(&run),
        s(&synth.join("exams/sagittal/00000.npy")),
    ]));
    assert!(
        said.contains("sagittal plane"),
        "the gate refuses another plane: {said}"
    );
    // Served, its result and its SR are about the meniscus.
    let server = Server::start(&d.join("service"), &["--model", s(&run)]);
    let (status, accepted) = server.upload(
        &synth.join("exams/coronal/00000.npy"),
        "knee.npy",
        &server.token,
    );
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let analysed = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(analysed["status"], "done", "{analysed}");
    assert_eq!(analysed["result"]["finding"], "meniscus");
    assert_eq!(analysed["result"]["classes"][1], "meniscal tear");
    let (status, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &server.token);
    assert_eq!(status, 200);
    let finding = cruciate_dicom_results::read_finding(&sr).unwrap();
    assert!(
        ["MEN-NO-TEAR", "239720000"].contains(&finding.code.as_str()),
        "{finding:?}"
    );
    drop(server);
    fails(
        &cruciate(&[
            "svm",
            "train",
            "--features",
            s(&feats),
            "--task",
            "grade",
            "--out",
            s(&d.join("graded")),
        ]),
        "--task binary",
    );
}
