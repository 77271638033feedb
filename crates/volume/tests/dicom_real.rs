//! Real DICOM from the fixtures, against what pydicom 3.0 reads from the same files: multi-file
//! series ordered along the slice normal with their plane, spacing and rescaled values,
//! MONOCHROME1 rescaled and inverted, and a transfer syntax no decoder here handles refused by name.

use cruciate_testkit::fixture;
use cruciate_volume::{Plane, ReadOptions, Volume, read_path};

fn read(relative: &str) -> Option<Volume> {
    let path = fixture(relative)?;
    Some(read_path(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// Per-slice sums of the rescaled values, slice by slice.
fn slice_sums(v: &Volume) -> Vec<f64> {
    v.data
        .chunks_exact(v.rows() * v.cols())
        .map(|s| s.iter().map(|&x| x as f64).sum())
        .collect()
}

#[test]
fn a_multi_file_ct_series_is_stacked_along_its_normal() {
    // pydicom: five files sorted by ImagePositionPatient along the normal (0, 0, 1), values
    // pixel_array * RescaleSlope + RescaleIntercept, PixelSpacing 0.488281, thickness 2.5.
    let Some(v) = read("dicom/pydicom/test_files/dicomdirtests/98892001/CT5N") else {
        return;
    };
    assert_eq!(v.shape, [5, 16, 16]);
    assert_eq!(v.plane, Plane::Axial);
    assert!((v.spacing[1] - 0.488281).abs() < 1e-6 && (v.spacing[2] - 0.488281).abs() < 1e-6);
    assert!((v.spacing[0] - 2.5).abs() < 1e-6, "{:?}", v.spacing);
    let pydicom = [-17594.0, -9701.0, -10964.0, -48364.0, -90697.0];
    let ours = slice_sums(&v);
    let reversed: Vec<f64> = pydicom.iter().rev().copied().collect();
    assert!(
        ours == pydicom || ours == reversed,
        "slices out of order: {ours:?} vs pydicom {pydicom:?}"
    );
    assert!(
        v.meta
            .notes
            .iter()
            .any(|n| n.contains("no sagittal series"))
    );
}

#[test]
fn a_second_multi_file_series_orders_the_same_way() {
    let Some(v) = read("dicom/pydicom/test_files/dicomdirtests/77654033/CT2") else {
        return;
    };
    assert_eq!(v.shape, [4, 16, 16]);
    assert!((v.spacing[0] - 1.25).abs() < 1e-6, "{:?}", v.spacing);
    let pydicom = [-158395.0, 140192.0, 360990.0, 228448.0];
    let ours = slice_sums(&v);
    let reversed: Vec<f64> = pydicom.iter().rev().copied().collect();
    assert!(ours == pydicom || ours == reversed, "{ours:?}");
}

#[test]
fn monochrome1_is_rescaled_then_inverted_within_its_range() {
    // pydicom: stored values min 1994, max 2802, sum 646091, (0,0) = 1994, (8,8) = 2515;
    // RescaleSlope 0.684, RescaleIntercept 200. Rescaled, then inverted as lo + hi - v.
    let Some(v) = read("dicom/pydicom/test_files/dicomdirtests/77654033/CR1/6154") else {
        return;
    };
    assert_eq!(v.shape, [1, 16, 16]);
    let rescale = |x: f64| 0.684 * x + 200.0;
    let (lo, hi) = (rescale(1994.0), rescale(2802.0));
    let sum = 256.0 * (lo + hi) - (0.684 * 646_091.0 + 200.0 * 256.0);
    let close = |a: f64, b: f64, tol: f64| assert!((a - b).abs() < tol, "{a} vs {b}");
    close(slice_sums(&v)[0], sum, 0.1);
    close(v.data[0] as f64, lo + hi - rescale(1994.0), 1e-3);
    close(v.data[8 * 16 + 8] as f64, lo + hi - rescale(2515.0), 1e-3);
    assert!(v.meta.notes.iter().any(|n| n.contains("MONOCHROME1")));
}

#[test]
fn an_unsupported_transfer_syntax_is_refused_by_name() {
    let Some(path) = fixture("dicom/pydicom/test_files/MR_small.dcm") else {
        return;
    };
    // MR_small's TransferSyntaxUID (0002,0010) is explicit VR little endian, 20 bytes with its
    // padding; MPEG2 Main Profile @ Main Level is 24 with padding: patch the value, its length and
    // the meta group's length.
    let mut bytes = std::fs::read(&path).unwrap();
    let old = b"1.2.840.10008.1.2.1\0";
    let new = b"1.2.840.10008.1.2.4.100\0";
    let tag = [0x02, 0x00, 0x10, 0x00, b'U', b'I'];
    let at = bytes
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("TransferSyntaxUID");
    assert_eq!(&bytes[at + 8..at + 8 + old.len()], old);
    bytes[at + 6..at + 8].copy_from_slice(&(new.len() as u16).to_le_bytes());
    bytes.splice(at + 8..at + 8 + old.len(), new.iter().copied());
    // (0002,0000) UL group length, right after the preamble and magic.
    let group = 132 + 8;
    let length = u32::from_le_bytes(bytes[group..group + 4].try_into().unwrap());
    bytes[group..group + 4].copy_from_slice(&(length + 4).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let patched = dir.path().join("mpeg2.dcm");
    std::fs::write(&patched, bytes).unwrap();
    let e = read_path(&patched, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unsupported transfer syntax") && e.contains("1.2.840.10008.1.2.4.100"),
        "{e}"
    );
    assert!(e.contains("MPEG2"), "named: {e}");
}
