//! Probability quality: log loss, Brier score and expected calibration error.

/// Mean negative log probability of the true class (scikit-learn's `log_loss`, probabilities
/// clipped to `[1e-15, 1 - 1e-15]`). `None` for no samples.
pub fn log_loss(probabilities: &[Vec<f64>], actual: &[usize]) -> Option<f64> {
    if probabilities.is_empty() || probabilities.len() != actual.len() {
        return None;
    }
    let total: f64 = probabilities
        .iter()
        .zip(actual)
        .map(|(p, &a)| {
            -p.get(a)
                .copied()
                .unwrap_or(0.0)
                .clamp(1e-15, 1.0 - 1e-15)
                .ln()
        })
        .sum();
    Some(total / actual.len() as f64)
}

/// Mean squared difference between the positive-class probability and the truth (scikit-learn's
/// binary `brier_score_loss`).
pub fn brier_score(scores: &[f64], positive: &[bool]) -> Option<f64> {
    if scores.is_empty() || scores.len() != positive.len() {
        return None;
    }
    let total: f64 = scores
        .iter()
        .zip(positive)
        .map(|(s, &p)| (s - if p { 1.0 } else { 0.0 }).powi(2))
        .sum();
    Some(total / scores.len() as f64)
}

/// Expected calibration error over `bins` equal-width confidence bins: the support-weighted mean
/// of |accuracy - mean confidence| of the top class (Guo et al. 2017).
pub fn expected_calibration_error(
    probabilities: &[Vec<f64>],
    actual: &[usize],
    bins: usize,
) -> Option<f64> {
    if probabilities.is_empty() || probabilities.len() != actual.len() || bins == 0 {
        return None;
    }
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); bins];
    for (p, &a) in probabilities.iter().zip(actual) {
        let (top, confidence) = p
            .iter()
            .copied()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(&y.1))?;
        // Bins (i/B, (i+1)/B]; a confidence of 0 goes to the first.
        let bin = ((confidence * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        sums[bin].0 += confidence;
        sums[bin].1 += f64::from(u8::from(top == a));
        sums[bin].2 += 1;
    }
    let n = actual.len() as f64;
    Some(
        sums.iter()
            .filter(|b| b.2 > 0)
            .map(|&(conf, hits, _)| (hits - conf).abs() / n)
            .sum::<f64>(),
    )
}
