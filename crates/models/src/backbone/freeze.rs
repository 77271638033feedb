//! Freezing the first blocks of a backbone for fine-tuning: a frozen block keeps its weights
//! (no gradient is computed for it, so the optimiser never moves it) and its batch-norm
//! statistics (Burn's `Module::freeze` turns the layer's training behaviour off too).
//!
//! A block is the unit a fine-tuning recipe counts in: one convolution (with its batch norm) for
//! AlexNet, VGG and `small`; the stem and then each of the four stages for ResNet; the stem and
//! then each Fire module for SqueezeNet.

use burn::module::Module;

use super::Backbone;

impl Backbone {
    /// How many blocks [`Backbone::freeze_first`] counts in.
    pub fn blocks(&self) -> usize {
        match self {
            Backbone::AlexNet(m) => m.features.len(),
            Backbone::Vgg(m) => m.convs.len(),
            Backbone::ResNet(_) => 5,
            Backbone::SqueezeNet(m) => 1 + m.fires.len(),
            Backbone::Small(m) => m.convs.len(),
        }
    }

    /// The backbone with its first `n` blocks frozen (all of them when `n >= blocks()`).
    pub fn freeze_first(self, n: usize) -> Self {
        fn freeze<M: Module>(items: Vec<M>, n: usize) -> Vec<M> {
            items
                .into_iter()
                .enumerate()
                .map(|(i, m)| if i < n { m.freeze() } else { m })
                .collect()
        }
        match self {
            Backbone::AlexNet(mut m) => {
                m.features = freeze(m.features, n);
                Backbone::AlexNet(m)
            }
            Backbone::Vgg(mut m) => {
                m.convs = freeze(m.convs, n);
                m.norms = freeze(m.norms, n);
                Backbone::Vgg(m)
            }
            Backbone::Small(mut m) => {
                m.convs = freeze(m.convs, n);
                m.norms = freeze(m.norms, n);
                Backbone::Small(m)
            }
            Backbone::ResNet(mut m) => {
                if n >= 1 {
                    m.conv1 = m.conv1.freeze();
                    m.bn1 = m.bn1.freeze();
                }
                let stages = [&mut m.layer1, &mut m.layer2, &mut m.layer3, &mut m.layer4];
                for (i, stage) in stages.into_iter().enumerate() {
                    if n >= i + 2 {
                        *stage = freeze(std::mem::take(stage), usize::MAX);
                    }
                }
                Backbone::ResNet(m)
            }
            Backbone::SqueezeNet(mut m) => {
                if n >= 1 {
                    m.stem = m.stem.freeze();
                }
                m.fires = freeze(m.fires, n.saturating_sub(1));
                Backbone::SqueezeNet(m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use crate::BackboneKind;

    /// Parameters that would receive a gradient.
    fn trainable(backbone: &crate::Backbone) -> usize {
        #[derive(Default)]
        struct Count(usize);
        impl burn::module::ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                if param.is_require_grad() {
                    self.0 += param.val().shape().num_elements();
                }
            }
        }
        let mut count = Count::default();
        backbone.visit(&mut count);
        count.0
    }

    #[test]
    fn freezing_removes_parameters_from_training_block_by_block() {
        let device = Device::flex().autodiff();
        for kind in [
            BackboneKind::Small,
            BackboneKind::SqueezeNet,
            BackboneKind::ResNet18,
        ] {
            let full = kind.init(&device);
            let blocks = full.blocks();
            let all = trainable(&full);
            let one = trainable(&kind.init(&device).freeze_first(1));
            let every = trainable(&kind.init(&device).freeze_first(blocks));
            assert!(one < all, "{kind:?}: {one} !< {all}");
            assert_eq!(every, 0, "{kind:?}");
        }
    }

    #[test]
    fn frozen_batch_norms_keep_their_statistics() {
        let device = Device::flex().autodiff();
        let backbone = BackboneKind::Small.init(&device).freeze_first(1);
        let crate::Backbone::Small(m) = &backbone else {
            unreachable!()
        };
        let stats = |i: usize| {
            m.norms[i]
                .running_mean
                .value_sync()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (first, second) = (stats(0), stats(1));
        let x = Tensor::<4>::random(
            [2, 3, 32, 32],
            burn::tensor::Distribution::Normal(3.0, 1.0),
            &device,
        );
        let _ = backbone.forward(x);
        assert_eq!(stats(0), first, "frozen block's statistics moved");
        assert_ne!(stats(1), second, "trained block's statistics did not move");
    }
}
