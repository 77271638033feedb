//! The metrics against scikit-learn 1.9.1: the reference values below were computed once with
//! `sklearn_reference.py` (beside this file) and are stored here; they must match to 1e-9.

use cruciate_eval::metrics::*;

const Y_BIN: [usize; 20] = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1];
const S_BIN: [f64; 20] = [
    0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4, 0.65, 0.7, 0.05, 0.55, 0.3, 0.6, 0.95, 0.15, 0.5, 0.5,
    0.25, 0.85,
];
const Y4: [usize; 16] = [0, 1, 2, 3, 0, 0, 1, 3, 2, 0, 3, 1, 0, 2, 3, 0];
const P4: [[f64; 4]; 16] = [
    [0.7, 0.1, 0.1, 0.1],
    [0.2, 0.5, 0.2, 0.1],
    [0.1, 0.2, 0.3, 0.4],
    [0.1, 0.1, 0.2, 0.6],
    [0.4, 0.3, 0.2, 0.1],
    [0.25, 0.25, 0.25, 0.25],
    [0.6, 0.2, 0.1, 0.1],
    [0.05, 0.05, 0.1, 0.8],
    [0.1, 0.1, 0.7, 0.1],
    [0.3, 0.4, 0.2, 0.1],
    [0.2, 0.2, 0.3, 0.3],
    [0.1, 0.6, 0.2, 0.1],
    [0.5, 0.2, 0.2, 0.1],
    [0.2, 0.2, 0.5, 0.1],
    [0.1, 0.3, 0.2, 0.4],
    [0.9, 0.05, 0.03, 0.02],
];

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

fn positive() -> Vec<bool> {
    Y_BIN.iter().map(|&y| y == 1).collect()
}

fn probabilities() -> Vec<Vec<f64>> {
    P4.iter().map(|p| p.to_vec()).collect()
}

#[test]
fn binary_ranking_metrics_match_sklearn() {
    let pos = positive();
    close(roc_auc(&S_BIN, &pos).unwrap(), 0.805);
    close(average_precision(&S_BIN, &pos).unwrap(), 0.8208241758241758);
    close(brier_score(&S_BIN, &pos).unwrap(), 0.174);
    let curve = roc_curve(&S_BIN, &pos);
    let fpr = [
        0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.5, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    ];
    let tpr = [
        0.1, 0.2, 0.3, 0.4, 0.4, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    ];
    let thr = [
        0.95, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05,
    ];
    assert_eq!(curve.len(), fpr.len() + 1);
    assert_eq!(curve[0], (0.0, 0.0, f64::INFINITY));
    for (i, &(f, t, h)) in curve[1..].iter().enumerate() {
        close(f, fpr[i]);
        close(t, tpr[i]);
        close(h, thr[i]);
    }
}

#[test]
fn operating_points_follow_the_roc_curve() {
    let pos = positive();
    // At 0.5: tpr 0.7, fpr 0.3 (the curve's point at threshold 0.5).
    let p = operating_point(&S_BIN, &pos, 0.5).unwrap();
    close(p.sensitivity, 0.7);
    close(p.specificity, 0.7);
    // J = tpr - fpr along scikit-learn's curve: 0.4 at 0.55, 0.5 and 0.35, and its single
    // maximum 0.5 at 0.3.
    let y = youden_point(&S_BIN, &pos).unwrap();
    close(y.sensitivity - (1.0 - y.specificity), 0.5);
    close(y.threshold, 0.3);
    // A genuine tie: J = 0.5 at 0.8 and at 0.4. The first maximum along the curve (numpy's
    // argmax over scikit-learn's descending thresholds) is the highest threshold, 0.8, with
    // sensitivity 0.5 and specificity 1.
    let tie = youden_point(&[0.2, 0.4, 0.6, 0.8], &[false, true, false, true]).unwrap();
    close(tie.threshold, 0.8);
    close(tie.sensitivity, 0.5);
    close(tie.specificity, 1.0);
}

#[test]
fn an_asymmetric_confusion_matrix_keeps_its_axes() {
    // Y4 with three labels changed: rows are true classes, columns calls, and precision
    // differs from recall, so a transposed matrix or swapped arguments fail.
    let mut y = Y4;
    y[1] = 2;
    y[9] = 3;
    y[13] = 1;
    let pred: Vec<usize> = probabilities().iter().map(|p| argmax(p)).collect();
    assert_eq!(
        confusion_matrix(&y, &pred, 4),
        vec![
            vec![5, 0, 0, 0],
            vec![1, 1, 1, 0],
            vec![0, 1, 1, 1],
            vec![0, 1, 1, 3]
        ]
    );
    let r = class_report(&y, &pred, 4).unwrap();
    let precision = [
        0.8333333333333334,
        0.3333333333333333,
        0.3333333333333333,
        0.75,
    ];
    let recall = [1.0, 0.3333333333333333, 0.3333333333333333, 0.6];
    let f1 = [
        0.9090909090909091,
        0.3333333333333333,
        0.3333333333333333,
        0.6666666666666666,
    ];
    for (k, c) in r.classes.iter().enumerate() {
        close(c.precision, precision[k]);
        close(c.recall, recall[k]);
        close(c.f1, f1[k]);
    }
    assert_eq!(
        r.classes.iter().map(|c| c.support).collect::<Vec<_>>(),
        vec![5, 3, 3, 5]
    );
    close(balanced_accuracy(&y, &pred, 4).unwrap(), 0.5666666666666667);
}

#[test]
fn multiclass_metrics_match_sklearn() {
    let probs = probabilities();
    let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    assert_eq!(pred, vec![0, 1, 3, 3, 0, 0, 0, 3, 2, 1, 2, 1, 0, 2, 3, 0]);
    close(accuracy(&pred, &Y4).unwrap(), 0.75);
    close(
        balanced_accuracy(&Y4, &pred, 4).unwrap(),
        0.7291666666666666,
    );
    let r = class_report(&Y4, &pred, 4).unwrap();
    let expected = [
        0.8333333333333334,
        0.6666666666666666,
        0.6666666666666666,
        0.75,
    ];
    for (c, e) in r.classes.iter().zip(expected) {
        close(c.precision, e);
        close(c.recall, e);
        close(c.f1, e);
    }
    assert_eq!(
        r.classes.iter().map(|c| c.support).collect::<Vec<_>>(),
        vec![6, 3, 3, 4]
    );
    for v in [r.macro_avg.precision, r.macro_avg.recall, r.macro_avg.f1] {
        close(v, 0.7291666666666666);
    }
    for v in [
        r.weighted_avg.precision,
        r.weighted_avg.recall,
        r.weighted_avg.f1,
    ] {
        close(v, 0.75);
    }
    assert_eq!(
        confusion_matrix(&Y4, &pred, 4),
        vec![
            vec![5, 1, 0, 0],
            vec![1, 2, 0, 0],
            vec![0, 0, 2, 1],
            vec![0, 0, 1, 3]
        ]
    );
    close(
        roc_auc_ovr_macro(&probs, &Y4, 4).unwrap(),
        0.9338541666666667,
    );
    close(log_loss(&probs, &Y4).unwrap(), 0.7864486808963391);
}

#[test]
fn cumulative_form_equals_the_pure_functions() {
    let mut acc = Cumulative::new(4);
    for (p, &y) in P4.iter().zip(&Y4) {
        acc.push(p.to_vec(), y);
    }
    let s = acc.summary(0.5, 200, 7);
    let probs = probabilities();
    assert_eq!(s.count, 16);
    close(s.accuracy.unwrap(), 0.75);
    close(s.auc_ovr_macro.unwrap(), 0.9338541666666667);
    close(s.log_loss.unwrap(), 0.7864486808963391);
    // scikit-learn's roc_auc_score(y4 > 0, 1 - p4[:, 0]).
    close(s.auc.unwrap(), 0.9333333333333333);
    let injured: Vec<bool> = Y4.iter().map(|&y| y > 0).collect();
    let score: Vec<f64> = probs.iter().map(|p| 1.0 - p[0]).collect();
    close(roc_auc(&score, &injured).unwrap(), 0.9333333333333333);
    let [lo, hi] = s.auc_ci.unwrap();
    assert!(
        lo <= s.auc.unwrap() && s.auc.unwrap() <= hi && lo < hi,
        "{lo} {hi}"
    );
    assert_eq!(
        s.auc_ci,
        acc.summary(0.5, 200, 7).auc_ci,
        "seeded bootstrap"
    );
    let ece = s.ece.unwrap();
    assert!((0.0..=1.0).contains(&ece));
}

#[test]
fn expected_calibration_error_of_known_cases() {
    // Perfectly calibrated: confidence 1 and always right.
    close(
        expected_calibration_error(&[vec![1.0, 0.0], vec![0.0, 1.0]], &[0, 1], 10).unwrap(),
        0.0,
    );
    // Confidence 0.8 in one bin, right half the time: |0.5 - 0.8| = 0.3.
    let p = vec![vec![0.8, 0.2], vec![0.8, 0.2]];
    close(expected_calibration_error(&p, &[0, 1], 10).unwrap(), 0.3);
}
