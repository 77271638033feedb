//! Every backbone described for a fast engine ([`cruciate_engine`]) as a list of layers, with
//! batch norms folded into the convolutions they follow (exact in inference): AlexNet, VGG and
//! the compact CNN as chains; ResNet with each block's shortcut (the block's input, or its
//! projection computed on a branch) added to its last convolution before the ReLU; SqueezeNet
//! with each Fire module's expand convolutions reading the squeeze and joined along the
//! channels.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use cruciate_engine::{Conv, ConvStack, Layer, MaxPool};

use super::{Backbone, ResNet, SqueezeNet};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

/// `conv` (with the inference-mode batch norm `norm` after it folded in), reading the layer
/// before it, and a ReLU.
fn conv_layer(conv: &Conv2d, norm: Option<&BatchNorm>) -> Layer {
    Layer::Conv(folded(conv, norm))
}

/// `conv` with `norm` folded in, reading the layer before it, then a ReLU.
fn folded(conv: &Conv2d, norm: Option<&BatchNorm>) -> Conv {
    let [cout, cin, k, _] = conv.weight.dims();
    let mut weights = values(conv.weight.val());
    let mut bias = conv.bias.as_ref().map(|b| values(b.val()));
    if let Some(norm) = norm {
        let gamma = values(norm.gamma.val());
        let beta = values(norm.beta.val());
        let mean = values(norm.running_mean.value());
        let var = values(norm.running_var.value());
        let per_filter = cin * k * k;
        let mut folded = bias.unwrap_or_else(|| vec![0.0; cout]);
        for o in 0..cout {
            let scale = gamma[o] / (var[o] + norm.epsilon as f32).sqrt();
            weights[o * per_filter..(o + 1) * per_filter]
                .iter_mut()
                .for_each(|w| *w *= scale);
            folded[o] = (folded[o] - mean[o]) * scale + beta[o];
        }
        bias = Some(folded);
    }
    let pad = match conv.padding {
        burn::nn::PaddingConfig2d::Explicit(top, ..) => top,
        _ => 0,
    };
    Conv {
        cin,
        cout,
        kernel: k,
        stride: conv.stride[0],
        pad,
        relu: true,
        weights,
        bias,
        input: None,
        residual: None,
    }
}

fn pool(kernel: usize, stride: usize) -> Layer {
    padded_pool(kernel, stride, 0, false)
}

fn padded_pool(kernel: usize, stride: usize, pad: usize, ceil: bool) -> Layer {
    Layer::MaxPool(MaxPool {
        kernel,
        stride,
        pad,
        ceil,
    })
}

/// Appends `layer` and gives its index.
fn push(layers: &mut Vec<Layer>, layer: Layer) -> usize {
    layers.push(layer);
    layers.len() - 1
}

/// ResNet's layers: the stem, then per block its convolutions reading the block's input
/// (`x`), the last one adding the shortcut.
fn resnet_layers(m: &ResNet) -> Vec<Layer> {
    let mut layers = vec![
        conv_layer(&m.conv1, Some(&m.bn1)),
        padded_pool(3, 2, 1, false),
    ];
    let mut x = layers.len() - 1;
    for block in [&m.layer1, &m.layer2, &m.layer3, &m.layer4]
        .into_iter()
        .flatten()
    {
        let shortcut = match &block.downsample {
            Some(d) => {
                let projection = Conv {
                    input: Some(x),
                    relu: false,
                    ..folded(&d.conv, Some(&d.bn))
                };
                push(&mut layers, Layer::Conv(projection))
            }
            None => x,
        };
        let first = Conv {
            input: Some(x),
            ..folded(&block.conv1, Some(&block.bn1))
        };
        push(&mut layers, Layer::Conv(first));
        let mut last = folded(&block.conv2, Some(&block.bn2));
        if let (Some(conv3), Some(bn3)) = (&block.conv3, &block.bn3) {
            push(&mut layers, Layer::Conv(last));
            last = folded(conv3, Some(bn3));
        }
        x = push(
            &mut layers,
            Layer::Conv(Conv {
                residual: Some(shortcut),
                ..last
            }),
        );
    }
    layers
}

/// SqueezeNet's layers: the stem, then per Fire module the squeeze and its two expand
/// convolutions joined, with the ceil-mode pools between.
fn squeezenet_layers(m: &SqueezeNet) -> Vec<Layer> {
    let pool = || padded_pool(3, 2, 0, true);
    let mut layers = vec![conv_layer(&m.stem, None), pool()];
    for (i, fire) in m.fires.iter().enumerate() {
        let squeeze = push(&mut layers, conv_layer(&fire.squeeze, None));
        let wide = push(&mut layers, conv_layer(&fire.expand1x1, None));
        let expand3x3 = Conv {
            input: Some(squeeze),
            ..folded(&fire.expand3x3, None)
        };
        let tall = push(&mut layers, Layer::Conv(expand3x3));
        layers.push(Layer::Concat(vec![wide, tall]));
        if i == 1 || i == 3 {
            layers.push(pool());
        }
    }
    layers
}

impl Backbone {
    /// The backbone as a convolution stack with its current weights (batch norms folded in
    /// with their running statistics: the inference-mode network).
    pub fn conv_stack(&self) -> ConvStack {
        let mut layers = Vec::new();
        match self {
            Backbone::AlexNet(m) => {
                for (i, conv) in m.features.iter().enumerate() {
                    layers.push(conv_layer(conv, None));
                    if matches!(i, 0 | 1 | 4) {
                        layers.push(pool(3, 2));
                    }
                }
            }
            Backbone::Vgg(m) => {
                for (i, conv) in m.convs.iter().enumerate() {
                    layers.push(conv_layer(conv, m.norms.get(i)));
                    if m.block_ends().contains(&i) {
                        layers.push(pool(2, 2));
                    }
                }
            }
            Backbone::Small(m) => {
                for (conv, norm) in m.convs.iter().zip(&m.norms) {
                    layers.push(conv_layer(conv, Some(norm)));
                    layers.push(pool(2, 2));
                }
            }
            Backbone::ResNet(m) => layers = resnet_layers(m),
            Backbone::SqueezeNet(m) => layers = squeezenet_layers(m),
        }
        ConvStack { layers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BackboneKind;

    #[test]
    fn backbones_become_stacks_of_the_right_shape() {
        let device = Device::flex();
        let alexnet = BackboneKind::AlexNet.init(&device).conv_stack();
        assert_eq!(alexnet.layers.len(), 8);
        assert_eq!(alexnet.output_shape([2, 3, 256, 256]), Some([2, 256, 7, 7]));
        let vgg = BackboneKind::Vgg16Bn.init(&device).conv_stack();
        assert_eq!(vgg.output_shape([1, 3, 224, 224]), Some([1, 512, 7, 7]));
        assert!(vgg.validate().is_ok());
        let small = BackboneKind::Small.init(&device).conv_stack();
        assert_eq!(small.output_shape([1, 3, 64, 64]), Some([1, 128, 4, 4]));
        for (kind, out) in [
            (BackboneKind::ResNet18, [1, 512, 7, 7]),
            (BackboneKind::ResNet50, [1, 2048, 7, 7]),
            (BackboneKind::SqueezeNet, [1, 512, 13, 13]),
        ] {
            let stack = kind.init(&device).conv_stack();
            assert!(stack.validate().is_ok(), "{kind:?}");
            assert!(!stack.is_chain());
            assert_eq!(stack.output_shape([1, 3, 224, 224]), Some(out), "{kind:?}");
        }
    }
}
