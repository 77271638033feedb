//! AlexNet's convolutional features (torchvision `alexnet().features`), MRNet's backbone.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// `features.0 / 3 / 6 / 8 / 10` of torchvision's AlexNet: five convolutions, ReLU after each,
/// 3x3 stride-2 max pooling after the 1st, 2nd and 5th. 256 output channels.
#[derive(Module, Debug)]
pub struct AlexNetFeatures {
    /// The five convolutions, in order (torchvision indices 0, 3, 6, 8, 10).
    pub features: Vec<Conv2d>,
    pool: MaxPool2d,
}

impl AlexNetFeatures {
    /// Channels of the last feature map.
    pub const CHANNELS: usize = 256;

    /// A randomly initialised network.
    pub fn new(device: &Device) -> Self {
        let conv = |cin, cout, k: usize, stride, pad| {
            Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(device)
        };
        Self {
            features: vec![
                conv(3, 64, 11, 4, 2),
                conv(64, 192, 5, 1, 2),
                conv(192, 384, 3, 1, 1),
                conv(384, 256, 3, 1, 1),
                conv(256, 256, 3, 1, 1),
            ],
            pool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
        }
    }

    /// `[N, 3, H, W]` images to `[N, 256, h, w]` feature maps (after the last ReLU and pool).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for (i, conv) in self.features.iter().enumerate() {
            x = relu(conv.forward(x));
            if matches!(i, 0 | 1 | 4) {
                x = self.pool.forward(x);
            }
        }
        x
    }
}
