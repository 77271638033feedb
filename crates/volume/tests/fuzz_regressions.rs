//! Inputs the fuzzers found (`fuzz/`), one test per file in `tests/data/fuzz`, each a prompt,
//! one-line error: declared lengths of up to 4 GiB (caught by the DICOM preflight walk, which
//! the parser would allocate and touch), RLE frames declaring absurd segment counts or
//! overrunning their frame (a panic inside dicom-rs's decoder, caught by the reader), and an npy
//! header of nested brackets (exponential time in npyz's header parser, refused before it).
//! Each read must finish within 10 seconds (the fuzzers' inputs took minutes or gigabytes).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use cruciate_volume::{ReadOptions, read_path};

fn refuse(name: &str, expected: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(name);
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(read_path(&path, &ReadOptions::default()).map(|v| v.shape));
    });
    let outcome = receive
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{name}: no answer within 10 s"));
    let err = outcome.expect_err(name).to_string();
    assert!(err.contains(expected), "{name}: {err}");
    assert!(!err.contains('\n'), "{name}: not one line: {err}");
}

#[test]
fn dicom_4gib_element_length() {
    refuse(
        "dicom-4gib-element-length.dcm",
        "element (0008,4115) claims 4294901759 bytes, only 398 remain",
    );
}

#[test]
fn dicom_bare_odd_item_tag() {
    refuse(
        "dicom-bare-odd-item-tag.dcm",
        "item (FFFE,800F) at byte 57 claims 4261413047 bytes",
    );
}

#[test]
fn dicom_deflated_4gib_length() {
    refuse(
        "dicom-deflated-4gib-length.dcm",
        "element (A4B8,A4A4) claims 4294967253 bytes",
    );
}

#[test]
fn dicom_invalid_vr_read_with_the_dictionary_vr() {
    refuse(
        "dicom-invalid-vr-dictionary-read.dcm",
        "element (0000,0000) claims 3009413353 bytes, only 0 remain",
    );
}

#[test]
fn dicom_odd_length_group_length() {
    refuse(
        "dicom-odd-length-group-length.dcm",
        "element (0000,0000) claims 3009413120 bytes, only 0 remain",
    );
}

#[test]
fn dicom_rle_header_huge_segment_count() {
    refuse(
        "dicom-rle-header-huge-count.dcm",
        "RLE frame declares 1448017922 segments; at most 15 are allowed",
    );
}

#[test]
fn dicom_rle_header_huge_segment_count_2() {
    refuse(
        "dicom-rle-header-huge-count-2.dcm",
        "RLE frame declares 754974723 segments; at most 15 are allowed",
    );
}

#[test]
fn dicom_rle_segment_overrunning_its_frame() {
    refuse(
        "dicom-rle-segment-overrun.dcm",
        "pixel decoder failed on malformed data",
    );
}

#[test]
fn dicom_rle_segment_overrunning_its_frame_2() {
    refuse(
        "dicom-rle-overrun-2.dcm",
        "pixel decoder failed on malformed data",
    );
}

#[test]
fn dicom_unknown_vr_4gib_length() {
    // An unknown VR is read as UN, with a 4-byte length: 4 GiB here, touched by the parser.
    refuse(
        "dicom-unknown-vr-4gib-length.dcm",
        "element (0000,0000) claims 4294770684 bytes",
    );
}

#[test]
fn npy_header_of_nested_brackets() {
    refuse("npy-nested-brackets.npy", "npy header is not a plain");
}

#[test]
fn every_input_file_has_its_test() {
    let names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    let source = include_str!("fuzz_regressions.rs");
    for name in &names {
        assert!(
            source.contains(&format!("\"{name}\"")),
            "{name} has no test in fuzz_regressions.rs"
        );
    }
    assert_eq!(names.len(), 11);
}
