//! Class-weighted cross entropy, reduced as PyTorch does (`sum(w_y * nll) / sum(w_y)`).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_frequency_weights_favour_rare_classes() {
        assert_eq!(inverse_frequency_weights(&[462, 88, 59, 152])[0], 1.0);
        let w = inverse_frequency_weights(&[100, 50, 0]);
        assert_eq!(w, vec![1.0, 2.0, 0.0]);
    }
}
