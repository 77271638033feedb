//! Metrics over whole prediction sets (not batch averages).

/// Fraction of `predicted[i] == actual[i]`; `None` for no samples.
pub fn accuracy(predicted: &[usize], actual: &[usize]) -> Option<f64> {
    if predicted.is_empty() || predicted.len() != actual.len() {
        return None;
    }
    let hits = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    Some(hits as f64 / predicted.len() as f64)
}

/// Area under the ROC curve of `scores` for `positive` labels (Mann-Whitney, ties count half).
/// `None` when either class is absent or a score is not a number.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    if scores.len() != positive.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = pairs.iter().filter(|p| p.1).count() as f64;
    let neg = pairs.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Sum of positive ranks with ties given their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * pairs[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_known_rankings() {
        // Perfect, inverted, and sklearn's roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75.
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8], &[false, false, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.2], &[false, true]), Some(0.0));
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // All tied: chance.
        assert_eq!(roc_auc(&[0.5; 4], &[false, true, false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.6], &[true, true]), None);
    }

    #[test]
    fn accuracy_counts_hits() {
        assert_eq!(accuracy(&[0, 1, 1, 3], &[0, 1, 2, 3]), Some(0.75));
        assert_eq!(accuracy(&[], &[]), None);
    }
}
