//! MRNet's combiner fitted and scored: the plane networks of one finding score the exams of a
//! fitting split (exams none of them trained on: the validation split) and of a report split;
//! a logistic regression over their probabilities is fitted for every set of planes on the
//! first and every plane and every combination is scored by ROC AUC, with a bootstrap interval,
//! on the second.
//!
//! The regression is written here rather than taken from a crate: it has at most three inputs
//! and an intercept and is fitted by Newton's method in a few lines, where `linfa-logistic`
//! would bring `ndarray` and `argmin` for the same. It minimises what scikit-learn's
//! `LogisticRegression` does by default (L2 penalty `|w|^2 / 2` plus `C` times the log loss,
//! the intercept not penalised), and a test holds it to scikit-learn's coefficients.

use std::collections::HashMap;

use cruciate_data::{Finding, Manifest, Split};
use cruciate_infer::{Classifier, PlaneWeights, Progress};
use cruciate_volume::Plane;
use serde::Serialize;

use crate::EvalError;
use crate::metrics::{bootstrap_auc_interval, roc_auc};
use crate::scoring::score_split;

/// scikit-learn's default inverse regularisation strength.
pub const DEFAULT_C: f64 = 1.0;
/// Bootstrap resamples of each interval.
pub const RESAMPLES: usize = 2000;

/// A logistic regression of `positive` on `inputs` (one row per exam), L2-penalised with
/// inverse strength `c`: the weights and the intercept.
pub fn fit_logistic(
    inputs: &[Vec<f64>],
    positive: &[bool],
    c: f64,
) -> Result<(Vec<f64>, f64), EvalError> {
    let k = inputs.first().map_or(0, Vec::len);
    if inputs.is_empty() || inputs.len() != positive.len() || inputs.iter().any(|x| x.len() != k) {
        return Err(EvalError::Request(
            "a logistic regression needs one row of equal length per label".into(),
        ));
    }
    if !(c > 0.0 && c.is_finite()) {
        return Err(EvalError::Request(format!("C must be positive, got {c}")));
    }
    // Parameters: k weights, then the intercept.
    let n = k + 1;
    let mut theta = vec![0.0; n];
    for _ in 0..100 {
        let mut gradient = vec![0.0; n];
        let mut hessian = vec![vec![0.0; n]; n];
        for (x, &y) in inputs.iter().zip(positive) {
            let z = theta[k] + x.iter().zip(&theta).map(|(a, b)| a * b).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let row: Vec<f64> = x.iter().copied().chain([1.0]).collect();
            let residual = p - f64::from(u8::from(y));
            for i in 0..n {
                gradient[i] += c * residual * row[i];
                for j in 0..n {
                    hessian[i][j] += c * p * (1.0 - p) * row[i] * row[j];
                }
            }
        }
        for i in 0..k {
            gradient[i] += theta[i];
            hessian[i][i] += 1.0;
        }
        // The intercept's curvature can vanish when every exam is of one class.
        hessian[k][k] += 1e-12;
        let step = solve(hessian, gradient).ok_or_else(|| {
            EvalError::Request("the logistic regression's system is singular".into())
        })?;
        theta.iter_mut().zip(&step).for_each(|(t, s)| *t -= s);
        if step.iter().map(|s| s.abs()).fold(0.0, f64::max) < 1e-12 {
            break;
        }
    }
    let bias = theta.pop().unwrap_or(0.0);
    Ok((theta, bias))
}

/// `a x = b` by Gaussian elimination with partial pivoting (`None` when singular).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let pivot_row = &above[col];
        for (offset, row) in below.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            row.iter_mut()
                .zip(pivot_row)
                .skip(col)
                .for_each(|(x, p)| *x -= f * p);
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

/// One plane's network and the manifest as it sees it (`RunInfo::view`).
pub struct PlaneModel<'a> {
    /// The plane.
    pub plane: Plane,
    /// Its network.
    pub classifier: &'a dyn Classifier,
    /// The manifest of its finding, with its plane's series.
    pub manifest: Manifest,
}

/// What to fit and where to report.
pub struct CombineRequest<'a> {
    /// The finding every plane model answers.
    pub finding: Finding,
    /// One model per plane.
    pub planes: Vec<PlaneModel<'a>>,
    /// The exams the regressions are fitted on (none of the networks' training exams).
    pub fit_on: Split,
    /// The exams every figure is reported on.
    pub report_on: Split,
    /// Inverse L2 strength ([`DEFAULT_C`]).
    pub c: f64,
    /// Seed of the bootstrap.
    pub seed: u64,
}

/// One line of the table: a plane alone or a set of planes combined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CombinedFigure {
    /// The planes read.
    pub planes: Vec<Plane>,
    /// ROC AUC on the report split (`None` where one class is missing).
    pub auc: Option<f64>,
    /// Its 95 % bootstrap interval.
    pub interval: Option<[f64; 2]>,
}

/// The combiner's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CombineReport {
    /// The finding.
    pub finding: Finding,
    /// The split the regressions were fitted on, and its exams.
    pub fitted_on: (Split, usize),
    /// The split reported on, its exams and its positive exams.
    pub reported_on: (Split, usize, usize),
    /// Each plane alone, in the order given.
    pub single: Vec<CombinedFigure>,
    /// Each set of two planes or more, combined, largest first.
    pub combined: Vec<CombinedFigure>,
}

impl CombineReport {
    /// The figure of the combination of every plane (or of the one plane given).
    pub fn all_planes(&self) -> &CombinedFigure {
        self.combined.first().unwrap_or(&self.single[0])
    }
}

/// Every plane's positive probability on `split` by exam, and each exam's truth.
type SplitScores = (Vec<String>, Vec<Vec<f64>>, Vec<bool>);

fn score_planes(
    planes: &[PlaneModel],
    split: Split,
    progress: &dyn Progress,
) -> Result<SplitScores, EvalError> {
    let mut by_exam: HashMap<String, Vec<f64>> = HashMap::new();
    let mut order = Vec::new();
    let mut truth = HashMap::new();
    for model in planes {
        for scored in score_split(model.classifier, &model.manifest, split, progress)? {
            if !by_exam.contains_key(&scored.exam_id) {
                order.push(scored.exam_id.clone());
            }
            truth.insert(scored.exam_id.clone(), scored.class > 0);
            by_exam
                .entry(scored.exam_id)
                .or_default()
                .push(scored.prediction.injured_probability);
        }
    }
    // Exams every plane scored, in manifest order.
    order.retain(|id| by_exam[id].len() == planes.len());
    let inputs = order.iter().map(|id| by_exam[id].clone()).collect();
    let positive = order.iter().map(|id| truth[id]).collect();
    Ok((order, inputs, positive))
}

/// Every non-empty set of the indices `0..n`, largest first (then in index order).
fn subsets(n: usize) -> Vec<Vec<usize>> {
    let mut all: Vec<Vec<usize>> = (1..1usize << n)
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect();
    all.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    all
}

/// Fits a regression for every set of the request's planes on its fitting split and scores
/// each plane and each combination on its report split.
pub fn combine(
    request: &CombineRequest,
    progress: &dyn Progress,
) -> Result<(Vec<PlaneWeights>, CombineReport), EvalError> {
    if request.planes.is_empty() {
        return Err(EvalError::Request("no plane models to combine".into()));
    }
    let (_, fit_x, fit_y) = score_planes(&request.planes, request.fit_on, progress)?;
    if !(fit_y.contains(&true) && fit_y.contains(&false)) {
        return Err(EvalError::Request(format!(
            "the {} split holds exams of one class only: no regression can be fitted",
            request.fit_on
        )));
    }
    let (_, test_x, test_y) = score_planes(&request.planes, request.report_on, progress)?;
    let planes: Vec<Plane> = request.planes.iter().map(|m| m.plane).collect();
    let figure = |scores: Vec<f64>, planes: Vec<Plane>| CombinedFigure {
        auc: roc_auc(&scores, &test_y),
        interval: bootstrap_auc_interval(&scores, &test_y, RESAMPLES, 0.95, request.seed),
        planes,
    };
    let mut combiners = Vec::new();
    let mut combined = Vec::new();
    for set in subsets(planes.len()) {
        let pick = |x: &Vec<f64>| set.iter().map(|&i| x[i]).collect::<Vec<f64>>();
        let fit_rows: Vec<Vec<f64>> = fit_x.iter().map(pick).collect();
        let (weights, bias) = fit_logistic(&fit_rows, &fit_y, request.c)?;
        let weights = PlaneWeights {
            planes: set.iter().map(|&i| planes[i]).collect(),
            weights,
            bias,
        };
        if set.len() > 1 {
            let scores = test_x
                .iter()
                .map(|x| weights.probability(&pick(x)))
                .collect();
            combined.push(figure(scores, weights.planes.clone()));
        }
        combiners.push(weights);
    }
    let single = (0..planes.len())
        .map(|i| figure(test_x.iter().map(|x| x[i]).collect(), vec![planes[i]]))
        .collect();
    let report = CombineReport {
        finding: request.finding,
        fitted_on: (request.fit_on, fit_y.len()),
        reported_on: (
            request.report_on,
            test_y.len(),
            test_y.iter().filter(|&&p| p).count(),
        ),
        single,
        combined,
    };
    Ok((combiners, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regression_matches_scikit_learn() {
        // sklearn.linear_model.LogisticRegression(C=1.0, tol=1e-10).fit(X, y), scikit-learn 1.9.1.
        let x = [
            [0.9, 0.8, 0.3],
            [0.2, 0.4, 0.1],
            [0.7, 0.3, 0.6],
            [0.1, 0.2, 0.3],
            [0.8, 0.9, 0.7],
            [0.4, 0.6, 0.2],
            [0.3, 0.1, 0.5],
            [0.6, 0.7, 0.4],
        ];
        let y = [true, false, true, false, true, false, false, true];
        let rows: Vec<Vec<f64>> = x.iter().map(|r| r.to_vec()).collect();
        let (w, b) = fit_logistic(&rows, &y, 1.0).unwrap();
        let expected = [0.804007361555809, 0.5306175125949226, 0.3737320502429196];
        for (got, want) in w.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{w:?}");
        }
        assert!((b + 0.8116521503574072).abs() < 1e-6, "{b}");
        assert!(fit_logistic(&rows, &y[..3], 1.0).is_err());
        assert!(fit_logistic(&rows, &y, 0.0).is_err());
    }

    #[test]
    fn every_set_of_planes_is_listed_largest_first() {
        assert_eq!(
            subsets(3),
            [
                vec![0, 1, 2],
                vec![0, 1],
                vec![0, 2],
                vec![1, 2],
                vec![0],
                vec![1],
                vec![2]
            ]
        );
    }
}
