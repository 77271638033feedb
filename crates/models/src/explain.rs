//! Where a call came from: class activation maps (CAM) for a linear head, Grad-CAM for any head,
//! and each slice's share of the pooled features. Maps are raw, at the backbone's resolution
//! `[S, h, w]`; upsampling and colour are for the caller.

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::{ExamModel, SlicePooling};

/// CAM: per slice, the head's weights for `target` times the last feature maps,
/// `sum_c W[target, c] A[s, c]` (Zhou et al. 2016; no ReLU, no normalisation). `None` when the
/// head has a hidden layer (CAM needs a linear head; use [`grad_cam`]).
pub fn class_activation_map(
    model: &ExamModel,
    activations: Tensor<4>,
    target: usize,
) -> Option<Tensor<3>> {
    if model.hidden.is_some() {
        return None;
    }
    let [s, c, h, w] = activations.dims();
    let weights = model.head.weight.val(); // [C, K] in Burn's layout
    let column = weights
        .slice([0..c, target..target + 1])
        .reshape([1, c, 1, 1]);
    Some((activations * column).sum_dim(1).reshape([s, h, w]))
}

/// Grad-CAM: `ReLU(sum_c mean_hw(d logit_target / dA[s, c]) A[s, c])` per slice (Selvaraju et
/// al. 2017), with the gradient taken through whatever pooling and head the model has.
pub fn grad_cam(model: &ExamModel, activations: Tensor<4>, target: usize) -> Tensor<3> {
    let [s, c, h, w] = activations.dims();
    let device = activations.device();
    let tracked = if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    };
    let model = model.clone().fork(&tracked);
    let a = Tensor::<4>::from_data(activations.clone().into_data(), &tracked).require_grad();
    let logits = model.from_activations(a.clone()).logits;
    let score = logits.slice([0..1, target..target + 1]).sum();
    let grads = score.backward();
    let gradient = a.grad(&grads).expect("activations take part in the logits");
    let gradient = Tensor::<4>::from_data(gradient.into_data(), &device);
    let weights = gradient.mean_dim(3).mean_dim(2).reshape([s, c, 1, 1]);
    relu((activations * weights).sum_dim(1).reshape([s, h, w]))
}

/// Each slice's share in the pooled exam features: for max pooling, the fraction of channels
/// whose maximum comes from that slice; for mean pooling, equal shares; for attention, the
/// attention weights. Sums to 1.
pub fn slice_importance(model: &ExamModel, slice_features: Tensor<2>) -> Vec<f64> {
    let [s, c] = slice_features.dims();
    let to_vec = |t: Tensor<1>| {
        t.into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .unwrap_or_default()
    };
    match (model.pooling(), &model.attention) {
        (SlicePooling::Attention, Some(score)) => {
            let weights = burn::tensor::activation::softmax(score.forward(slice_features), 0);
            to_vec(weights.reshape([s]))
        }
        (SlicePooling::Mean, _) => vec![1.0 / s as f64; s],
        _ => {
            let winners = slice_features.argmax(0).reshape([c]);
            let winners = winners
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap_or_default();
            let mut share = vec![0.0; s];
            for w in winners {
                share[w as usize] += 1.0 / c as f64;
            }
            share
        }
    }
}
