//! The backbones that are plain stacks of convolutions, ReLUs and max pools, described for a
//! fast engine ([`cruciate_engine`]): AlexNet, VGG (batch norms folded into the convolutions
//! they follow, exact in inference) and the compact CNN. ResNet and SqueezeNet (residual
//! sums, concatenations) stay on Burn.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use cruciate_engine::{Conv, ConvStack, Layer, MaxPool};

use super::Backbone;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

/// `conv` (with the inference-mode batch norm `norm` after it folded in) and a ReLU.
fn conv_layer(conv: &Conv2d, norm: Option<&BatchNorm>) -> Layer {
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
    Layer::Conv(Conv {
        cin,
        cout,
        kernel: k,
        stride: conv.stride[0],
        pad,
        relu: true,
        weights,
        bias,
    })
}

fn pool(kernel: usize, stride: usize) -> Layer {
    Layer::MaxPool(MaxPool {
        kernel,
        stride,
        pad: 0,
        ceil: false,
    })
}

impl Backbone {
    /// The backbone as a convolution stack with its current weights, when it is one (`None`
    /// for ResNet and SqueezeNet).
    pub fn conv_stack(&self) -> Option<ConvStack> {
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
            Backbone::ResNet(_) | Backbone::SqueezeNet(_) => return None,
        }
        Some(ConvStack { layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BackboneKind;

    #[test]
    fn plain_backbones_become_stacks_of_the_right_shape() {
        let device = Device::flex();
        let alexnet = BackboneKind::AlexNet.init(&device).conv_stack().unwrap();
        assert_eq!(alexnet.layers.len(), 8);
        assert_eq!(alexnet.output_shape([2, 3, 256, 256]), Some([2, 256, 7, 7]));
        let vgg = BackboneKind::Vgg16Bn.init(&device).conv_stack().unwrap();
        assert_eq!(vgg.output_shape([1, 3, 224, 224]), Some([1, 512, 7, 7]));
        assert!(vgg.validate().is_ok());
        let small = BackboneKind::Small.init(&device).conv_stack().unwrap();
        assert_eq!(small.output_shape([1, 3, 64, 64]), Some([1, 128, 4, 4]));
        assert!(BackboneKind::ResNet18.init(&device).conv_stack().is_none());
        assert!(
            BackboneKind::SqueezeNet
                .init(&device)
                .conv_stack()
                .is_none()
        );
    }
}
