//! SqueezeNet 1.1 features (torchvision `squeezenet1_1().features`).

use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::layers::{conv, max_pool};

/// A Fire module: 1x1 squeeze, then 1x1 and 3x3 expands concatenated.
#[derive(Module, Debug)]
pub struct Fire {
    /// 1x1 squeeze convolution.
    pub squeeze: Conv2d,
    /// 1x1 expand convolution.
    pub expand1x1: Conv2d,
    /// 3x3 expand convolution.
    pub expand3x3: Conv2d,
}

impl Fire {
    fn new(device: &Device, cin: usize, squeeze: usize, expand: usize) -> Self {
        Self {
            squeeze: conv(device, cin, squeeze, 1, 1, 0, true),
            expand1x1: conv(device, squeeze, expand, 1, 1, 0, true),
            expand3x3: conv(device, squeeze, expand, 3, 1, 1, true),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = relu(self.squeeze.forward(x));
        Tensor::cat(
            vec![
                relu(self.expand1x1.forward(s.clone())),
                relu(self.expand3x3.forward(s)),
            ],
            1,
        )
    }
}

/// SqueezeNet 1.1: a 3x3 stride-2 stem, eight Fire modules, three ceil-mode max pools.
#[derive(Module, Debug)]
pub struct SqueezeNet {
    /// Stem convolution (`features.0`).
    pub stem: Conv2d,
    /// Fire modules (`features.3, 4, 6, 7, 9, 10, 11, 12`).
    pub fires: Vec<Fire>,
    pool: MaxPool2d,
}

impl SqueezeNet {
    /// Channels of the last feature map.
    pub const CHANNELS: usize = 512;

    /// A randomly initialised network.
    pub fn new(device: &Device) -> Self {
        let spec = [
            (64, 16, 64),
            (128, 16, 64),
            (128, 32, 128),
            (256, 32, 128),
            (256, 48, 192),
            (384, 48, 192),
            (384, 64, 256),
            (512, 64, 256),
        ];
        Self {
            stem: conv(device, 3, 64, 3, 2, 0, true),
            fires: spec
                .iter()
                .map(|&(cin, s, e)| Fire::new(device, cin, s, e))
                .collect(),
            pool: max_pool(3, 2, 0, true),
        }
    }

    /// `[N, 3, H, W]` to `[N, 512, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.pool.forward(relu(self.stem.forward(x)));
        for (i, fire) in self.fires.iter().enumerate() {
            x = fire.forward(x);
            if i == 1 || i == 3 {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// torchvision key patterns: `features.{idx}` to `stem` / `fires.{k}`.
    pub fn torchvision_remaps() -> Vec<(String, String)> {
        let mut out = vec![(r"^features\.0\.".to_string(), "stem.".to_string())];
        for (k, idx) in [3, 4, 6, 7, 9, 10, 11, 12].iter().enumerate() {
            out.push((format!(r"^features\.{idx}\."), format!("fires.{k}.")));
        }
        out
    }
}
