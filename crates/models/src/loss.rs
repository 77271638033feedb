//! Class-weighted cross entropy: reduced as PyTorch does (`sum(w_y * nll) / sum(w_y)`), for
//! parity with PyTorch's `CrossEntropyLoss(weight=...)`; and per exam (`sum(w_y * nll) / N`), the
//! training loss, which keeps the weights when a step holds a single exam.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Inverse-frequency class weights normalised so that the most frequent class weighs 1.
pub fn inverse_frequency_weights(counts: &[usize]) -> Vec<f32> {
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f32;
    counts
        .iter()
        .map(|&c| if c == 0 { 0.0 } else { max / c as f32 })
        .collect()
}

/// Mean weighted cross entropy of `logits` `[N, K]` against integer `targets` `[N]`.
pub fn weighted_cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    weights: Option<&[f32]>,
) -> Tensor<1> {
    let device = logits.device();
    CrossEntropyLossConfig::new()
        .with_weights(weights.map(<[f32]>::to_vec))
        .init(&device)
        .forward(logits, targets)
}

/// Mean over exams of each exam's cross entropy times its class's weight, `sum(w_y * nll) / N`
/// (MRNet's per-exam weights), for `logits` `[N, K]` and integer `targets` `[N]`.
///
/// This is the training loss rather than [`weighted_cross_entropy`]: PyTorch's and Burn's
/// weighted mean divides by `sum(w_y)`, which for a step of one exam (every exam has its own
/// slice count, so a step holds one, and `train.batch_size` accumulates gradients of such steps)
/// cancels the weight, so that the class weights would change nothing.
pub fn exam_weighted_cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    weights: Option<&[f32]>,
) -> Tensor<1> {
    let [n, _] = logits.dims();
    let device = logits.device();
    let nll = -log_softmax(logits, 1)
        .gather(1, targets.clone().reshape([n, 1]))
        .reshape([n]);
    let weighted = match weights {
        Some(w) => {
            let w = Tensor::<1>::from_data(TensorData::new(w.to_vec(), [w.len()]), &device);
            nll * w.gather(0, targets)
        }
        None => nll,
    };
    weighted.mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    /// One exam per step: the torch-style weighted mean is the plain loss whatever the weights,
    /// the per-exam loss scales it by the exam's class weight.
    #[test]
    fn per_exam_weights_survive_a_step_of_one_exam() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::new(vec![0.3f32, -0.2], [1, 2]), &device);
        let positive = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &device);
        let plain = scalar(weighted_cross_entropy(
            logits.clone(),
            positive.clone(),
            None,
        ));
        let torch_style = scalar(weighted_cross_entropy(
            logits.clone(),
            positive.clone(),
            Some(&[1.0, 3.0]),
        ));
        assert!(
            (torch_style - plain).abs() < 1e-6,
            "PyTorch's reduction cancels the weight"
        );
        // -log softmax: log(1 + e^(0.3 + 0.2)) for the second class.
        let nll = (1.0f32 + 0.5f32.exp()).ln();
        assert!((plain - nll).abs() < 1e-6, "{plain} vs {nll}");
        let ours = scalar(exam_weighted_cross_entropy(
            logits.clone(),
            positive,
            Some(&[1.0, 3.0]),
        ));
        assert!((ours - 3.0 * nll).abs() < 1e-5, "{ours} vs {}", 3.0 * nll);

        // Two exams, one per class: (1 * nll_0 + 3 * nll_1) / 2.
        let two = Tensor::<2>::from_data(
            TensorData::new(vec![0.3f32, -0.2, 0.3, -0.2], [2, 2]),
            &device,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &device);
        let nll_0 = (1.0f32 + (-0.5f32).exp()).ln();
        let ours = scalar(exam_weighted_cross_entropy(
            two.clone(),
            targets.clone(),
            Some(&[1.0, 3.0]),
        ));
        assert!((ours - (nll_0 + 3.0 * nll) / 2.0).abs() < 1e-5, "{ours}");
        let unweighted = scalar(exam_weighted_cross_entropy(
            two.clone(),
            targets.clone(),
            None,
        ));
        let reference = scalar(weighted_cross_entropy(two, targets, None));
        assert!(
            (unweighted - reference).abs() < 1e-6,
            "without weights, the plain mean"
        );
    }

    #[test]
    fn inverse_frequency_weights_favour_rare_classes() {
        assert_eq!(inverse_frequency_weights(&[462, 88, 59, 152])[0], 1.0);
        let w = inverse_frequency_weights(&[100, 50, 0]);
        assert_eq!(w, vec![1.0, 2.0, 0.0]);
    }
}
