//! Pretrained backbone weights from whichever file the user has: a torchvision state dict
//! (`.pth`, `.safetensors`) or a Keras VGG16 convolutional base in an ONNX file.

use std::path::Path;

use crate::Backbone;
use crate::keras_onnx::load_keras_vgg16_onnx;
use crate::weights::{LoadReport, WeightsError, load_torchvision};

/// Loads pretrained weights into a backbone: torchvision `.pth` / `.safetensors`, or a Keras
/// VGG16 convolutional base in an `.onnx` file.
pub fn load_pretrained(backbone: &mut Backbone, path: &Path) -> Result<LoadReport, WeightsError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        return load_keras_vgg16_onnx(backbone, path);
    }
    let remaps = backbone.torchvision_remaps();
    load_torchvision(backbone, path, &remaps)
}
