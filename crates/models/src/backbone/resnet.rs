//! ResNet18 and ResNet50 (torchvision `resnet18()`, `resnet50()`) without the final `fc`.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::layers::{batch_norm, conv, max_pool};

/// Which ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResNetDepth {
    /// Basic blocks [2, 2, 2, 2], 512 output channels.
    ResNet18,
    /// Bottleneck blocks [3, 4, 6, 3], 2048 output channels.
    ResNet50,
}

/// The projection on a block's shortcut when its shape changes (`downsample.0` / `.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 strided convolution.
    pub conv: Conv2d,
    /// Its batch norm.
    pub bn: BatchNorm,
}

/// A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1) residual block.
#[derive(Module, Debug)]
pub struct Block {
    /// First convolution.
    pub conv1: Conv2d,
    /// First batch norm.
    pub bn1: BatchNorm,
    /// Second convolution.
    pub conv2: Conv2d,
    /// Second batch norm.
    pub bn2: BatchNorm,
    /// Third convolution (bottleneck blocks).
    pub conv3: Option<Conv2d>,
    /// Third batch norm (bottleneck blocks).
    pub bn3: Option<BatchNorm>,
    /// Shortcut projection, when the shape changes.
    pub downsample: Option<Downsample>,
}

impl Block {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let mut y = relu(self.bn1.forward(self.conv1.forward(x)));
        y = self.bn2.forward(self.conv2.forward(y));
        if let (Some(conv3), Some(bn3)) = (&self.conv3, &self.bn3) {
            y = bn3.forward(conv3.forward(relu(y)));
        }
        relu(y + identity)
    }
}

/// ResNet features: stem, four stages of residual blocks.
#[derive(Module, Debug)]
pub struct ResNet {
    /// 7x7 stride-2 stem convolution.
    pub conv1: Conv2d,
    /// Stem batch norm.
    pub bn1: BatchNorm,
    /// Stage 1 (stride 1).
    pub layer1: Vec<Block>,
    /// Stage 2 (stride 2).
    pub layer2: Vec<Block>,
    /// Stage 3 (stride 2).
    pub layer3: Vec<Block>,
    /// Stage 4 (stride 2).
    pub layer4: Vec<Block>,
    pool: MaxPool2d,
}

impl ResNet {
    /// A randomly initialised network.
    pub fn new(device: &Device, depth: ResNetDepth) -> Self {
        let (counts, bottleneck) = match depth {
            ResNetDepth::ResNet18 => ([2, 2, 2, 2], false),
            ResNetDepth::ResNet50 => ([3, 4, 6, 3], true),
        };
        let expansion = if bottleneck { 4 } else { 1 };
        let mut cin = 64;
        let mut stage = |width: usize, n: usize, stride: usize| -> Vec<Block> {
            (0..n)
                .map(|i| {
                    let s = if i == 0 { stride } else { 1 };
                    let cout = width * expansion;
                    let downsample = (i == 0 && (s != 1 || cin != cout)).then(|| Downsample {
                        conv: conv(device, cin, cout, 1, s, 0, false),
                        bn: batch_norm(device, cout),
                    });
                    let block = if bottleneck {
                        Block {
                            conv1: conv(device, cin, width, 1, 1, 0, false),
                            bn1: batch_norm(device, width),
                            conv2: conv(device, width, width, 3, s, 1, false),
                            bn2: batch_norm(device, width),
                            conv3: Some(conv(device, width, cout, 1, 1, 0, false)),
                            bn3: Some(batch_norm(device, cout)),
                            downsample,
                        }
                    } else {
                        Block {
                            conv1: conv(device, cin, width, 3, s, 1, false),
                            bn1: batch_norm(device, width),
                            conv2: conv(device, width, width, 3, 1, 1, false),
                            bn2: batch_norm(device, width),
                            conv3: None,
                            bn3: None,
                            downsample,
                        }
                    };
                    cin = cout;
                    block
                })
                .collect()
        };
        let layer1 = stage(64, counts[0], 1);
        let layer2 = stage(128, counts[1], 2);
        let layer3 = stage(256, counts[2], 2);
        let layer4 = stage(512, counts[3], 2);
        Self {
            conv1: conv(device, 3, 64, 7, 2, 3, false),
            bn1: batch_norm(device, 64),
            layer1,
            layer2,
            layer3,
            layer4,
            pool: max_pool(3, 2, 1, false),
        }
    }

    /// Channels of the last feature map.
    pub fn channels(depth: ResNetDepth) -> usize {
        match depth {
            ResNetDepth::ResNet18 => 512,
            ResNetDepth::ResNet50 => 2048,
        }
    }

    /// `[N, 3, H, W]` to `[N, C, H/32, W/32]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self
            .pool
            .forward(relu(self.bn1.forward(self.conv1.forward(x))));
        for stage in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
            for block in stage {
                x = block.forward(x);
            }
        }
        x
    }

    /// torchvision key patterns: `downsample.0 / .1` to `downsample.conv / .bn`.
    pub fn torchvision_remaps() -> Vec<(String, String)> {
        vec![
            (r"\.downsample\.0\.".into(), ".downsample.conv.".into()),
            (r"\.downsample\.1\.".into(), ".downsample.bn.".into()),
        ]
    }
}
