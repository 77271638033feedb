//! Preprocessing against independent references on the parity fixture's raw exam
//! (parity/mrnet-s1/volume_u8.npy): MRNet's normalisation against the PyTorch pipeline's
//! `input.npy`, and the whole network input of training and inference (`prepare_input`:
//! central slices, resizing, min-max to bytes) against a Pillow/numpy pipeline
//! (`mrnet_input_reference.py`).

use cruciate_prep::{InputConfig, mrnet_normalize, prepare_input, repeat_channels};
use cruciate_testkit::fixture;
use cruciate_volume::{ReadOptions, read_path};

#[test]
fn parity_mrnet_preprocessing_matches_pytorch() {
    let (Some(raw), Some(reference)) = (
        fixture("parity/mrnet-s1/volume_u8.npy"),
        fixture("parity/mrnet-s1/input.npy"),
    ) else {
        return;
    };
    let volume = read_path(&raw, &ReadOptions::default()).unwrap();
    let ours = repeat_channels(&mrnet_normalize(&volume.data), volume.slices(), 3);
    let (shape, theirs) = cruciate_testkit::read_npy_f32(&reference);
    assert_eq!(shape, vec![volume.slices(), 3, 256, 256]);
    let rel = cruciate_testkit::relative_l2(&ours, &theirs);
    assert!(rel < 1e-6, "relative L2 error {rel}");
}

#[test]
fn parity_network_input_matches_a_pillow_pipeline() {
    let Some(raw) = fixture("parity/mrnet-s1/volume_u8.npy") else {
        return;
    };
    let volume = read_path(&raw, &ReadOptions::default()).unwrap();
    let config = InputConfig {
        slices: 8,
        size: 128,
        ..InputConfig::default()
    };
    let input = prepare_input(&volume, &config).unwrap();
    assert_eq!(input.shape, [8, 128, 128]);
    assert_eq!(input.geometry.first_slice(), 1);
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/mrnet_input_8x128.npy"
    );
    let (shape, theirs) = cruciate_testkit::read_npy_f32(std::path::Path::new(reference));
    assert_eq!(shape, vec![8, 128, 128]);
    let ours = input.intensities();
    let off: Vec<f32> = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let worst = off.iter().copied().fold(0.0f32, f32::max);
    let differing = off.iter().filter(|&&d| d > 0.0).count();
    // Measured: every byte equal.
    assert_eq!(
        (differing, worst),
        (0, 0.0),
        "{differing} bytes differ, by up to {worst}"
    );
}
