//! MRNet preprocessing against the PyTorch reference (parity/mrnet-s1): the raw uint8 exam,
//! min-max scaled to [0, 255], normalised with MRNet's mean and std, repeated to 3 channels,
//! must equal `input.npy` to a relative L2 error below 1e-4.

use cruciate_prep::{mrnet_normalize, repeat_channels};
use cruciate_testkit::fixture;
use cruciate_volume::{ReadOptions, read_path};

fn load_f32(path: &std::path::Path) -> (Vec<u64>, Vec<f32>) {
    let file = npyz::NpyFile::new(std::fs::File::open(path).unwrap()).unwrap();
    let shape = file.shape().to_vec();
    let data = match file.dtype().descr().as_str() {
        "<f8" => file
            .into_vec::<f64>()
            .unwrap()
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        _ => file.into_vec::<f32>().unwrap(),
    };
    (shape, data)
}

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
    let (shape, theirs) = load_f32(&reference);
    assert_eq!(shape, vec![volume.slices() as u64, 3, 256, 256]);
    let diff: f64 = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = theirs
        .iter()
        .map(|b| (*b as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(diff / norm < 1e-4, "relative L2 error {}", diff / norm);
}
