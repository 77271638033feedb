//! The SVM and the logistic regression against scikit-learn on a stored feature matrix
//! (`tests/data`, made by `tests/data/sklearn_reference.py`): 300 training and 200 test rows of
//! 64 features in four grades. Both pipelines standardise with the training rows' statistics.
//! scikit-learn's Platt folds come from LIBSVM's `rand()`, Cruciate's from its own seeded
//! generator, so probabilities agree closely but not exactly; decision values come from the same
//! solver on the same problem and agree to the solver's tolerance.

use std::path::Path;

use cruciate_svm::{
    ClassWeight, FeatureModel, Gamma, KernelKind, LogisticSettings, Matrix, ModelSettings,
    SvcSettings,
};
use cruciate_testkit::read_npy_f32;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    read_npy_f32(&Path::new(DATA).join(format!("{name}.npy")))
}

struct Split {
    x: Matrix,
    y: Vec<usize>,
}

fn split(part: &str) -> Split {
    let (shape, x) = npy(&format!("x_{part}"));
    let (_, y) = npy(&format!("y_{part}"));
    Split {
        x: Matrix::new(shape[0], shape[1], x).unwrap(),
        y: y.into_iter().map(|v| v as usize).collect(),
    }
}

fn binary(y: &[usize]) -> Vec<usize> {
    y.iter().map(|&g| usize::from(g > 0)).collect()
}

/// Mann-Whitney AUC of scores for the positive rows.
fn auc(scores: &[f64], positive: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if positive[i] && !positive[j] {
                pairs += 1.0;
                wins += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    wins / pairs
}

fn probabilities(model: &FeatureModel, x: &Matrix) -> Vec<Vec<f64>> {
    x.iter_rows()
        .map(|r| model.probabilities(r).unwrap())
        .collect()
}

fn reference_rows(name: &str) -> Vec<Vec<f64>> {
    let (shape, p) = npy(name);
    p.chunks_exact(shape[1])
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

fn svm(kernel: KernelKind, c: f64, class_weight: ClassWeight) -> SvcSettings {
    SvcSettings {
        kernel,
        c,
        gamma: Gamma::Scale,
        class_weight,
        ..SvcSettings::default()
    }
}

fn check_binary(name: &str, settings: SvcSettings) {
    let (train, test) = (split("train"), split("test"));
    let model = ModelSettings::Svm(settings)
        .fit(&train.x, &binary(&train.y), 2)
        .unwrap();
    let FeatureModel::Svm(svc) = &model else {
        unreachable!()
    };
    let (_, decision) = npy(&format!("{name}_decision"));
    let ours: Vec<f64> = test
        .x
        .iter_rows()
        .map(|r| svc.decision_function(r).unwrap())
        .collect();
    let agree = ours
        .iter()
        .zip(&decision)
        .filter(|(a, b)| (**a > 0.0) == (**b > 0.0))
        .count();
    assert!(
        agree as f64 >= 0.99 * ours.len() as f64,
        "{name}: signs agree on {agree} of {}",
        ours.len()
    );
    let worst = ours
        .iter()
        .zip(&decision)
        .map(|(a, &b)| (a - f64::from(b)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 0.02,
        "{name}: decision values differ by up to {worst}"
    );

    let positive: Vec<bool> = binary(&test.y).iter().map(|&c| c == 1).collect();
    let p1: Vec<f64> = probabilities(&model, &test.x)
        .iter()
        .map(|p| p[1])
        .collect();
    let reference: Vec<f64> = reference_rows(&format!("{name}_proba"))
        .iter()
        .map(|p| p[1])
        .collect();
    let (a, b) = (auc(&p1, &positive), auc(&reference, &positive));
    assert!((a - b).abs() < 0.01, "{name}: AUC {a} vs scikit-learn {b}");
    assert!(
        a > 0.7,
        "{name}: the test data should be learnable (AUC {a})"
    );
    let mean_gap = p1
        .iter()
        .zip(&reference)
        .map(|(x, y)| (x - y).abs())
        .sum::<f64>()
        / 200.0;
    assert!(
        mean_gap < 0.03,
        "{name}: probabilities differ by {mean_gap} on average"
    );
}

#[test]
fn binary_rbf_svm_with_balanced_weights_agrees_with_scikit_learn() {
    check_binary(
        "binary_rbf_balanced",
        svm(KernelKind::Rbf, 1.0, ClassWeight::Balanced),
    );
}

#[test]
fn binary_linear_svm_agrees_with_scikit_learn() {
    check_binary(
        "binary_linear",
        svm(KernelKind::Linear, 0.05, ClassWeight::None),
    );
}

#[test]
fn four_grade_svm_couples_pairs_as_scikit_learn_does() {
    let (train, test) = (split("train"), split("test"));
    let model = ModelSettings::Svm(svm(KernelKind::Rbf, 2.0, ClassWeight::Balanced))
        .fit(&train.x, &train.y, 4)
        .unwrap();
    let ours = probabilities(&model, &test.x);
    let reference = reference_rows("grade_rbf_balanced_proba");
    let argmax = |p: &[f64]| (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    let same = ours
        .iter()
        .zip(&reference)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    assert!(same >= 190, "most probable grade agrees on {same} of 200");
    for (a, b) in ours.iter().zip(&reference) {
        assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let gap = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(gap < 0.15, "grade probabilities {a:?} vs {b:?}");
    }
    let mean_gap = ours
        .iter()
        .zip(&reference)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .sum::<f64>()
        / 800.0;
    assert!(
        mean_gap < 0.02,
        "grade probabilities differ by {mean_gap} on average"
    );
}

#[test]
fn logistic_regression_matches_scikit_learn() {
    let (train, test) = (split("train"), split("test"));
    for (name, y, classes) in [
        ("binary_logistic", binary(&train.y), 2),
        ("grade_logistic", train.y.clone(), 4),
    ] {
        let settings = LogisticSettings {
            c: 0.5,
            class_weight: ClassWeight::Balanced,
            ..LogisticSettings::default()
        };
        let model = ModelSettings::Logistic(settings)
            .fit(&train.x, &y, classes)
            .unwrap();
        let ours = probabilities(&model, &test.x);
        let reference = reference_rows(&format!("{name}_proba"));
        let worst = ours
            .iter()
            .zip(&reference)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-3,
            "{name}: probabilities differ by up to {worst}"
        );
    }
}
