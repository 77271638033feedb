//! Counting metrics: confusion matrix, accuracy, balanced accuracy, per-class precision, recall
//! and F1 with macro and weighted averages (scikit-learn's `classification_report`).

use serde::Serialize;

/// Index of the largest value, the first one on ties (as NumPy's `argmax`); 0 when empty.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// `m[actual][predicted]` counts over `classes` classes; labels outside the range are skipped.
pub fn confusion_matrix(actual: &[usize], predicted: &[usize], classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0; classes]; classes];
    for (&a, &p) in actual.iter().zip(predicted) {
        if a < classes && p < classes {
            m[a][p] += 1;
        }
    }
    m
}

/// Fraction of `predicted[i] == actual[i]`; `None` for no samples or unequal lengths.
pub fn accuracy(predicted: &[usize], actual: &[usize]) -> Option<f64> {
    if predicted.is_empty() || predicted.len() != actual.len() {
        return None;
    }
    let hits = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    Some(hits as f64 / predicted.len() as f64)
}

/// Mean recall over the classes present in `actual` (scikit-learn's `balanced_accuracy_score`).
pub fn balanced_accuracy(actual: &[usize], predicted: &[usize], classes: usize) -> Option<f64> {
    let report = class_report(actual, predicted, classes)?;
    let present: Vec<f64> = report
        .classes
        .iter()
        .filter(|c| c.support > 0)
        .map(|c| c.recall)
        .collect();
    Some(present.iter().sum::<f64>() / present.len() as f64)
}

/// One class's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerClass {
    /// Of the exams called this class, the fraction that are (0 when none are called).
    pub precision: f64,
    /// Of the exams of this class, the fraction called so (sensitivity).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Exams of this class.
    pub support: u64,
}

/// The layout of the study's tables: per class, then macro and weighted averages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// Per class, in class order.
    pub classes: Vec<PerClass>,
    /// Unweighted mean over classes.
    pub macro_avg: PerClass,
    /// Mean weighted by support.
    pub weighted_avg: PerClass,
}

/// Precision, recall and F1 per class with averages, as scikit-learn computes them with
/// `zero_division=0`. `None` for no samples.
pub fn class_report(actual: &[usize], predicted: &[usize], classes: usize) -> Option<ClassReport> {
    if actual.is_empty() || actual.len() != predicted.len() || classes == 0 {
        return None;
    }
    let m = confusion_matrix(actual, predicted, classes);
    let per: Vec<PerClass> = (0..classes)
        .map(|k| {
            let tp = m[k][k] as f64;
            let called: u64 = (0..classes).map(|a| m[a][k]).sum();
            let support: u64 = m[k].iter().sum();
            let ratio = |n: f64, d: u64| if d == 0 { 0.0 } else { n / d as f64 };
            let (precision, recall) = (ratio(tp, called), ratio(tp, support));
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            PerClass {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let total: u64 = per.iter().map(|c| c.support).sum();
    let average = |weight: &dyn Fn(&PerClass) -> f64, norm: f64| PerClass {
        precision: per.iter().map(|c| weight(c) * c.precision).sum::<f64>() / norm,
        recall: per.iter().map(|c| weight(c) * c.recall).sum::<f64>() / norm,
        f1: per.iter().map(|c| weight(c) * c.f1).sum::<f64>() / norm,
        support: total,
    };
    Some(ClassReport {
        macro_avg: average(&|_| 1.0, classes as f64),
        weighted_avg: average(&|c| c.support as f64, total as f64),
        classes: per,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_recall_are_not_swapped_and_empty_classes_score_zero() {
        let r = class_report(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 1], 3).unwrap();
        let pr: Vec<(f64, f64)> = r.classes.iter().map(|c| (c.precision, c.recall)).collect();
        assert_eq!(pr, vec![(1.0, 0.5), (0.5, 1.0), (0.0, 0.0)]);
        assert!((r.classes[0].f1 - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(r.classes[2].f1, 0.0);
        assert_eq!(argmax(&[0.25, 0.25, 0.5, 0.5]), 2);
    }
}
