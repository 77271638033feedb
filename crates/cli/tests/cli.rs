//! The `cruciate` binary end to end: help, inspect over every fixture, export, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cruciate_testkit::{fixture, fixtures_root};

fn cruciate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(args)
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path))
        } else {
            out.push(path)
        }
    }
    out.sort();
    out
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["inspect", "--help"],
        vec!["export", "--help"],
        vec!["train", "--help"],
        vec!["predict", "--help"],
        vec!["cv", "--help"],
        vec!["explain", "--help"],
    ] {
        let o = cruciate(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn inspect_runs_over_every_dicom_and_nifti_fixture_without_panic() {
    let Some(root) = fixtures_root() else {
        eprintln!("skipped: CRUCIATE_FIXTURES is unset");
        return;
    };
    let mut read = Vec::new();
    for dir in ["dicom", "nifti"] {
        let dir = root.join(dir);
        assert!(dir.is_dir(), "fixture folder {} is missing", dir.display());
        for file in files_below(&dir) {
            let path = file.to_str().unwrap();
            let o = cruciate(&["inspect", "--json", path]);
            let err = stderr(&o);
            assert!(!err.contains("panicked"), "{path}: {err}");
            match o.status.code() {
                Some(0) => {
                    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                    assert!(report["slices"].as_u64().unwrap() >= 1, "{path}");
                    read.push(file.clone());
                }
                Some(2) => {
                    assert_eq!(err.lines().count(), 1, "{path}: not one line: {err}");
                    assert!(
                        err.starts_with("cruciate: error: ") && err.contains(path),
                        "{path}: {err}"
                    );
                }
                other => panic!("{path}: exit {other:?}: {err}"),
            }
        }
    }
    let names: Vec<String> = read
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut must = vec![
        "emri_small_jpeg_2k_lossless.dcm",
        "anatomical.nii",
        "example_nifti2.nii.gz",
    ];
    // JPEG-LS is an opt-in feature (CharLS needs cmake); CI turns it on.
    if cfg!(feature = "jpegls") {
        must.push("MR_small_jpeg_ls_lossless.dcm");
    }
    for must in must {
        assert!(names.iter().any(|n| n == must), "{must} was not read");
    }
    // 135 files without JPEG-LS; 140 with it.
    let least = if cfg!(feature = "jpegls") { 140 } else { 135 };
    assert!(
        read.len() >= least,
        "only {} fixture files were read",
        read.len()
    );
}

#[test]
fn inspect_json_has_the_documented_keys() {
    let Some(path) = fixture("nifti/nibabel/anatomical.nii") else {
        return;
    };
    let o = cruciate(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["format"], "nifti-1");
    assert_eq!(r["plane"], "axial");
    assert_eq!(
        (r["slices"].as_u64(), r["rows"].as_u64(), r["cols"].as_u64()),
        (Some(25), Some(41), Some(33))
    );
    assert_eq!(r["spacing"].as_array().unwrap().len(), 3);
    assert_eq!(
        (r["min"].as_f64(), r["max"].as_f64()),
        (Some(-610.0), Some(30393.0))
    );
}

#[test]
fn inspect_text_names_format_plane_and_shape() {
    let Some(path) = fixture("dicom/pydicom-data/emri_small.dcm") else {
        return;
    };
    let o = cruciate(&["inspect", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("format       dicom") && text.contains("10 slices x 64 rows x 64 cols"),
        "{text}"
    );
}

#[test]
fn export_writes_every_slice_and_a_montage() {
    let Some(path) = fixture("dicom/pydicom-data/emri_small.dcm") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = cruciate(&[
        "export",
        path.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--window",
        "200,400",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("slice_")).count(), 10);
    let montage = std::fs::read(out.path().join("montage.png")).unwrap();
    assert!(montage.starts_with(b"\x89PNG"));
}

#[test]
fn bad_window_and_bad_input_exit_with_2_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.dcm");
    std::fs::write(&fake, b"\x89PNG\r\n\x1a\n not really").unwrap();
    let o = cruciate(&["inspect", fake.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    let o = cruciate(&[
        "export",
        fake.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--window",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn synth_writes_a_manifest_and_exams_the_readers_take() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let o = cruciate(&[
        "synth",
        "--out",
        dir,
        "--exams",
        "4",
        "--size",
        "64",
        "--slices",
        "8..10",
        "--seed",
        "3",
        "--balance",
        "equal",
        "--format",
        "nifti",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("synthetic"),
        "phantom output must say it is synthetic"
    );
    let manifest = std::fs::read_to_string(out.path().join("manifest.csv")).unwrap();
    let rows: Vec<&str> = manifest.lines().skip(1).collect();
    assert_eq!(rows.len(), 4);
    let first = rows[0].split(',').nth(1).unwrap();
    let o = cruciate(&[
        "inspect",
        "--json",
        out.path().join(first).to_str().unwrap(),
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (r["plane"].as_str(), r["rows"].as_u64()),
        (Some("sagittal"), Some(64))
    );
    let bad = cruciate(&["synth", "--out", dir, "--slices", "9..3"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn bench_reports_every_measurement() {
    let o = cruciate(&["bench", "--slices", "1", "--repeat", "1", "--exams", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for what in [
        "MRNet forward",
        "MRNet training step",
        "VGG16 features forward",
        "synth rate",
    ] {
        assert!(text.contains(what), "{what} missing from:\n{text}");
    }
}
