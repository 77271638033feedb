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

/// What `inspect` does with each fixture file: `tests/data/fixture_outcomes.tsv`.
fn expected_outcomes() -> std::collections::BTreeMap<String, String> {
    include_str!("data/fixture_outcomes.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (path, outcome) = l.split_once('\t').expect("path TAB outcome");
            (path.to_string(), outcome.to_string())
        })
        .collect()
}

#[test]
fn inspect_reads_or_refuses_each_fixture_as_its_table_says() {
    let Some(root) = fixtures_root() else {
        eprintln!("skipped: CRUCIATE_FIXTURES is unset");
        return;
    };
    let expected = expected_outcomes();
    let mut seen = Vec::new();
    for dir in ["dicom", "nifti"] {
        let dir = root.join(dir);
        assert!(dir.is_dir(), "fixture folder {} is missing", dir.display());
        for file in files_below(&dir) {
            let relative = file
                .strip_prefix(&root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let path = file.to_str().unwrap();
            let outcome = expected
                .get(&relative)
                .unwrap_or_else(|| panic!("{relative} is not in fixture_outcomes.tsv"));
            seen.push(relative.clone());
            let o = cruciate(&["inspect", "--json", path]);
            let err = stderr(&o);
            assert!(!err.contains("internal error"), "{relative}: {err}");
            let read_expected =
                outcome.starts_with("read ") || (outcome == "jpeg-ls" && cfg!(feature = "jpegls"));
            if read_expected {
                assert_eq!(o.status.code(), Some(0), "{relative}: {err}");
                let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                let shape = format!("read {}x{}x{}", r["slices"], r["rows"], r["cols"]);
                if outcome != "jpeg-ls" {
                    assert_eq!(&shape, outcome, "{relative}");
                }
                continue;
            }
            assert_eq!(o.status.code(), Some(2), "{relative}: expected {outcome}");
            assert_eq!(err.lines().count(), 1, "{relative}: not one line: {err}");
            let reason = if outcome == "jpeg-ls" {
                "unsupported transfer syntax JPEG-LS"
            } else {
                outcome
                    .strip_prefix("refused ")
                    .expect("read, refused or jpeg-ls")
            };
            assert!(
                err.starts_with(&format!("cruciate: error: {path}: {reason}")),
                "{relative}: expected \"{reason}\", got {err}"
            );
        }
    }
    let missing: Vec<&String> = expected.keys().filter(|k| !seen.contains(k)).collect();
    assert!(missing.is_empty(), "listed but not found: {missing:?}");
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

/// One synthetic exam in `dir`, for tests that need a real exam whatever the fixtures.
fn phantom_exam(dir: &Path) -> PathBuf {
    let o = cruciate(&[
        "synth",
        "--out",
        dir.to_str().unwrap(),
        "--exams",
        "1",
        "--size",
        "32",
        "--slices",
        "6..6",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("exams/sagittal/00000.npy")
}

#[test]
fn bad_flags_and_bad_input_exit_with_2_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let exam = phantom_exam(dir.path());
    let exam = exam.to_str().unwrap();
    let out = dir.path().join("png");
    let out = out.to_str().unwrap();
    // A readable exam: only the flag is wrong, and the message names it.
    for (flag, value, says) in [
        ("--window", "x", "CENTRE,WIDTH"),
        ("--window", "40,-3", "positive"),
        ("--slices", "4..2", "--slices"),
        ("--slices", "2..9", "6 slices"),
    ] {
        let o = cruciate(&["export", exam, "--out", out, flag, value]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {e}");
        assert_eq!(e.lines().count(), 1, "{flag} {value}: {e}");
        assert!(e.starts_with("cruciate: error: "), "{e}");
        assert!(e.contains(flag) || e.contains(says), "{flag} {value}: {e}");
        assert!(e.contains(says), "{flag} {value}: {e}");
    }
    let o = cruciate(&["export", exam, "--out", out, "--slices", "1..3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut written: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, ["montage.png", "slice_001.png", "slice_002.png"]);

    let fake = dir.path().join("fake.dcm");
    std::fs::write(&fake, b"\x89PNG\r\n\x1a\n not really").unwrap();
    let o = cruciate(&["inspect", fake.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("named .dcm but holds a PNG picture"), "{e}");
    // An unknown flag is one line too (clap's own message spans several).
    let o = cruciate(&["inspect", exam, "--jsn"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("--jsn"), "{e}");
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
fn bench_times_whole_exams_on_zips_another_pipeline_can_time_too() {
    let dir = tempfile::tempdir().unwrap();
    let zips = dir.path().join("zips");
    let demo = cruciate_testkit::workspace_root().join("crates/server/demo");
    let bench = |exams: &str| {
        let o = cruciate(&[
            "bench",
            "--exam",
            "--run",
            demo.to_str().unwrap(),
            "--exams",
            exams,
            "--zips",
            zips.to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let lines = bench("2");
    assert_eq!(lines[0]["side"], "cruciate");
    assert_eq!(lines[0]["exams"], 2);
    assert_eq!(lines.len(), 2, "one row per run: {lines:?}");
    let row = &lines[1];
    assert_eq!(
        (row["kind"].as_str(), row["exams"].as_u64()),
        (Some("network"), Some(2))
    );
    assert!(row["median_s"].as_f64().is_some_and(|s| s > 0.0), "{row}");
    // The zips stay for the Python pipeline; a second run times the same ones.
    let made: Vec<_> = std::fs::read_dir(&zips).unwrap().collect();
    assert_eq!(made.len(), 2);
    assert_eq!(
        bench("5")[0]["exams"],
        2,
        "the zips there are timed, none made"
    );
    // Without a run there is nothing to time: refused by the flags.
    let o = cruciate(&["bench", "--exam"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn bench_reports_every_measurement() {
    let o = cruciate(&[
        "bench", "--slices", "1", "--repeat", "1", "--exams", "1", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let header = &lines[0];
    assert_eq!(header["side"], "cruciate");
    assert!(header["cpu"].as_str().is_some_and(|c| !c.is_empty()));
    let engines: Vec<&str> = if cruciate_engine::dnnl::available() {
        vec!["flex f32", "dnnl f32", "dnnl bf16"]
    } else {
        vec!["flex f32"]
    };
    // Every workload on every engine, each with a positive time, and the convolution
    // workloads with a work rate.
    for (workload, rated) in [
        ("MRNet forward, 1 x 256x256", true),
        ("MRNet training step (Adam), 1 slices", true),
        ("VGG16 forward, 8 x 224x224", true),
        ("features of an exam (VGG16, 8 x 224x224)", false),
        ("service: upload to result (demo model)", false),
    ] {
        for engine in &engines {
            let row = lines
                .iter()
                .find(|r| r["workload"] == workload && r["variant"] == *engine)
                .unwrap_or_else(|| panic!("{workload} on {engine} missing from:\n{text}"));
            assert!(
                row["median_ms"].as_f64().is_some_and(|ms| ms > 0.0),
                "{row}"
            );
            assert_eq!(row["gflop_per_s"].as_f64().is_some(), rated, "{row}");
        }
    }
    // The input gate's cost per exam, once (it runs on no engine).
    for workload in [
        "input gate: rules, 32 x 256x256",
        "drift signals, 32 x 256x256",
        "input gate: domain score, 1000 x 256",
    ] {
        let row = lines
            .iter()
            .find(|r| r["workload"] == workload)
            .unwrap_or_else(|| panic!("{workload} missing from:\n{text}"));
        assert!(
            row["median_ms"].as_f64().is_some_and(|ms| ms > 0.0),
            "{row}"
        );
    }
    for less in ["8 central slices", "ACL region"] {
        assert!(
            lines
                .iter()
                .any(|r| r["workload"].as_str().is_some_and(|w| w.contains(less))),
            "less work: {less} missing from:\n{text}"
        );
    }
    // What the build or the engine cannot do is refused in one line.
    let flags = cruciate(&["bench", "--engine", "flex", "--precision", "bf16"]);
    assert_eq!(flags.status.code(), Some(2), "{}", stderr(&flags));
    assert!(stderr(&flags).contains("f32 only"), "{}", stderr(&flags));
    // A GPU this build cannot reach, by flag or by CRUCIATE_DEVICE: one line, status 2.
    let gpu = cruciate(&["--device", "vulkan:0", "bench"]);
    assert_eq!(gpu.status.code(), Some(2), "{}", stderr(&gpu));
    assert_eq!(stderr(&gpu).trim().lines().count(), 1, "{}", stderr(&gpu));
    assert!(
        stderr(&gpu).contains("--features vulkan"),
        "{}",
        stderr(&gpu)
    );
    let by_env = std::process::Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(["synth", "--out", "/nonexistent/never-written"])
        .env("CRUCIATE_DEVICE", "gpu")
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(2));
    assert!(
        stderr(&by_env).contains("unknown device \"gpu\""),
        "{}",
        stderr(&by_env)
    );
}

#[test]
fn inspect_series_reads_the_series_asked_for() {
    // Three one-slice series in one folder (pydicom's dicomdirtests); pydicom's pixel sums:
    // .475 -> 140730, .134 -> 183241, .15 -> 156143.
    let Some(folder) = fixture("dicom/pydicom/test_files/dicomdirtests/98892003/MR1") else {
        return;
    };
    let folder = folder.to_str().unwrap();
    let sum_of = |series: Option<&str>| {
        let mut args = vec!["inspect", "--json", folder];
        if let Some(uid) = series {
            args.extend(["--series", uid]);
        }
        let o = cruciate(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (r["mean"].as_f64().unwrap() * 256.0).round()
    };
    let uid = "1.3.6.1.4.1.5962.1.1.0.0.0.1196533885.18148.0";
    assert_eq!(sum_of(None), 140730.0, "the first series by default");
    assert_eq!(sum_of(Some(&format!("{uid}.134"))), 183241.0);
    assert_eq!(sum_of(Some(&format!("{uid}.15"))), 156143.0);
    let o = cruciate(&["inspect", folder, "--series", "1.2.3"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("1.2.3"), "{e}");
}
