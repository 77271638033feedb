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
        fitted.contains("grade sets: 90 % coverage, thresholds from 40 validation exams"),
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
