//! VGG16 and VGG19 convolutional features, plain or with batch normalisation
//! (torchvision `vgg16()`, `vgg16_bn()`, `vgg19()`, `vgg19_bn()` `.features`).

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::layers::{batch_norm, conv, max_pool};

/// Which VGG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VggDepth {
    /// 13 convolutions.
    Vgg16,
    /// 16 convolutions.
    Vgg19,
}

impl VggDepth {
    /// Convolutions per block (each block ends in a 2x2 max pool).
    fn blocks(self) -> [usize; 5] {
        match self {
            VggDepth::Vgg16 => [2, 2, 3, 3, 3],
            VggDepth::Vgg19 => [2, 2, 4, 4, 4],
        }
    }
}

/// VGG features: 3x3 convolutions (+ batch norm) + ReLU, a max pool after each of 5 blocks.
#[derive(Module, Debug)]
pub struct Vgg {
    /// Convolutions in order.
    pub convs: Vec<Conv2d>,
    /// Batch norms after each convolution (empty for plain VGG).
    pub norms: Vec<BatchNorm>,
    /// Index of the last convolution of each block.
    block_ends: Vec<usize>,
    pool: MaxPool2d,
}

impl Vgg {
    /// Channels of the last feature map.
    pub const CHANNELS: usize = 512;

    /// A randomly initialised network.
    pub fn new(device: &Device, depth: VggDepth, batch_norm_layers: bool) -> Self {
        let widths = [64, 128, 256, 512, 512];
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut block_ends = Vec::new();
        let mut cin = 3;
        for (block, &n) in depth.blocks().iter().enumerate() {
            for _ in 0..n {
                convs.push(conv(device, cin, widths[block], 3, 1, 1, true));
                if batch_norm_layers {
                    norms.push(batch_norm(device, widths[block]));
                }
                cin = widths[block];
            }
            block_ends.push(convs.len() - 1);
        }
        Self {
            convs,
            norms,
            block_ends,
            pool: max_pool(2, 2, 0, false),
        }
    }

    /// `[N, 3, H, W]` to `[N, 512, H/32, W/32]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(x);
            }
            x = relu(x);
            if self.block_ends.contains(&i) {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// The index of the last convolution of each block (a max pool follows each).
    pub fn block_ends(&self) -> &[usize] {
        &self.block_ends
    }

    /// The index in torchvision's `features` of each convolution (its batch norm, when there
    /// is one, follows it).
    pub fn torchvision_indices(&self) -> Vec<usize> {
        let with_bn = !self.norms.is_empty();
        let mut idx = 0;
        let mut out = Vec::new();
        for k in 0..self.convs.len() {
            out.push(idx);
            idx += if with_bn { 3 } else { 2 }; // conv, [norm], ReLU
            if self.block_ends.contains(&k) {
                idx += 1; // MaxPool
            }
        }
        out
    }

    /// torchvision key patterns: `features.{idx}` to `convs.{k}` / `norms.{k}`.
    pub fn torchvision_remaps(&self) -> Vec<(String, String)> {
        let with_bn = !self.norms.is_empty();
        let mut out = Vec::new();
        for (k, idx) in self.torchvision_indices().into_iter().enumerate() {
            out.push((
                format!(r"^features\.{idx}\.(weight|bias)$"),
                format!("convs.{k}.$1"),
            ));
            if with_bn {
                out.push((
                    format!(
                        r"^features\.{}\.(weight|bias|running_mean|running_var)$",
                        idx + 1
                    ),
                    format!("norms.{k}.$1"),
                ));
            }
        }
        out
    }
}
