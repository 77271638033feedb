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
    // Into the backbone itself: through the enum, every key would gain the variant's name.
    let remaps = backbone.torchvision_remaps();
    match backbone {
        Backbone::AlexNet(m) => load_torchvision(m, path, &remaps),
        Backbone::Vgg(m) => load_torchvision(m, path, &remaps),
        Backbone::ResNet(m) => load_torchvision(m, path, &remaps),
        Backbone::SqueezeNet(m) => load_torchvision(m, path, &remaps),
        Backbone::Small(m) => load_torchvision(m, path, &remaps),
    }
}
