//! Test support: finding the shared fixture files.
//!
//! Tests that need a fixture call [`fixture`]; it returns `None` (the test skips, and says
//! so on stderr) only when `CRUCIATE_FIXTURES` is unset, and panics (the test fails) when the
//! variable is set and the file is missing.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture folder named by `CRUCIATE_FIXTURES`, resolved against the workspace root when
/// relative; `None` when the variable is unset.
pub fn fixtures_root() -> Option<PathBuf> {
    let value = std::env::var_os("CRUCIATE_FIXTURES")?;
    let path = PathBuf::from(value);
    Some(if path.is_absolute() {
        path
    } else {
        workspace_root().join(path)
    })
}

/// The path in environment variable `name` (relative paths from the workspace root), for tests
/// that read a file the user provides outside the fixtures; `None` when the variable is unset.
pub fn path_from_env(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(name)?);
    Some(if path.is_absolute() {
        path
    } else {
        workspace_root().join(path)
    })
}

/// The fixture at `relative` below the fixture folder.
///
/// # Panics
/// When `CRUCIATE_FIXTURES` is set and the file is missing: the test must fail, not skip.
pub fn fixture(relative: &str) -> Option<PathBuf> {
    let Some(root) = fixtures_root() else {
        eprintln!("skipped: CRUCIATE_FIXTURES is unset (needs {relative})");
        return None;
    };
    let path = root.join(relative);
    assert!(
        path.exists(),
        "fixture {} is missing (CRUCIATE_FIXTURES={})",
        path.display(),
        root.display()
    );
    Some(path)
}

/// Relative L2 error `|a - b| / |b|` of `ours` against a reference, in f64.
///
/// # Panics
/// When the lengths differ.
pub fn relative_l2(ours: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(
        ours.len(),
        reference.len(),
        "compared arrays differ in length"
    );
    let diff: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = reference
        .iter()
        .map(|b| (*b as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    diff / norm.max(1e-30)
}

/// A float32 or float64 `.npy` file as its shape and f32 values.
///
/// # Panics
/// When the file cannot be read or holds another dtype (a broken fixture fails the test).
/// int64 arrays (indices) and uint8 arrays (images) are read too.
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    let data = match npy.dtype().descr().trim_matches('\'') {
        "<f8" => npy
            .into_vec::<f64>()
            .unwrap()
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "<f4" => npy.into_vec::<f32>().unwrap(),
        // Bytes (images), exact as f32.
        "|u1" => npy
            .into_vec::<u8>()
            .unwrap()
            .into_iter()
            .map(f32::from)
            .collect(),
        // Index arrays (argmax results), exact as f32 below 2^24.
        "<i8" => npy
            .into_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        other => panic!(
            "{}: dtype {other} is not float32, float64 or int64",
            path.display()
        ),
    };
    (shape, data)
}

/// A DICOM file whose data set nests `depth` sequences of undefined length, each in an item.
pub fn deeply_nested_dicom(depth: usize) -> Vec<u8> {
    let element = |group: u16, el: u16, vr: &[u8; 2], value: &[u8]| {
        let mut e = group.to_le_bytes().to_vec();
        e.extend_from_slice(&el.to_le_bytes());
        e.extend_from_slice(vr);
        if vr == b"OB" {
            e.extend_from_slice(&[0, 0]);
            e.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            e.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        e.extend_from_slice(value);
        e
    };
    let mut meta = element(2, 1, b"OB", &[0, 1]);
    meta.extend(element(2, 2, b"UI", b"1.2.840.10008.5.1.4.1.1.4\0"));
    meta.extend(element(2, 3, b"UI", b"1.2.3.4\0"));
    meta.extend(element(2, 0x10, b"UI", b"1.2.840.10008.1.2.1\0"));
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    bytes.extend(element(2, 0, b"UL", &(meta.len() as u32).to_le_bytes()));
    bytes.extend(meta);
    let level: Vec<u8> = [
        &[
            0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ][..],
        &[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF][..],
    ]
    .concat();
    for _ in 0..depth {
        bytes.extend_from_slice(&level);
    }
    bytes
}

/// A program from a Debian package the tests drive (dcmtk, dicom3tools, Orthanc): its path, or
/// `None` when it is missing on a machine without the fixtures.
///
/// # Panics
/// When `CRUCIATE_FIXTURES` is set and the program is missing: `.ci/run` installs it, so the
/// test must fail, not skip.
pub fn system_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|p| p.into_string().ok())
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CRUCIATE_FIXTURES").is_none(),
            "{name} is missing: .ci/run installs it"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

/// The `Error` lines dicom3tools' `dciodvfy` prints for `file` (`None` when it is not
/// installed and may be missing).
pub fn dciodvfy_errors(file: &Path) -> Option<Vec<String>> {
    let program = system_tool("dciodvfy")?;
    let out = std::process::Command::new(program)
        .arg(file)
        .output()
        .expect("dciodvfy runs");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| l.starts_with("Error"))
            .map(str::to_string)
            .collect(),
    )
}

/// The Python with the independent checkers, pinned in `.ci/run`: the FHIR validator (the
/// `fhir.resources` R4 models) and highdicom (DICOM Segmentations): `target/fhir-python`, as
/// `.ci/run` makes it.
pub const FHIR_PYTHON: &str = "target/fhir-python/bin/python";

/// The checkers' Python ([`FHIR_PYTHON`]), for the checker `what`; `None` (the test skips)
/// when it is not set up and `CRUCIATE_FIXTURES` is unset; with it set, a missing one fails
/// the test.
fn checkers_python(what: &str) -> Option<PathBuf> {
    let python = workspace_root().join(FHIR_PYTHON);
    if !python.is_file() {
        assert!(
            std::env::var_os("CRUCIATE_FIXTURES").is_none(),
            "{} is missing: .ci/run makes it (python3 -m venv, pip install)",
            python.display()
        );
        eprintln!("skipped: {what} is not set up");
        return None;
    }
    Some(python)
}

/// What the independent FHIR R4 validator says of `json`, a DiagnosticReport: empty when it
/// is valid, else its lines. `None` (the test skips) when the validator is not set up and
/// `CRUCIATE_FIXTURES` is unset; with it set, a missing validator fails the test.
pub fn fhir_report_errors(json: &[u8]) -> Option<Vec<String>> {
    let python = checkers_python("the FHIR validator")?;
    let script = "import sys, json\n\
from fhir.resources.diagnosticreport import DiagnosticReport\n\
try:\n    DiagnosticReport.parse_obj(json.load(sys.stdin))\n\
except Exception as e:\n    print(e)\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the FHIR validator starts");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), json).unwrap();
    let out = child.wait_with_output().expect("the FHIR validator runs");
    assert!(out.status.success(), "the FHIR validator failed to run");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// What highdicom (an independent reader of DICOM Segmentations, in the same venv as the FHIR
/// validator) reads of the Segmentation at `path`: one JSON line with its `type` (BINARY or
/// FRACTIONAL), its `segments`' labels, its `sources` (study, series and instance UIDs of each
/// source image), its `frames`, and the `sum` and `max` of its pixels as highdicom decodes
/// them. `Err` with highdicom's words when it refuses the object; `None` (the test skips) as
/// for [`fhir_report_errors`].
pub fn segmentation_read_back(path: &Path) -> Option<Result<String, String>> {
    let python = checkers_python("highdicom")?;
    let script = "import sys, json\n\
import highdicom as hd\n\
seg = hd.seg.segread(sys.argv[1])\n\
pixels = seg.pixel_array\n\
print(json.dumps({'type': seg.segmentation_type.value,\n\
  'segments': [seg.get_segment_description(n).segment_label for n in seg.segment_numbers],\n\
  'sources': [list(s) for s in seg.get_source_image_uids()],\n\
  'frames': int(seg.NumberOfFrames), 'sum': int(pixels.astype('int64').sum()),\n\
  'max': int(pixels.max())}))\n";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("highdicom starts");
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Some(if out.status.success() {
        Ok(said)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    })
}

/// `count` values of white noise (a fixed linear congruential sequence from `seed`, its high
/// bits): neighbouring values are uncorrelated, as no image's voxels are.
pub fn noise(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32
        })
        .collect()
}
