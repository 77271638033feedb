//! Every backbone described for a fast engine ([`cruciate_engine`]) as a list of layers, with
//! the Burn modules each layer's parameters live in: AlexNet, VGG and the compact CNN as
//! chains; ResNet with each block's shortcut (the block's input, or its projection computed on
//! a branch) added to its last convolution before the ReLU; SqueezeNet with each Fire module's
//! expand convolutions reading the squeeze and joined along the channels. Batch norms stay
//! beside their convolutions (the inference engine folds them in, the training engine
//! normalises by the batch as Burn's training mode does).

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use cruciate_engine::{Conv, ConvStack, Layer, MaxPool, Norm};

use super::{Backbone, ResNet, SqueezeNet};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

/// The Burn modules holding one stack layer's parameters: a convolution and the batch norm
/// after it.
#[derive(Debug, Clone, Copy)]
pub struct LayerParams<'a> {
    /// The convolution.
    pub conv: &'a Conv2d,
    /// Its batch norm, when it has one.
    pub norm: Option<&'a BatchNorm>,
}

/// A stack being described, with each layer's parameters.
#[derive(Default)]
struct Builder<'a> {
    layers: Vec<Layer>,
    params: Vec<Option<LayerParams<'a>>>,
}

impl<'a> Builder<'a> {
    /// Appends `conv` with `norm` after it and a ReLU, reading the layer before it; its index.
    fn conv(&mut self, conv: &'a Conv2d, norm: Option<&'a BatchNorm>) -> usize {
        self.wired(conv, norm, |c| c)
    }

    /// As [`Self::conv`], the engine's description changed by `wire` (its input, residual,
    /// ReLU).
    fn wired(
        &mut self,
        conv: &'a Conv2d,
        norm: Option<&'a BatchNorm>,
        wire: impl FnOnce(Conv) -> Conv,
    ) -> usize {
        self.layers.push(Layer::Conv(wire(described(conv, norm))));
        self.params.push(Some(LayerParams { conv, norm }));
        self.layers.len() - 1
    }

    /// Appends a layer without parameters; its index.
    fn plain(&mut self, layer: Layer) -> usize {
        self.layers.push(layer);
        self.params.push(None);
        self.layers.len() - 1
    }

    fn pool(&mut self, kernel: usize, stride: usize, pad: usize, ceil: bool) -> usize {
        self.plain(Layer::MaxPool(MaxPool {
            kernel,
            stride,
            pad,
            ceil,
        }))
    }
}

/// `conv` with `norm` after it (by the batch's statistics in training unless frozen), reading
/// the layer before it, then a ReLU.
fn described(conv: &Conv2d, norm: Option<&BatchNorm>) -> Conv {
    let [cout, cin, k, _] = conv.weight.dims();
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
        weights: values(conv.weight.val()),
        bias: conv.bias.as_ref().map(|b| values(b.val())),
        input: None,
        residual: None,
        norm: norm.map(|n| Norm {
            gamma: values(n.gamma.val()),
            beta: values(n.beta.val()),
            running_mean: values(n.running_mean.value()),
            running_var: values(n.running_var.value()),
            epsilon: n.epsilon as f32,
            batch_statistics: n.training.is_enabled(),
        }),
    }
}

/// ResNet's layers: the stem, then per block its convolutions reading the block's input
/// (`x`), the last one adding the shortcut.
fn resnet_layers<'a>(m: &'a ResNet, b: &mut Builder<'a>) {
    b.conv(&m.conv1, Some(&m.bn1));
    let mut x = b.pool(3, 2, 1, false);
    for block in [&m.layer1, &m.layer2, &m.layer3, &m.layer4]
        .into_iter()
        .flatten()
    {
        let shortcut = match &block.downsample {
            Some(d) => b.wired(&d.conv, Some(&d.bn), |c| Conv {
                input: Some(x),
                relu: false,
                ..c
            }),
            None => x,
        };
        b.wired(&block.conv1, Some(&block.bn1), |c| Conv {
            input: Some(x),
            ..c
        });
        let add = |c| Conv {
            residual: Some(shortcut),
            ..c
        };
        x = match (&block.conv3, &block.bn3) {
            (Some(conv3), Some(bn3)) => {
                b.conv(&block.conv2, Some(&block.bn2));
                b.wired(conv3, Some(bn3), add)
            }
            _ => b.wired(&block.conv2, Some(&block.bn2), add),
        };
    }
}

/// SqueezeNet's layers: the stem, then per Fire module the squeeze and its two expand
/// convolutions joined, with the ceil-mode pools between.
fn squeezenet_layers<'a>(m: &'a SqueezeNet, b: &mut Builder<'a>) {
    b.conv(&m.stem, None);
    b.pool(3, 2, 0, true);
    for (i, fire) in m.fires.iter().enumerate() {
        let squeeze = b.conv(&fire.squeeze, None);
        let wide = b.conv(&fire.expand1x1, None);
        let tall = b.wired(&fire.expand3x3, None, |c| Conv {
            input: Some(squeeze),
            ..c
        });
        b.plain(Layer::Concat(vec![wide, tall]));
        if i == 1 || i == 3 {
            b.pool(3, 2, 0, true);
        }
    }
}

impl Backbone {
    /// The backbone as a stack of layers with its current weights and batch norms.
    pub fn conv_stack(&self) -> ConvStack {
        ConvStack {
            layers: self.described().layers,
        }
    }

    /// [`Self::conv_stack`] and, for each of its layers, the modules holding the layer's
    /// parameters (`None` for pools and concatenations): where the training engine's gradients
    /// and batch statistics go.
    pub fn stack_with_params(&self) -> (ConvStack, Vec<Option<LayerParams<'_>>>) {
        let Builder { layers, params } = self.described();
        (ConvStack { layers }, params)
    }

    fn described(&self) -> Builder<'_> {
        let mut b = Builder::default();
        match self {
            Backbone::AlexNet(m) => {
                for (i, conv) in m.features.iter().enumerate() {
                    b.conv(conv, None);
                    if matches!(i, 0 | 1 | 4) {
                        b.pool(3, 2, 0, false);
                    }
                }
            }
            Backbone::Vgg(m) => {
                for (i, conv) in m.convs.iter().enumerate() {
                    b.conv(conv, m.norms.get(i));
                    if m.block_ends().contains(&i) {
                        b.pool(2, 2, 0, false);
                    }
                }
            }
            Backbone::Small(m) => {
                for (conv, norm) in m.convs.iter().zip(&m.norms) {
                    b.conv(conv, Some(norm));
                    b.pool(2, 2, 0, false);
                }
            }
            Backbone::ResNet(m) => resnet_layers(m, &mut b),
            Backbone::SqueezeNet(m) => squeezenet_layers(m, &mut b),
        }
        b
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
            assert_eq!(stack.output_shape([1, 3, 224, 224]), Some(out), "{kind:?}");
        }
    }
}
