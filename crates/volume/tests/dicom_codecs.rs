//! One test per transfer syntax: every twin of MR_small (pydicom) and emri_small
//! (pydicom-data) decodes to the pixels of its uncompressed original, lossless ones exactly.

use cruciate_testkit::fixture;
use cruciate_volume::{ReadOptions, Volume, read_path};

fn read(relative: &str) -> Option<Volume> {
    let path = fixture(relative)?;
    Some(read_path(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

fn assert_same_pixels(original: &str, twin: &str) {
    let (Some(a), Some(b)) = (read(original), read(twin)) else {
        return;
    };
    assert_eq!(a.shape, b.shape, "{twin}: shape");
    assert_eq!(a.data, b.data, "{twin}: pixels differ from {original}");
    assert_eq!(a.spacing, b.spacing, "{twin}: spacing");
}

const MR: &str = "dicom/pydicom/test_files/MR_small.dcm";
const EMRI: &str = "dicom/pydicom-data/emri_small.dcm";

#[test]
fn mr_small_is_64_by_64_with_known_range() {
    let Some(v) = read(MR) else { return };
    assert_eq!(v.shape, [1, 64, 64]);
    let (lo, hi) = v
        .data
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    assert_eq!(
        (lo, hi),
        (127.0, 2145.0),
        "pydicom: MR_small pixel_array min/max"
    );
    assert_eq!(v.meta.modality.as_deref(), Some("MR"));
}

#[test]
fn implicit_vr_little_endian() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_implicit.dcm");
}

#[test]
fn explicit_vr_big_endian() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_bigendian.dcm");
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_expb.dcm");
    assert_same_pixels(EMRI, "dicom/pydicom-data/emri_small_big_endian.dcm");
}

#[test]
fn padded_file() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_padded.dcm");
}

#[test]
fn rle_lossless() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_RLE.dcm");
    assert_same_pixels(EMRI, "dicom/pydicom-data/emri_small_RLE.dcm");
}

#[cfg(feature = "jpegls")]
#[test]
fn jpeg_ls_lossless() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_jpeg_ls_lossless.dcm");
    assert_same_pixels(EMRI, "dicom/pydicom-data/emri_small_jpeg_ls_lossless.dcm");
}

/// Every JPEG-LS file of the fixtures, near-lossless and lossy included, reads into an image of
/// its header's frames, rows and columns (as dcmdump reads them) that is not flat (the CLI's
/// fixture sweep, `crates/cli/tests/cli.rs`, checks that a build without the feature refuses
/// each by name).
#[cfg(feature = "jpegls")]
#[test]
fn every_jpeg_ls_fixture_reads() {
    for (relative, shape) in [
        ("pydicom-data/emri_small_jpeg_ls_lossless.dcm", [10, 64, 64]),
        ("pydicom/test_files/JPEGLSNearLossless_08.dcm", [1, 45, 10]),
        ("pydicom/test_files/JPEGLSNearLossless_16.dcm", [1, 50, 10]),
        (
            "pydicom/test_files/MR_small_jpeg_ls_lossless.dcm",
            [1, 64, 64],
        ),
        (
            "pydicom/test_files/SC_rgb_jls_lossy_line.dcm",
            [1, 100, 100],
        ),
        (
            "pydicom/test_files/SC_rgb_jls_lossy_sample.dcm",
            [1, 100, 100],
        ),
    ] {
        let relative = format!("dicom/{relative}");
        let Some(v) = read(&relative) else { return };
        assert_eq!(v.shape, shape, "{relative}");
        assert!(v.data.iter().any(|&x| x != v.data[0]), "{relative}: flat");
    }
}

#[cfg(feature = "jpeg2000")]
#[test]
fn jpeg_2000_lossless() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/MR_small_jp2klossless.dcm");
    assert_same_pixels(EMRI, "dicom/pydicom-data/emri_small_jpeg_2k_lossless.dcm");
    assert_same_pixels(
        "dicom/pydicom-data/MR2_UNCR.dcm",
        "dicom/pydicom-data/MR2_J2KR.dcm",
    );
}

#[cfg(feature = "jpeg2000")]
#[test]
fn jpeg_2000_lossy_decodes_as_the_reference_decoder_did() {
    // MR2_UNCI holds the pixels a reference decoder got from the lossy MR2_J2KI stream: ours
    // must give exactly those (a relative error of 0 was measured, and is pinned).
    assert_eq!(
        lossy_error(
            "dicom/pydicom-data/MR2_UNCI.dcm",
            "dicom/pydicom-data/MR2_J2KI.dcm"
        ),
        fixture("dicom/pydicom-data/MR2_J2KI.dcm").map(|_| 0.0)
    );
}

#[test]
fn jpeg_lossless_process_14() {
    // The same RGB picture, uncompressed and JPEG lossless (gdcm), then turned grey alike.
    assert_same_pixels(
        "dicom/pydicom-data/SC_rgb.dcm",
        "dicom/pydicom/test_files/SC_rgb_jpeg_gdcm.dcm",
    );
    let Some(v) = read("dicom/pydicom-data/JPEG-LL.dcm") else {
        return;
    };
    assert_eq!(v.shape, [1, 1024, 256]);
    assert!(
        v.data.iter().any(|&x| x != v.data[0]),
        "decoded image is flat"
    );
}

#[test]
fn rle_colour_matches_uncompressed_colour() {
    assert_same_pixels(
        "dicom/pydicom-data/SC_rgb.dcm",
        "dicom/pydicom/test_files/SC_rgb_rle.dcm",
    );
    assert_same_pixels(
        "dicom/pydicom-data/SC_rgb_2frame.dcm",
        "dicom/pydicom/test_files/SC_rgb_rle_2frame.dcm",
    );
}

#[test]
fn jpeg_baseline_colour_becomes_grey() {
    let Some(v) = read("dicom/pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm") else {
        return;
    };
    assert_eq!(v.shape, [1, 100, 100]);
    assert!(
        v.meta.notes.iter().any(|n| n.contains("converted to grey")),
        "{:?}",
        v.meta.notes
    );
}

#[test]
fn deflated_explicit_little_endian() {
    let Some(v) = read("dicom/pydicom/test_files/image_dfl.dcm") else {
        return;
    };
    assert_eq!(v.shape, [1, 512, 512]);
    // pydicom 3.0 decodes the same file to these (pixel_array as float64): sum, sum of
    // squares, extremes and three pixels.
    let sum: f64 = v.data.iter().map(|&x| x as f64).sum();
    let squares: f64 = v.data.iter().map(|&x| (x as f64).powi(2)).sum();
    assert_eq!((sum, squares), (33_322_688.0, 5_509_801_660.0));
    let at = |r: usize, c: usize| v.data[r * 512 + c];
    assert_eq!((at(0, 0), at(256, 256), at(100, 400)), (213.0, 65.0, 70.0));
}

/// Relative L2 error of `twin`'s pixels against `original`'s.
fn lossy_error(original: &str, twin: &str) -> Option<f64> {
    let (a, b) = (read(original)?, read(twin)?);
    assert_eq!(a.shape, b.shape, "{twin}: shape");
    let diff: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum();
    let norm: f64 = a.data.iter().map(|x| (*x as f64).powi(2)).sum();
    Some((diff / norm).sqrt())
}

#[test]
fn jpeg_baseline_stays_close_to_its_uncompressed_twin() {
    // dcmtk's baseline JPEG of SC_rgb, both turned grey alike: the error measured here, pinned.
    let Some(e) = lossy_error(
        "dicom/pydicom-data/SC_rgb.dcm",
        "dicom/pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm",
    ) else {
        return;
    };
    assert!(
        (e - JPEG_BASELINE_ERROR).abs() < 1e-6,
        "relative error {e:.9}"
    );
}

/// The relative L2 error of SC_rgb_jpeg_dcmtk.dcm against SC_rgb.dcm, as measured.
const JPEG_BASELINE_ERROR: f64 = 0.003_300_699;

#[test]
fn multi_frame_file_gives_one_slice_per_frame() {
    let Some(v) = read(EMRI) else { return };
    assert_eq!(v.shape, [10, 64, 64]);
    assert_eq!(v.meta.modality.as_deref(), Some("MR"));
    assert_eq!(v.spacing[0], 1.2, "SpacingBetweenSlices of emri_small");
}

#[test]
fn gzipped_dicom_file_is_opened() {
    assert_same_pixels(MR, "dicom/pydicom/test_files/zipMR.gz");
}

#[test]
fn rescale_slope_and_intercept_are_applied() {
    // CT_small: RescaleSlope 1, RescaleIntercept -1024 (pydicom); stored min 128.
    let Some(v) = read("dicom/pydicom/test_files/CT_small.dcm") else {
        return;
    };
    let lo = v.data.iter().copied().fold(f32::MAX, f32::min);
    assert_eq!(lo, 128.0 - 1024.0);
}
