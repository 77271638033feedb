//! Ranking metrics of a score against a binary truth: ROC curve and AUC (binary, and one-vs-rest
//! macro for several classes), a bootstrap interval for the AUC, average precision (PR AUC),
//! sensitivity and specificity at a threshold and at Youden's J.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

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

/// One-vs-rest ROC AUC averaged over classes (scikit-learn's `multi_class="ovr"`,
/// `average="macro"`); `probabilities[i][k]` is exam i's score for class k. Classes absent from
/// `actual` are left out of the mean; `None` when no class can be scored.
pub fn roc_auc_ovr_macro(
    probabilities: &[Vec<f64>],
    actual: &[usize],
    classes: usize,
) -> Option<f64> {
    let aucs: Vec<f64> = (0..classes)
        .filter_map(|k| {
            let scores: Vec<f64> = probabilities
                .iter()
                .map(|p| p.get(k).copied().unwrap_or(f64::NAN))
                .collect();
            let positive: Vec<bool> = actual.iter().map(|&a| a == k).collect();
            roc_auc(&scores, &positive)
        })
        .collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// The ROC curve as `(false positive rate, true positive rate, threshold)` at every distinct
/// score, highest first, starting at `(0, 0, +inf)` (scikit-learn's `roc_curve` with
/// `drop_intermediate=False`).
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pos = positive.iter().filter(|&&p| p).count() as f64;
    let neg = positive.len() as f64 - pos;
    let mut curve = vec![(0.0, 0.0, f64::INFINITY)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (n, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order.get(n + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            curve.push((fp / neg, tp / pos, scores[i]));
        }
    }
    curve
}

/// Average precision (PR AUC as scikit-learn's `average_precision_score`): the precision at each
/// distinct threshold weighted by the recall gained there. `None` without positives.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let pos = positive.iter().filter(|&&p| p).count() as f64;
    if pos == 0.0 || scores.len() != positive.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut recall, mut ap) = (0.0, 0.0, 0.0, 0.0);
    for (n, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if order.get(n + 1).is_none_or(|&j| scores[j] != scores[i]) {
            let new_recall = tp / pos;
            ap += (new_recall - recall) * tp / (tp + fp);
            recall = new_recall;
        }
    }
    Some(ap)
}

/// Sensitivity and specificity when exams scoring at least `threshold` are called positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    /// The threshold.
    pub threshold: f64,
    /// True positive rate.
    pub sensitivity: f64,
    /// True negative rate.
    pub specificity: f64,
}

/// The operating point at `threshold`; `None` when either class is absent.
pub fn operating_point(
    scores: &[f64],
    positive: &[bool],
    threshold: f64,
) -> Option<OperatingPoint> {
    let pos = positive.iter().filter(|&&p| p).count() as f64;
    let neg = positive.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let called = |want: bool| {
        scores
            .iter()
            .zip(positive)
            .filter(|(s, p)| **p == want && **s >= threshold)
            .count() as f64
    };
    Some(OperatingPoint {
        threshold,
        sensitivity: called(true) / pos,
        specificity: 1.0 - called(false) / neg,
    })
}

/// The threshold that maximises Youden's J (sensitivity + specificity - 1), the highest such
/// threshold on ties.
pub fn youden_point(scores: &[f64], positive: &[bool]) -> Option<OperatingPoint> {
    let curve = roc_curve(scores, positive);
    let best =
        curve
            .iter()
            .skip(1)
            .fold(None::<(f64, f64)>, |best, &(fpr, tpr, t)| match best {
                Some((j, _)) if j >= tpr - fpr => best,
                _ => Some((tpr - fpr, t)),
            })?;
    operating_point(scores, positive, best.1)
}

/// Percentile bootstrap interval `[low, high]` of the ROC AUC at `level` (0.95 for 95 %) from
/// `resamples` resamples of the exams drawn with `seed`; resamples with one class are redrawn.
/// `None` where the AUC is undefined, for no resamples, or for a level outside `[0, 1]`.
pub fn bootstrap_auc_interval(
    scores: &[f64],
    positive: &[bool],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<[f64; 2]> {
    roc_auc(scores, positive)?;
    if resamples == 0 || !(0.0..=1.0).contains(&level) {
        return None;
    }
    let n = scores.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut aucs = Vec::with_capacity(resamples);
    let (mut s, mut p) = (vec![0.0; n], vec![false; n]);
    while aucs.len() < resamples {
        for k in 0..n {
            let i = rand::RngExt::random_range(&mut rng, 0..n);
            s[k] = scores[i];
            p[k] = positive[i];
        }
        if let Some(auc) = roc_auc(&s, &p) {
            aucs.push(auc);
        }
    }
    aucs.sort_by(f64::total_cmp);
    // q lies in [0, 1], so the index in [0, len - 1].
    let at = |q: f64| aucs[(q * (aucs.len() - 1) as f64).round() as usize];
    let tail = (1.0 - level) / 2.0;
    Some([at(tail), at(1.0 - tail)])
}
