//! Per-slice feature extractors: `[N, 3, H, W]` images to `[N, C, h, w]` feature maps.

mod alexnet;
mod freeze;
pub mod layers;
mod resnet;
mod small;
mod squeezenet;
mod stack;
mod vgg;

use burn::prelude::*;

pub use alexnet::AlexNetFeatures;
pub use resnet::{ResNet, ResNetDepth};
pub use small::SmallCnn;
pub use squeezenet::SqueezeNet;
pub use stack::LayerParams;
pub use vgg::{Vgg, VggDepth};

/// The backbones Cruciate offers, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackboneKind {
    /// AlexNet features (MRNet).
    AlexNet,
    /// VGG16.
    Vgg16,
    /// VGG16 with batch norm.
    Vgg16Bn,
    /// VGG19.
    Vgg19,
    /// VGG19 with batch norm.
    Vgg19Bn,
    /// ResNet18.
    ResNet18,
    /// ResNet50.
    ResNet50,
    /// SqueezeNet 1.1.
    SqueezeNet,
    /// The compact CNN.
    Small,
}

impl BackboneKind {
    /// Every kind, for listings.
    pub const ALL: [BackboneKind; 9] = [
        BackboneKind::AlexNet,
        BackboneKind::Vgg16,
        BackboneKind::Vgg16Bn,
        BackboneKind::Vgg19,
        BackboneKind::Vgg19Bn,
        BackboneKind::ResNet18,
        BackboneKind::ResNet50,
        BackboneKind::SqueezeNet,
        BackboneKind::Small,
    ];

    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            BackboneKind::AlexNet => "alexnet",
            BackboneKind::Vgg16 => "vgg16",
            BackboneKind::Vgg16Bn => "vgg16_bn",
            BackboneKind::Vgg19 => "vgg19",
            BackboneKind::Vgg19Bn => "vgg19_bn",
            BackboneKind::ResNet18 => "resnet18",
            BackboneKind::ResNet50 => "resnet50",
            BackboneKind::SqueezeNet => "squeezenet",
            BackboneKind::Small => "small",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Channels of the feature map.
    pub fn channels(&self) -> usize {
        match self {
            BackboneKind::AlexNet => AlexNetFeatures::CHANNELS,
            BackboneKind::Vgg16
            | BackboneKind::Vgg16Bn
            | BackboneKind::Vgg19
            | BackboneKind::Vgg19Bn => Vgg::CHANNELS,
            BackboneKind::ResNet18 => ResNet::channels(ResNetDepth::ResNet18),
            BackboneKind::ResNet50 => ResNet::channels(ResNetDepth::ResNet50),
            BackboneKind::SqueezeNet => SqueezeNet::CHANNELS,
            BackboneKind::Small => SmallCnn::CHANNELS,
        }
    }

    /// A randomly initialised backbone of this kind.
    pub fn init(&self, device: &Device) -> Backbone {
        match self {
            BackboneKind::AlexNet => Backbone::AlexNet(AlexNetFeatures::new(device)),
            BackboneKind::Vgg16 => Backbone::Vgg(Vgg::new(device, VggDepth::Vgg16, false)),
            BackboneKind::Vgg16Bn => Backbone::Vgg(Vgg::new(device, VggDepth::Vgg16, true)),
            BackboneKind::Vgg19 => Backbone::Vgg(Vgg::new(device, VggDepth::Vgg19, false)),
            BackboneKind::Vgg19Bn => Backbone::Vgg(Vgg::new(device, VggDepth::Vgg19, true)),
            BackboneKind::ResNet18 => Backbone::ResNet(ResNet::new(device, ResNetDepth::ResNet18)),
            BackboneKind::ResNet50 => Backbone::ResNet(ResNet::new(device, ResNetDepth::ResNet50)),
            BackboneKind::SqueezeNet => Backbone::SqueezeNet(SqueezeNet::new(device)),
            BackboneKind::Small => Backbone::Small(SmallCnn::new(device)),
        }
    }
}

/// A per-slice feature extractor.
// One backbone is built per model: the size of the enum does not matter, and boxing a variant
// would hide its parameters from the Module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    /// AlexNet features.
    AlexNet(AlexNetFeatures),
    /// VGG16 / VGG19, plain or batch-norm.
    Vgg(Vgg),
    /// ResNet18 / ResNet50.
    ResNet(ResNet),
    /// SqueezeNet 1.1.
    SqueezeNet(SqueezeNet),
    /// The compact CNN.
    Small(SmallCnn),
}

impl Backbone {
    /// `[N, 3, H, W]` images to `[N, C, h, w]` feature maps.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Backbone::AlexNet(m) => m.forward(x),
            Backbone::Vgg(m) => m.forward(x),
            Backbone::ResNet(m) => m.forward(x),
            Backbone::SqueezeNet(m) => m.forward(x),
            Backbone::Small(m) => m.forward(x),
        }
    }

    /// Key patterns that turn a torchvision state dict into this backbone's parameter names.
    pub fn torchvision_remaps(&self) -> Vec<(String, String)> {
        match self {
            Backbone::AlexNet(_) | Backbone::Small(_) => Vec::new(),
            Backbone::Vgg(m) => m.torchvision_remaps(),
            Backbone::ResNet(_) => ResNet::torchvision_remaps(),
            Backbone::SqueezeNet(_) => SqueezeNet::torchvision_remaps(),
        }
    }
}
