//! Small helpers shared by the backbones.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

/// A `k x k` convolution with symmetric zero padding.
pub fn conv(
    device: &Device,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: bool,
) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// Batch normalisation with PyTorch's defaults (eps 1e-5, momentum 0.1).
pub fn batch_norm(device: &Device, channels: usize) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// A `k x k` max pool with stride `s` (and PyTorch's `ceil_mode`).
pub fn max_pool(k: usize, s: usize, pad: usize, ceil: bool) -> MaxPool2d {
    MaxPool2dConfig::new([k, k])
        .with_strides([s, s])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_ceil_mode(ceil)
        .init()
}
