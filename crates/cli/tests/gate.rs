//! The input gate from the outside: `predict` gives no grade for an exam outside the model's
//! domain (a sagittal phantom resliced axially or coronally by a transpose, noise, a constant
//! volume, a single slice, the non-knee files of the fixtures), says why in words, and shows the
//! call only with `--force`, marked; an in-distribution phantom is accepted.

mod common;

use std::path::{Path, PathBuf};

use common::{cruciate, npy, succeeded, transpose};
use cruciate_volume::{ReadOptions, read_path};

/// The bundled demo model (reads 8 central slices of 64x64).
fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/demo")
}

fn predict(exam: &Path, extra: &[&str]) -> String {
    let run = demo();
    let mut args = vec![
        "predict",
        "--run",
        run.to_str().unwrap(),
        exam.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    succeeded(&cruciate(&args))
}

fn assert_not_analysed(exam: &Path, because: &str) {
    let text = predict(exam, &[]);
    assert!(
        text.contains("not analysed: "),
        "{}: {text}",
        exam.display()
    );
    assert!(text.contains(because), "{}: {text}", exam.display());
    assert!(!text.contains("injured probability"), "no grade: {text}");
}

#[test]
fn in_a_study_of_several_series_the_gate_chooses_the_series_and_says_why_not_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (study, [pd, t2]) = common::study_of_three_series(dir.path());
    let json: serde_json::Value = serde_json::from_str(&predict(&study, &["--json"])).unwrap();
    assert!(json["probabilities"].is_array(), "graded: {json}");
    let notes: Vec<&str> = json["exam_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let said = |part: &str| notes.iter().any(|n| n.contains(part));
    assert!(
        said(&format!("3 series found; read {}", t2.series_uid)),
        "{notes:?}"
    );
    assert!(
        said(&format!(
            "not read: {} (SAG PD FS, sagittal, 1 slice) (1 slice; the model reads 8",
            pd.series_uid
        )),
        "{notes:?}"
    );
    assert!(said("(coronal plane)"), "{notes:?}");
    // The text says the same.
    let text = predict(&study, &[]);
    assert!(text.contains("note: not read: "), "{text}");
}

#[test]
fn predict_abstains_outside_the_models_domain_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("phantoms");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "4",
        "--size",
        "96",
        "--slices",
        "24..24",
        "--seed",
        "3",
    ]));
    let exam = data.join("exams/sagittal/00001.npy");
    let accepted = predict(&exam, &[]);
    assert!(accepted.contains("injured probability"), "{accepted}");
    assert!(!accepted.contains("not analysed"), "{accepted}");

    let volume = read_path(&exam, &ReadOptions::default()).unwrap();
    assert_eq!(volume.shape, [24, 96, 96]);
    // Resliced by transposes: axial (rows become slices) and coronal (columns become slices).
    for (name, axes) in [("axial", [1, 0, 2]), ("coronal", [2, 1, 0])] {
        let (shape, values) = transpose(&volume.data, volume.shape, axes);
        let path = d.join(format!("{name}.npy"));
        npy(&path, shape, &values);
        assert_not_analysed(&path, "slices of");
    }
    let (noise, constant, single) = (
        d.join("noise.npy"),
        d.join("constant.npy"),
        d.join("one.npy"),
    );
    npy(
        &noise,
        [24, 96, 96],
        &cruciate_testkit::noise(24 * 96 * 96, 99),
    );
    assert_not_analysed(&noise, "no image structure");
    npy(&constant, [24, 96, 96], &vec![5.0; 24 * 96 * 96]);
    assert_not_analysed(&constant, "every voxel is 5");
    npy(&single, [1, 96, 96], &volume.data[..96 * 96]);
    assert_not_analysed(&single, "1 slice; the model reads 8");

    // --force shows the call, marked; --json gives the verdict without a grade unless forced.
    let forced = predict(&noise, &["--force"]);
    assert!(forced.contains("OUTSIDE THE MODEL'S DOMAIN"), "{forced}");
    assert!(forced.contains("injured probability"), "{forced}");
    let json: serde_json::Value = serde_json::from_str(&predict(&noise, &["--json"])).unwrap();
    assert_eq!(json["verdict"]["status"], "abstained", "{json}");
    assert_eq!(json["verdict"]["reasons"][0]["rule"], "content", "{json}");
    assert!(json.get("probabilities").is_none(), "{json}");
    let json: serde_json::Value =
        serde_json::from_str(&predict(&noise, &["--json", "--force"])).unwrap();
    assert_eq!(json["outside_domain"], true, "{json}");
    assert!(json["probabilities"].is_array(), "{json}");
    let json: serde_json::Value = serde_json::from_str(&predict(&exam, &["--json"])).unwrap();
    assert_eq!(json["verdict"]["status"], "accepted", "{json}");
    assert!(json.get("outside_domain").is_none(), "{json}");

    // explain follows the gate too.
    let run = demo();
    let out = d.join("explained");
    let text = succeeded(&cruciate(&[
        "explain",
        "--run",
        run.to_str().unwrap(),
        noise.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        text.contains("not analysed") && text.contains("--force"),
        "{text}"
    );
    assert!(!out.exists(), "nothing explained");
}

/// The fixtures that are not sagittal knee MR series: a CT, a single MR slice, a brain NIfTI.
#[test]
fn non_knee_fixtures_are_not_analysed() {
    for (file, because) in [
        ("dicom/pydicom/test_files/CT_small.dcm", "modality CT"),
        ("dicom/pydicom/test_files/MR_small.dcm", "1 slice"),
        ("dicom/pydicom-data/MR2_UNCI.dcm", "1 slice"),
        ("nifti/nibabel/anatomical.nii", "plane (the NIfTI affine)"),
    ] {
        let Some(path) = cruciate_testkit::fixture(file) else {
            return;
        };
        assert_not_analysed(&path, because);
    }
}
