//! The metrics at their edges, with answers worked out by hand: inputs they must refuse
//! (nothing to score, lengths that disagree, one class only, a NaN score), labels out of range,
//! the Youden threshold, calibration bins, the bootstrap interval's percentiles, and the
//! cumulative form's accessors. The mutation run of docs/testing.md found these unpinned.

use cruciate_eval::metrics::{
    Cumulative, accuracy, average_precision, balanced_accuracy, bootstrap_auc_interval,
    brier_score, class_report, confusion_matrix, expected_calibration_error, log_loss,
    operating_point, roc_auc, youden_point,
};

#[test]
fn metrics_refuse_what_they_cannot_score() {
    let (s, p) = (vec![0.2, 0.8], vec![false, true]);
    assert_eq!(roc_auc(&s, &p), Some(1.0));
    assert_eq!(roc_auc(&s[..1], &p), None, "lengths disagree");
    assert_eq!(roc_auc(&[0.2, f64::NAN], &p), None, "a NaN score");
    assert_eq!(roc_auc(&s, &[true, true]), None, "no negatives");
    assert_eq!(roc_auc(&s, &[false, false]), None, "no positives");
    assert_eq!(average_precision(&s, &p), Some(1.0));
    assert_eq!(average_precision(&s[..1], &p), None);
    assert_eq!(average_precision(&s, &[false, false]), None);
    assert!(operating_point(&s, &p, 0.5).is_some());
    assert!(operating_point(&s, &[true, true], 0.5).is_none());
    assert!(operating_point(&s, &[false, false], 0.5).is_none());
    assert!((brier_score(&s, &p).unwrap() - 0.04).abs() < 1e-12);
    assert_eq!(brier_score(&s[..1], &p), None);
    assert_eq!(brier_score(&[], &[]), None);
    let probs = vec![vec![0.8, 0.2], vec![0.2, 0.8]];
    assert!(log_loss(&probs, &[0, 1]).is_some());
    assert_eq!(log_loss(&probs, &[0]), None);
    assert_eq!(log_loss(&[], &[]), None);
    assert!(expected_calibration_error(&probs, &[0, 1], 10).is_some());
    assert_eq!(expected_calibration_error(&probs, &[0], 10), None);
    assert_eq!(expected_calibration_error(&probs, &[0, 1], 0), None);
    assert_eq!(expected_calibration_error(&[], &[], 10), None);
    assert_eq!(accuracy(&[1, 0], &[1, 0]), Some(1.0));
    assert_eq!(accuracy(&[1], &[1, 0]), None);
    assert_eq!(accuracy(&[], &[]), None);
    assert!(class_report(&[0, 1], &[0, 1], 2).is_some());
    assert!(class_report(&[0, 1], &[0], 2).is_none());
    assert!(class_report(&[], &[], 2).is_none());
    assert!(class_report(&[0, 1], &[0, 1], 0).is_none());
}

#[test]
fn a_certain_wrong_call_costs_the_clipped_log() {
    // scikit-learn clips to [1e-15, 1 - 1e-15]: -ln(1e-15) = 34.538776394910684.
    let loss = log_loss(&[vec![0.0, 1.0], vec![1.0, 0.0]], &[0, 0]).unwrap();
    assert!((loss - 34.538776394910684 / 2.0).abs() < 1e-9, "{loss}");
}

#[test]
fn labels_outside_the_classes_are_left_out_of_the_matrix() {
    let m = confusion_matrix(&[0, 2, 1, 1], &[0, 1, 2, 1], 2);
    assert_eq!(m, vec![vec![1, 0], vec![0, 1]]);
}

#[test]
fn balanced_accuracy_averages_only_the_classes_present() {
    // Three classes, the third absent: recalls 1/2 and 1, mean 0.75 (scikit-learn warns and
    // leaves absent classes out the same way).
    let b = balanced_accuracy(&[0, 0, 1], &[0, 1, 1], 3).unwrap();
    assert!((b - 0.75).abs() < 1e-12, "{b}");
}

#[test]
fn youden_picks_the_highest_threshold_of_the_best_j() {
    // scikit-learn's roc_curve example: thresholds 0.8 (tpr 0.5, fpr 0), 0.4 (0.5, 0.5),
    // 0.35 (1, 0.5), 0.1 (1, 1). J is 0.5 at 0.8 and at 0.35; the higher one wins.
    let scores = [0.1, 0.4, 0.35, 0.8];
    let positive = [false, false, true, true];
    let y = youden_point(&scores, &positive).unwrap();
    assert_eq!(y.threshold, 0.8);
    assert_eq!((y.sensitivity, y.specificity), (0.5, 1.0));
    // Without the tie, the best J is taken: 0.35 separates perfectly here.
    let y = youden_point(&[0.1, 0.4, 0.35, 0.8], &[false, true, true, true]).unwrap();
    assert_eq!(y.threshold, 0.35);
    assert_eq!((y.sensitivity, y.specificity), (1.0, 1.0));
    // The best J after points with false positives: thresholds 0.9 (J -0.5), 0.8 (0),
    // 0.7 (0.5), 0.1 (0).
    let y = youden_point(&[0.9, 0.8, 0.7, 0.1], &[false, true, true, false]).unwrap();
    assert_eq!(y.threshold, 0.7);
    assert_eq!((y.sensitivity, y.specificity), (1.0, 0.5));
}

#[test]
fn calibration_bins_are_tenths_of_confidence() {
    // 0.9 right in (0.8, 0.9]: |1 - 0.9| = 0.1; 0.6 wrong and 0.55 right in (0.5, 0.6]:
    // |1 - 1.15| = 0.15. ECE = (0.1 + 0.15) / 3.
    let p = vec![vec![0.9, 0.1], vec![0.6, 0.4], vec![0.55, 0.45]];
    let ece = expected_calibration_error(&p, &[0, 1, 0], 10).unwrap();
    assert!((ece - 0.25 / 3.0).abs() < 1e-12, "{ece}");
}

#[test]
fn the_bootstrap_interval_takes_the_percentiles_of_its_resamples() {
    let scores: Vec<f64> = (0..40).map(|i| f64::from(i % 7) / 7.0).collect();
    let positive: Vec<bool> = (0..40).map(|i| i % 3 == 0 || i % 7 == 6).collect();
    // Level 0: both ends are the median resample (the middle of three).
    let [lo, hi] = bootstrap_auc_interval(&scores, &positive, 3, 0.0, 5).unwrap();
    assert_eq!(lo, hi, "level 0 gives the median");
    // Level 1: the smallest and the largest of the three, around the median.
    let [min, max] = bootstrap_auc_interval(&scores, &positive, 3, 1.0, 5).unwrap();
    assert!(min < lo && lo < max, "{min} {lo} {max}");
    // One resample: one AUC, whatever the level.
    let [a, b] = bootstrap_auc_interval(&scores, &positive, 1, 1.0, 5).unwrap();
    assert_eq!(a, b, "exactly as many resamples as asked");
    // 95 % of 1000 resamples: the 25th and the 975th in order, inside the 99 % interval.
    let [l95, h95] = bootstrap_auc_interval(&scores, &positive, 1000, 0.95, 5).unwrap();
    let [l99, h99] = bootstrap_auc_interval(&scores, &positive, 1000, 0.99, 5).unwrap();
    assert!(l99 < l95 && h95 < h99, "{l99} {l95} {h95} {h99}");
    let auc = roc_auc(&scores, &positive).unwrap();
    assert!(l95 < auc && auc < h95);
    // No resamples, or a level that is not a share: no interval.
    assert_eq!(bootstrap_auc_interval(&scores, &positive, 0, 0.95, 5), None);
    for level in [-0.1, 1.5, f64::NAN] {
        assert_eq!(
            bootstrap_auc_interval(&scores, &positive, 10, level, 5),
            None
        );
    }
}

#[test]
fn the_cumulative_form_hands_back_what_it_gathered() {
    let mut c = Cumulative::new(2);
    assert!(c.is_empty());
    c.push(vec![0.7, 0.3], 0);
    c.push(vec![0.4, 0.6], 1);
    c.push(vec![0.2, 0.8], 0);
    assert!(!c.is_empty());
    assert_eq!(c.len(), 3);
    assert_eq!(c.actual(), [0, 1, 0]);
    assert_eq!(
        c.probabilities(),
        [vec![0.7, 0.3], vec![0.4, 0.6], vec![0.2, 0.8]]
    );
    let s = c.summary(0.5, 50, 1);
    // The injured score is 1 - P(healthy): 0.3, 0.6, 0.8 against healthy, injured, healthy.
    let brier = ((0.3f64 - 0.0).powi(2) + (0.6f64 - 1.0).powi(2) + (0.8f64 - 0.0).powi(2)) / 3.0;
    assert!((s.brier.unwrap() - brier).abs() < 1e-12);
    assert_eq!(s.auc, Some(0.5));
    assert_eq!(
        s.auc_ovr_macro, None,
        "one-vs-rest is for more than two classes"
    );
}
