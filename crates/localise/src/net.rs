//! The heat-map network: the small backbone's first three blocks (stride 8, 64 channels) and a
//! head of a 3x3 convolution with batch norm and ReLU and a 1x1 convolution to one map.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;
use cruciate_models::backbone::SmallCnn;
use cruciate_models::backbone::layers::{batch_norm, conv};

/// Blocks of the small CNN kept as the trunk.
const TRUNK_BLOCKS: usize = 3;
/// Channels the trunk ends with.
const TRUNK_CHANNELS: usize = 64;

/// `[N, 3, size, size]` slice stacks to `[N, size/8, size/8]` logits.
#[derive(Module, Debug)]
pub struct HeatmapNet {
    trunk: SmallCnn,
    head: Conv2d,
    head_norm: BatchNorm,
    out: Conv2d,
}

impl HeatmapNet {
    /// A randomly initialised network.
    pub fn new(device: &Device) -> Self {
        Self {
            trunk: SmallCnn::with_blocks(device, TRUNK_BLOCKS),
            head: conv(device, TRUNK_CHANNELS, TRUNK_CHANNELS, 3, 1, 1, false),
            head_norm: batch_norm(device, TRUNK_CHANNELS),
            out: conv(device, TRUNK_CHANNELS, 1, 1, 1, 0, true),
        }
    }

    /// The logits of each cell.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let features = self.trunk.forward(x);
        let h = relu(self.head_norm.forward(self.head.forward(features)));
        self.out.forward(h).squeeze_dim(1)
    }
}
