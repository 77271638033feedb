//! Inputs the fuzzers found (`fuzz/`), kept so that each stays a prompt, one-line error:
//! 4 GiB element lengths (caught by the DICOM preflight walk, which the parser would allocate
//! and touch), an RLE segment that overruns
//! its frame (a panic inside dicom-rs's decoder, caught by the reader), and an npy header of
//! nested brackets (exponential time in npyz's header parser, refused before it).

use std::path::Path;

use cruciate_volume::{ReadOptions, read_path};

fn refuse(name: &str, expected: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(name);
    let err = read_path(&path, &ReadOptions::default())
        .expect_err(name)
        .to_string();
    assert!(err.contains(expected), "{name}: {err}");
    assert!(!err.contains('\n'));
}

#[test]
fn huge_declared_element_length() {
    refuse("dicom-4gib-element-length.dcm", "claims");
    // An unknown VR is read as UN, with a 4-byte length: 4 GiB here, touched by the parser.
    refuse(
        "dicom-unknown-vr-4gib-length.dcm",
        "element (0000,0000) claims 4294770684 bytes",
    );
}

#[test]
fn rle_segment_overrunning_its_frame() {
    refuse(
        "dicom-rle-segment-overrun.dcm",
        "pixel decoder failed on malformed data",
    );
    refuse(
        "dicom-rle-overrun-2.dcm",
        "pixel decoder failed on malformed data",
    );
}

#[test]
fn npy_header_of_nested_brackets() {
    refuse("npy-nested-brackets.npy", "npy header is not a plain");
}
