//! L2-regularised logistic regression, the baseline the study's SVM is compared with.
//!
//! The objective is scikit-learn's `LogisticRegression` with the lbfgs solver:
//! `0.5 |W|^2 + C sum_i w_(y_i) CE_i` with the intercepts unpenalised, binomial (one weight
//! vector) for two classes and multinomial (softmax) for more. Minimised by L-BFGS.

use serde::{Deserialize, Serialize};

use crate::lbfgs::minimise;
use crate::svc::{check_training, positive_cost};
use crate::{ClassWeight, Matrix, Standardiser, SvmError};

/// How a logistic regression is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticSettings {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Per-class weights on each row's loss.
    pub class_weight: ClassWeight,
    /// Iterations of L-BFGS at most.
    pub max_iter: usize,
    /// Stop when no gradient component exceeds this.
    pub tolerance: f64,
}

impl Default for LogisticSettings {
    fn default() -> Self {
        Self {
            c: 1.0,
            class_weight: ClassWeight::None,
            max_iter: 1000,
            tolerance: 1e-7,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub(crate) classes: usize,
    /// The classes present in training, whose scores the weights give.
    pub(crate) present: Vec<usize>,
    pub(crate) standardiser: Standardiser,
    /// One row of `width + 1` (weights, intercept) per score: one for two classes, one per
    /// present class otherwise.
    pub(crate) weights: Vec<Vec<f64>>,
}

impl Logistic {
    /// Fits on rows `x` with class labels `y` (each below `classes`).
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        classes: usize,
        settings: &LogisticSettings,
    ) -> Result<Self, SvmError> {
        let present = check_training(x, y, classes)?;
        positive_cost(settings.c)?;
        let standardiser = Standardiser::fit(x);
        let z = standardiser.apply(x);
        let class_w = settings.class_weight.resolve(y, classes);
        let row_w: Vec<f64> = y.iter().map(|&c| settings.c * class_w[c]).collect();
        let target: Vec<usize> = y
            .iter()
            .map(|c| present.iter().position(|p| p == c).expect("present"))
            .collect();
        let d = z.cols();
        let scores = if present.len() == 2 { 1 } else { present.len() };
        // Divided by the total row weight, as scikit-learn does: the minimum is the same, and the
        // tolerance applies to a gradient that does not grow with the number of rows.
        let total: f64 = row_w.iter().sum();
        let objective = |theta: &[f64]| {
            let (v, g) = loss(theta, &z, &target, &row_w, scores);
            (v / total, g.into_iter().map(|x| x / total).collect())
        };
        let theta = minimise(
            objective,
            vec![0.0; scores * (d + 1)],
            settings.tolerance,
            settings.max_iter,
        );
        Ok(Self {
            classes,
            present,
            standardiser,
            weights: theta.chunks_exact(d + 1).map(<[f64]>::to_vec).collect(),
        })
    }

    /// Checks a model read from a file: every index in range, every number finite.
    pub fn validate(&self) -> Result<(), SvmError> {
        let width = self.standardiser.width() + 1;
        let scores = if self.present.len() == 2 {
            1
        } else {
            self.present.len()
        };
        if !self.standardiser.is_consistent()
            || self.present.len() < 2
            || self.present.iter().any(|&c| c >= self.classes)
            || self.weights.len() != scores
            || self
                .weights
                .iter()
                .any(|w| w.len() != width || w.iter().any(|v| !v.is_finite()))
        {
            return Err(SvmError::Input(
                "not a valid logistic regression: it is damaged".into(),
            ));
        }
        Ok(())
    }

    /// Class probabilities of `row`, in class order (zero for a class absent from training).
    pub fn probabilities(&self, row: &[f32]) -> Result<Vec<f64>, SvmError> {
        let z = self.standardiser.standardise(row)?;
        let p_present = self.present_probabilities(&z);
        let mut p = vec![0.0; self.classes];
        for (c, v) in self.present.iter().zip(p_present) {
            p[*c] = v;
        }
        Ok(p)
    }
}

impl Logistic {
    /// The probabilities of the classes present, in `present` order, of standardised `z`.
    pub(crate) fn present_probabilities(&self, z: &[f32]) -> Vec<f64> {
        let scores: Vec<f64> = self.weights.iter().map(|w| score(w, z)).collect();
        if let [s] = scores.as_slice() {
            let p1 = 1.0 / (1.0 + (-s).exp());
            vec![1.0 - p1, p1]
        } else {
            softmax(&scores)
        }
    }
}

fn score(w: &[f64], z: &[f32]) -> f64 {
    let d = z.len();
    w[..d]
        .iter()
        .zip(z)
        .map(|(a, &b)| a * f64::from(b))
        .sum::<f64>()
        + w[d]
}

fn softmax(s: &[f64]) -> Vec<f64> {
    let top = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|v| (v - top).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

/// The objective and its gradient at `theta` (`scores` rows of weights and intercept).
fn loss(
    theta: &[f64],
    z: &Matrix,
    target: &[usize],
    row_w: &[f64],
    scores: usize,
) -> (f64, Vec<f64>) {
    let d = z.cols();
    let w: Vec<&[f64]> = theta.chunks_exact(d + 1).collect();
    let mut value = 0.0;
    let mut grad = vec![0.0; theta.len()];
    for (k, wk) in w.iter().enumerate() {
        value += 0.5 * wk[..d].iter().map(|v| v * v).sum::<f64>();
        grad[k * (d + 1)..k * (d + 1) + d].copy_from_slice(&wk[..d]);
    }
    for ((row, &t), &rw) in z.iter_rows().zip(target).zip(row_w) {
        let s: Vec<f64> = w.iter().map(|wk| score(wk, row)).collect();
        // Residual per score: d(CE)/d(score).
        let residual: Vec<f64> = if scores == 1 {
            let y = if t == 1 { 1.0 } else { -1.0 };
            let m = y * s[0];
            // log(1 + exp(-m)), stably.
            value += rw
                * (if m > 0.0 {
                    (-m).exp().ln_1p()
                } else {
                    -m + m.exp().ln_1p()
                });
            vec![-y / (1.0 + m.exp())]
        } else {
            let p = softmax(&s);
            value -= rw * p[t].max(1e-300).ln();
            p.iter()
                .enumerate()
                .map(|(k, &pk)| pk - if k == t { 1.0 } else { 0.0 })
                .collect()
        };
        for (k, r) in residual.into_iter().enumerate() {
            let g = &mut grad[k * (d + 1)..(k + 1) * (d + 1)];
            for (gi, &v) in g[..d].iter_mut().zip(row) {
                *gi += rw * r * f64::from(v);
            }
            g[d] += rw * r;
        }
    }
    (value, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_is_the_objectives_derivative() {
        let z = Matrix::new(3, 2, vec![0.5, -1.0, 1.5, 0.2, -0.3, 0.8]).unwrap();
        for (scores, target) in [(1, vec![0, 1, 1]), (3, vec![0, 2, 1])] {
            let theta: Vec<f64> = (0..scores * 3).map(|i| 0.1 * i as f64 - 0.2).collect();
            let w = [1.0, 2.0, 0.5];
            let (_, g) = loss(&theta, &z, &target, &w, scores);
            for i in 0..theta.len() {
                let mut up = theta.clone();
                up[i] += 1e-6;
                let mut down = theta.clone();
                down[i] -= 1e-6;
                let numeric = (loss(&up, &z, &target, &w, scores).0
                    - loss(&down, &z, &target, &w, scores).0)
                    / 2e-6;
                assert!(
                    (numeric - g[i]).abs() < 1e-6,
                    "{scores} scores, {i}: {numeric} vs {}",
                    g[i]
                );
            }
        }
    }
}
