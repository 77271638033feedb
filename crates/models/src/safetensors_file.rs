//! Backbone weights written as a torchvision-layout `.safetensors` file, with what the weights
//! expect of their input recorded in the file's own metadata, and that metadata read back.
//!
//! The file is written here (the format is an 8-byte header length, a JSON header, raw
//! little-endian data) rather than through the `safetensors` crate so that the bytes are fully
//! determined by the weights and the metadata, in sorted key order: the converted file of a
//! known input has one SHA-256 that the importer checks.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;

use burn::prelude::*;
use cruciate_prep::PixelScale;

use crate::backbone::Vgg;
use crate::weights::WeightsError;

/// The metadata key that holds the pixel scaling the weights expect
/// ([`PixelScale`] name).
pub const PIXEL_SCALE_KEY: &str = "cruciate.pixel_scale";

/// The largest safetensors header read (the header of VGG19 with batch norm is ~10 kB).
const MAX_HEADER: u64 = 1 << 24;

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

/// Writes `vgg`'s convolutions (a plain VGG) under torchvision's `features.N.weight` /
/// `features.N.bias` names to `path`, with `metadata`, atomically.
pub fn write_torchvision_vgg(
    vgg: &Vgg,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<(), WeightsError> {
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    for (conv, idx) in vgg.convs.iter().zip(vgg.torchvision_indices()) {
        let w = conv.weight.val();
        let dims = w.dims().to_vec();
        tensors.insert(format!("features.{idx}.weight"), (dims, values(w)));
        if let Some(b) = &conv.bias {
            let b = b.val();
            let dims = b.dims().to_vec();
            let data = b
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32");
            tensors.insert(format!("features.{idx}.bias"), (dims, data));
        }
    }
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(metadata).expect("strings serialise"),
    );
    let mut offset = 0usize;
    for (name, (dims, data)) in &tensors {
        let end = offset + 4 * data.len();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": dims, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = serde_json::to_string(&header).expect("json serialises");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    cruciate_volume::atomic::write_atomically(path, |w| {
        w.write_all(&(text.len() as u64).to_le_bytes())?;
        w.write_all(text.as_bytes())?;
        for (_, data) in tensors.values() {
            let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            w.write_all(&bytes)?;
        }
        Ok(())
    })
    .map_err(|e| WeightsError::Read {
        path: path.to_path_buf(),
        message: format!("cannot write: {e}"),
    })
}

/// The pixel scaling a weights file says its network expects: what a `.safetensors` file
/// records in its metadata, `unit` for a Keras `.onnx` file (Keras models of this kind are fed
/// `x / 255`), `None` when the file does not say.
pub fn recorded_pixel_scale(path: &Path) -> Result<Option<PixelScale>, WeightsError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "onnx" => Ok(Some(PixelScale::Unit)),
        "safetensors" => safetensors_metadata(path)?
            .get(PIXEL_SCALE_KEY)
            .map(|name| {
                name.parse().map_err(|message| WeightsError::Read {
                    path: path.to_path_buf(),
                    message,
                })
            })
            .transpose(),
        _ => Ok(None),
    }
}

/// The `__metadata__` of a `.safetensors` file (empty when it has none).
pub fn safetensors_metadata(path: &Path) -> Result<BTreeMap<String, String>, WeightsError> {
    let bad = |message: String| WeightsError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("too short for a safetensors file".into()))?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err(bad(format!("a safetensors header of {len} bytes")));
    }
    let mut text = vec![0u8; len as usize];
    file.read_exact(&mut text)
        .map_err(|_| bad("the safetensors header is cut short".into()))?;
    let header: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(format!("safetensors header: {e}")))?;
    Ok(header
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}
