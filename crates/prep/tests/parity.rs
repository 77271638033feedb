//! MRNet preprocessing against the PyTorch reference (parity/mrnet-s1): the raw uint8 exam,
//! min-max scaled to [0, 255], normalised with MRNet's mean and std, repeated to 3 channels,
//! must equal `input.npy` to a relative L2 error below 1e-4.

use cruciate_prep::{mrnet_normalize, repeat_channels};
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
    assert!(rel < 1e-4, "relative L2 error {rel}");
}
