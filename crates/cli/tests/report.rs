//! `cruciate evaluate` end to end: report.json holds the study's figures and the CAM-in-ROI
//! figures per class; report.html opens in headless Chromium (Debian's `chromium`, installed by
//! .ci/run) with every image decoded, nothing fetched, and a screenshot that is not blank.

use std::path::Path;
use std::process::{Command, Output};

fn cruciate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(args)
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn chromium(args: &[&str]) -> Output {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed: apt-get install chromium (.ci/run does)");
    Command::new(found)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .output()
        .unwrap()
}

/// Trains `small` on 40 phantoms into `dir/NAME` with `epochs` and `lr`.
fn train(dir: &Path, manifest: &str, name: &str, epochs: &str, lr: &str) -> String {
    let run = dir.join(name).to_str().unwrap().to_string();
    ok(&cruciate(&[
        "train",
        "--manifest",
        manifest,
        "--model",
        "small",
        "--out",
        &run,
        "--epochs",
        epochs,
        "--set",
        "data.size=48",
        "--set",
        "data.slices=6",
        "--set",
        &format!("optim.lr={lr}"),
    ]));
    run
}

fn phantoms(dir: &Path) -> String {
    phantoms_with(dir, "study")
}

/// 40 phantoms with the class proportions `balance` (`study` or `equal`).
fn phantoms_with(dir: &Path, balance: &str) -> String {
    let data = dir.join("data");
    ok(&cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "40",
        "--seed",
        "9",
        "--size",
        "96",
        "--slices",
        "8..10",
        "--balance",
        balance,
    ]));
    data.join("manifest.csv").to_str().unwrap().to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn evaluate_writes_the_report_and_it_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let run = train(dir.path(), &manifest, "run", "3", "1e-3");
    let out = dir.path().join("report");
    let o = cruciate(&[
        "evaluate",
        "--run",
        &run,
        "--manifest",
        &manifest,
        "--split",
        "test",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    let report = read_json(&out.join("report.json"));
    assert!(
        report["auc"]["value"].is_number(),
        "both classes are in the test split"
    );
    assert_eq!(report["per_class"].as_array().unwrap().len(), 2);
    for key in ["precision", "recall", "f1", "support"] {
        assert!(report["weighted_avg"][key].is_number(), "{key}");
    }
    // Accuracy is the confusion matrix's diagonal over its total.
    let cm: Vec<Vec<u64>> = serde_json::from_value(report["confusion_matrix"].clone()).unwrap();
    let total: u64 = cm.iter().flatten().sum();
    let diagonal: u64 = (0..cm.len()).map(|i| cm[i][i]).sum();
    assert_eq!(total, report["exams"].as_u64().unwrap());
    assert_eq!(
        report["accuracy"].as_f64().unwrap(),
        diagonal as f64 / total as f64
    );
    // Recall of each class is its row's diagonal over the row.
    for (k, row) in cm.iter().enumerate() {
        let support: u64 = row.iter().sum();
        if support > 0 {
            let recall = report["per_class"][k]["recall"].as_f64().unwrap();
            assert!(
                (recall - row[k] as f64 / support as f64).abs() < 1e-12,
                "class {k}"
            );
        }
    }
    assert_eq!(report["synthetic_model"], true);
    // The input gate's count covers every exam scored (the run was just trained, so it has its
    // domain reference), and the page shows it.
    let gate = &report["gate"];
    assert_eq!(
        gate["accepted"].as_u64().unwrap() + gate["abstained"].as_u64().unwrap(),
        total,
        "{gate}"
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("The input gate"), "the page shows the gate");
    // predictions.csv holds each exam's call; predict on one of them gives the same numbers.
    let mut calls = csv::Reader::from_path(out.join("predictions.csv")).unwrap();
    assert_eq!(
        calls.headers().unwrap().iter().collect::<Vec<_>>(),
        ["exam_id", "class", "predicted", "p_healthy", "p_injured"]
    );
    let rows: Vec<csv::StringRecord> = calls.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len() as u64, total);
    let manifest_rows = cruciate_data::Manifest::read(Path::new(&manifest)).unwrap();
    let first = &rows[0];
    let exam = manifest_rows
        .rows
        .iter()
        .find(|r| r.exam_id == first[0])
        .unwrap();
    let o = cruciate(&[
        "predict",
        "--run",
        &run,
        manifest_rows.resolve(exam).to_str().unwrap(),
        "--json",
    ]);
    ok(&o);
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in 0..2 {
        let from_evaluate: f64 = first[3 + k].parse().unwrap();
        assert_eq!(
            p["probabilities"][k].as_f64().unwrap(),
            from_evaluate,
            "class {k}"
        );
    }
    assert_eq!(p["class"].as_u64().unwrap().to_string(), &first[2]);
    let roi = report["cam_in_roi"].as_array().unwrap();
    assert_eq!(roi.len(), 2);
    let boxed: u64 = roi.iter().map(|r| r["exams"].as_u64().unwrap()).sum();
    assert_eq!(
        boxed, total,
        "every phantom has an ACL box inside the slices seen"
    );

    let html_path = out.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(external),
            "report refers outside itself: {external}"
        );
    }
    let url = format!("file://{}", html_path.display());
    let dom = chromium(&["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let loaded = dom
        .split("data-images-loaded=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's load script ran");
    let (done, all) = loaded.split_once('/').unwrap();
    assert_eq!(done, all, "images decoded: {loaded}");
    assert!(dom.matches("<svg").count() >= 5, "five charts");

    let shot = dir.path().join("shot.png");
    let o = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,1600",
        &url,
    ]);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let pixels = &pixels[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> =
        pixels.chunks(info.color_type.samples()).collect();
    assert!(
        distinct.len() > 50,
        "screenshot looks blank: {} colours",
        distinct.len()
    );

    // compare: two different runs, sorted by AUC, each row's figures those of its evaluation.
    let barely = train(dir.path(), &manifest, "barely", "1", "1e-7");
    let cmp = dir.path().join("compare");
    let o = cruciate(&[
        "compare",
        &barely,
        &run,
        "--manifest",
        &manifest,
        "--split",
        "test",
        "--sort",
        "auc",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    ok(&o);
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
    assert_eq!(md.lines().count(), 4, "{md}");
    assert!(md.contains("weighted F1") && md.contains("small (synthetic data)"));
    let mut aucs = Vec::new();
    for name in [&barely, &run] {
        let out = dir.path().join(format!("eval-{}", aucs.len()));
        ok(&cruciate(&[
            "evaluate",
            "--run",
            name,
            "--manifest",
            &manifest,
            "--split",
            "test",
            "--out",
            out.to_str().unwrap(),
        ]));
        let r = read_json(&out.join("report.json"));
        aucs.push((name.clone(), r["auc"]["value"].as_f64().unwrap()));
    }
    aucs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let rows: Vec<&str> = md.lines().skip(2).collect();
    for (row, (name, auc)) in rows.iter().zip(&aucs) {
        assert!(row.starts_with(&format!("| {name} |")), "{md}");
        assert!(
            row.contains(&format!("| {auc:.3}")),
            "{row} should show AUC {auc:.3}"
        );
    }
    assert!(
        std::fs::read_to_string(cmp.join("compare.html"))
            .unwrap()
            .contains("<table>")
    );
}

#[test]
fn the_four_grade_task_trains_predicts_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    // Equal proportions, so that every grade is in the validation split.
    let manifest = phantoms_with(dir.path(), "equal");
    let run = dir.path().join("grades").to_str().unwrap().to_string();
    ok(&cruciate(&[
        "train",
        "--manifest",
        &manifest,
        "--model",
        "small",
        "--task",
        "grade",
        "--out",
        &run,
        "--epochs",
        "2",
        "--set",
        "data.size=48",
        "--set",
        "data.slices=6",
        "--set",
        "optim.optimizer=\"adamw\"",
    ]));
    let info = read_json(&Path::new(&run).join("run.json"));
    assert_eq!(info["task"], "grade");
    assert_eq!(info["classes"].as_array().unwrap().len(), 4);
    let out = dir.path().join("grade-report");
    ok(&cruciate(&[
        "evaluate",
        "--run",
        &run,
        "--manifest",
        &manifest,
        "--split",
        "valid",
        "--threshold",
        "0.3",
        "--out",
        out.to_str().unwrap(),
    ]));
    let r = read_json(&out.join("report.json"));
    assert_eq!(r["per_class"].as_array().unwrap().len(), 4);
    assert_eq!(r["confusion_matrix"].as_array().unwrap().len(), 4);
    assert_eq!(r["threshold"], 0.3);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("sensitivity / specificity at 0.3"));
    // One-vs-rest AUC over the grades present, and the injured-vs-healthy AUC from P(healthy).
    let cm: Vec<Vec<u64>> = serde_json::from_value(r["confusion_matrix"].clone()).unwrap();
    assert!(
        cm.iter().all(|row| row.iter().sum::<u64>() > 0),
        "every grade present: {cm:?}"
    );
    let ovr = r["metrics"]["auc_ovr_macro"]
        .as_f64()
        .expect("one-vs-rest AUC");
    assert!((0.0..=1.0).contains(&ovr));
    assert!(r["auc"]["value"].is_number());
    let mut calls = csv::Reader::from_path(out.join("predictions.csv")).unwrap();
    assert_eq!(calls.headers().unwrap().len(), 3 + 4);
    for row in calls.records() {
        let row = row.unwrap();
        let sum: f64 = (3..7).map(|k| row[k].parse::<f64>().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{row:?}");
    }
}
