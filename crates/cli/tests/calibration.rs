//! Calibration from the outside: `cruciate calibrate` fits a run's temperature and conformal
//! scores on the manifest's valid exams; `predict` then shows the grade set and the calibrated
//! probabilities, and `evaluate` reports calibration error before and after and the sets'
//! coverage and size. Scored here on the exams calibrated on, where split conformal guarantees
//! at least the coverage asked and a fitted temperature cannot raise the log loss.

mod common;

use std::path::Path;

use common::{cruciate, succeeded};

/// The bundled demo model, copied (without its calibration) into `dir`.
fn demo_copy(dir: &Path) -> std::path::PathBuf {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/demo");
    let run = dir.join("demo");
    std::fs::create_dir_all(&run).unwrap();
    for file in ["run.json", "model.bpk", "domain.json"] {
        std::fs::copy(demo.join(file), run.join(file)).unwrap();
    }
    run
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn calibrate_gives_grade_sets_that_predict_shows_and_evaluate_measures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = demo_copy(d);
    // Phantoms like the demo's own (256 pixels), every one in the valid split.
    let data = d.join("ph");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "40",
        "--size",
        "256",
        "--seed",
        "31",
    ]));
    let text = std::fs::read_to_string(data.join("manifest.csv")).unwrap();
    let all_valid: String = text
        .replace(",train,", ",valid,")
        .replace(",test,", ",valid,");
    let manifest = data.join("all-valid.csv");
    std::fs::write(&manifest, all_valid).unwrap();
    let (r, m) = (run.to_str().unwrap(), manifest.to_str().unwrap());

    // A coverage that is no share is refused in one line, and nothing is written.
    let refused = cruciate(&[
        "calibrate",
        "--run",
        r,
        "--manifest",
        m,
        "--coverage",
        "1.5",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("within 0.5..1"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!run.join("calibration.json").exists());

    let fitted = succeeded(&cruciate(&["calibrate", "--run", r, "--manifest", m]));
    assert!(
        fitted.contains("grade sets: 90 % coverage, thresholds from 40 held-out exams"),
        "{fitted}"
    );
    let calibration = json(&run.join("calibration.json"));
    assert_eq!(
        calibration["conformal"]["scores"].as_array().unwrap().len(),
        40
    );
    // A network: a temperature, unless those exams fit none (which the notes then say).
    let temperature = calibration["temperature"]["value"].as_f64();
    assert!(
        temperature.is_some_and(|t| t > 0.0)
            || calibration["notes"].to_string().contains("no temperature"),
        "{calibration}"
    );

    let exam = data.join("exams/sagittal/00000.npy");
    let shown = succeeded(&cruciate(&["predict", "--run", r, exam.to_str().unwrap()]));
    assert!(shown.contains("grade set (conformal): "), "{shown}");
    assert!(shown.contains(", 90 %"), "{shown}");
    let p: serde_json::Value = serde_json::from_slice(
        &cruciate(&["predict", "--run", r, exam.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(p["grade_set"]["coverage"], 0.9);
    let classes = p["classes"].as_array().unwrap();
    for label in p["grade_set"]["labels"].as_array().unwrap() {
        assert!(classes.contains(label), "{p}");
    }
    if temperature.is_some() {
        assert!(shown.contains("calibrated by temperature"), "{shown}");
        assert!(p["uncalibrated_probabilities"].is_array(), "{p}");
    }

    let out = d.join("ev");
    let evaluated = succeeded(&cruciate(&[
        "evaluate",
        "--run",
        r,
        "--manifest",
        m,
        "--split",
        "valid",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        evaluated.contains("grade sets: 80 % asked: "),
        "{evaluated}"
    );
    let report = json(&out.join("report.json"));
    let levels = report["conformal"]["levels"].as_array().unwrap();
    let targets: Vec<f64> = levels
        .iter()
        .map(|l| l["target"].as_f64().unwrap())
        .collect();
    assert_eq!(targets, vec![0.8, 0.9, 0.95]);
    for level in levels {
        // On the exams it was fitted on, the threshold holds at least the asked share.
        let (target, held) = (
            level["target"].as_f64().unwrap(),
            level["coverage"].as_f64().unwrap(),
        );
        assert!(held >= target, "{level}");
        let per_class: u64 = level["per_class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["exams"].as_u64().unwrap())
            .sum();
        assert_eq!(per_class, 40);
    }
    let c = &report["calibration"];
    assert!(
        c["ece_before"].is_number() && c["ece_after"].is_number(),
        "{c}"
    );
    if temperature.is_some() {
        assert!(
            c["method"].as_str().unwrap().starts_with("temperature "),
            "{c}"
        );
        assert!(
            c["nll_after"].as_f64().unwrap() <= c["nll_before"].as_f64().unwrap() + 1e-9,
            "{c}"
        );
    }
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("Grade sets (split conformal"), "{page}");
}

#[test]
fn a_calib_split_sets_the_gate_and_the_calibration_instead_of_the_valid_split() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = demo_copy(d);
    let data = d.join("ph");
    let synth = |out: &Path, calib: &str| {
        succeeded(&cruciate(&[
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--exams",
            "80",
            "--size",
            "256",
            "--seed",
            "32",
            "--calib",
            calib,
        ]))
    };
    synth(&data, "0.3");
    let manifest = data.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let count = |split: &str| text.matches(&format!(",{split},")).count();
    let (calib, valid) = (count("calib"), count("valid"));
    // Enough for the drift reference and the grade sets (20 each).
    assert!(calib >= 20 && valid >= 10, "{text}");
    // The same seed without a calib split: the calib exams come from train, nothing else moves.
    let plain = d.join("plain");
    synth(&plain, "0");
    let plain_text = std::fs::read_to_string(plain.join("manifest.csv")).unwrap();
    for (with, without) in text.lines().zip(plain_text.lines()).skip(1) {
        let split = |line: &str| line.split(',').nth(3).unwrap().to_string();
        let (a, b) = (split(with), split(without));
        assert!(
            a == b || (a == "calib" && b == "train"),
            "{with} / {without}"
        );
    }

    let (r, m) = (run.to_str().unwrap(), manifest.to_str().unwrap());
    let domain = succeeded(&cruciate(&["domain", "--run", r, "--manifest", m]));
    assert!(
        domain.contains(&format!("the calib split's {calib} exams set")),
        "{domain}"
    );
    assert_eq!(json(&run.join("domain.json"))["held_out"][0], calib);
    assert_eq!(json(&run.join("drift.json"))["exams"], calib);
    let fitted = succeeded(&cruciate(&["calibrate", "--run", r, "--manifest", m]));
    assert!(
        fitted.contains(&format!("thresholds from {calib} held-out exams")),
        "{fitted}"
    );
    assert_eq!(
        json(&run.join("calibration.json"))["conformal"]["scores"]
            .as_array()
            .unwrap()
            .len(),
        calib
    );

    // Without a calib split the valid split sets them, and the command says what that costs.
    let plain_manifest = plain.join("manifest.csv");
    let domain = succeeded(&cruciate(&[
        "domain",
        "--run",
        r,
        "--manifest",
        plain_manifest.to_str().unwrap(),
    ]));
    assert!(domain.contains("the valid split sets"), "{domain}");
    assert_eq!(
        json(&run.join("domain.json"))["held_out"][0],
        plain_text.matches(",valid,").count()
    );
    let refused = cruciate(&[
        "synth",
        "--out",
        d.join("x").to_str().unwrap(),
        "--calib",
        "0.6",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--calib 0.6 is outside"),
        "{refused:?}"
    );
}

#[test]
fn a_model_trained_on_real_exams_and_a_file_without_spacing_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo_copy(dir.path());
    // The same weights described as trained on real exams (run.json is not hashed).
    let mut info = json(&run.join("run.json"));
    info["training"]["synthetic"] = serde_json::json!(false);
    std::fs::write(run.join("run.json"), info.to_string()).unwrap();
    let data = dir.path().join("ph");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "2",
        "--size",
        "256",
        "--seed",
        "3",
    ]));
    let exam = data.join("exams/sagittal/00000.npy");
    let said = succeeded(&cruciate(&[
        "predict",
        "--run",
        run.to_str().unwrap(),
        exam.to_str().unwrap(),
        "--force",
    ]));
    assert!(
        said.contains("Research model: not for clinical use."),
        "{said}"
    );
    assert!(!said.contains("synthetic"), "{said}");
    // A bare .npy has no spacing: inspect and predict say so.
    assert!(said.contains("note: voxel spacing unknown"), "{said}");
    let inspected = succeeded(&cruciate(&["inspect", exam.to_str().unwrap()]));
    assert!(
        inspected.contains("spacing      voxel spacing unknown"),
        "{inspected}"
    );
    let p: serde_json::Value = serde_json::from_slice(
        &cruciate(&[
            "predict",
            "--run",
            run.to_str().unwrap(),
            exam.to_str().unwrap(),
            "--json",
            "--force",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(p["spacing_known"], false, "{p}");
    assert_eq!(p["synthetic_model"], false, "{p}");
}
