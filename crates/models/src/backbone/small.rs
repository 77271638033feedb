//! `small`: a compact CNN for fast runs, tests and the demo model.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::layers::{batch_norm, conv, max_pool};

/// Four blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pool (16, 32, 64, 128
/// channels): about 100 k parameters.
#[derive(Module, Debug)]
pub struct SmallCnn {
    /// Convolutions.
    pub convs: Vec<Conv2d>,
    /// Batch norms.
    pub norms: Vec<BatchNorm>,
    pool: MaxPool2d,
}

impl SmallCnn {
    /// Channels of the last feature map.
    pub const CHANNELS: usize = 128;

    /// A randomly initialised network.
    pub fn new(device: &Device) -> Self {
        Self::with_blocks(device, 4)
    }

    /// The first `blocks` blocks (1 to 4) alone: a trunk of stride `2^blocks` with
    /// `16 * 2^(blocks - 1)` channels (the localiser's, which needs a finer grid).
    pub fn with_blocks(device: &Device, blocks: usize) -> Self {
        let widths = &[16, 32, 64, 128][..blocks.clamp(1, 4)];
        let mut cin = 3;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for &w in widths {
            convs.push(conv(device, cin, w, 3, 1, 1, false));
            norms.push(batch_norm(device, w));
            cin = w;
        }
        Self {
            convs,
            norms,
            pool: max_pool(2, 2, 0, false),
        }
    }

    /// `[N, 3, H, W]` to `[N, 128, H/16, W/16]` (fewer blocks: less stride, fewer channels).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = self.pool.forward(relu(norm.forward(conv.forward(x))));
        }
        x
    }
}
