//! How a class probability moves with the feature vector: the gradient that explains a feature
//! model's call through the frozen backbone in front of it (Grad-CAM with the SVM or logistic
//! regression as the network's head).
//!
//! Written here because neither scikit-learn nor LIBSVM offers it. It is the exact chain rule:
//! the kernel's derivative (`-2 gamma (z - s) K(z, s)` for RBF, `s` for linear) weighted by each
//! pair's coefficients, times Platt's sigmoid slope `-A r (1 - r)`, divided by each feature's
//! standardisation scale. With more than two classes the pairs are coupled (Wu, Lin and Weng's
//! second method): LIBSVM stops its iteration within `0.005 / k` of the optimum, which is not a
//! smooth function of its input, so the coupling is differentiated at the exact optimum instead
//! (`p = Q^-1 e / e'Q^-1 e`, a linear solve of at most four unknowns), by central differences
//! on the few pair probabilities.

use crate::{FeatureModel, Logistic, Svc, SvmError};

impl FeatureModel {
    /// The gradient of the probability of `class` with respect to each value of `row`.
    pub fn probability_gradient(&self, row: &[f32], class: usize) -> Result<Vec<f64>, SvmError> {
        let classes = match self {
            FeatureModel::Svm(m) => m.classes(),
            FeatureModel::Logistic(m) => m.classes,
        };
        if class >= classes {
            return Err(SvmError::Input(format!(
                "class {class} does not exist: the model has {classes}"
            )));
        }
        match self {
            FeatureModel::Svm(m) => m.probability_gradient(row, class),
            FeatureModel::Logistic(m) => m.probability_gradient(row, class),
        }
    }
}

impl Svc {
    /// The gradient of the probability of `class` (below [`Svc::classes`]) with respect to
    /// each value of `row`; zero for a class absent from training.
    pub fn probability_gradient(&self, row: &[f32], class: usize) -> Result<Vec<f64>, SvmError> {
        let (z, k) = self.kernel_values(row)?;
        let sensitivity = self.pair_sensitivity(&self.decisions_of(&k), class);
        // Each support vector's weight in the derivative: sum over pairs of dp/df times its
        // coefficient in that pair.
        let mut weight = vec![0.0f64; self.support.rows()];
        for (pair, ds) in self.pairs.iter().zip(&sensitivity) {
            for (&s, &c) in pair.support.iter().zip(&pair.coef) {
                weight[s] += ds * c;
            }
        }
        let mut gradient = vec![0.0f64; z.len()];
        for ((s, &w), &ks) in self.support.iter_rows().zip(&weight).zip(&k) {
            if w == 0.0 {
                continue;
            }
            match self.kernel.kind {
                crate::KernelKind::Linear => {
                    for (g, &sj) in gradient.iter_mut().zip(s) {
                        *g += w * f64::from(sj);
                    }
                }
                crate::KernelKind::Rbf => {
                    let scale = -2.0 * self.kernel.gamma * ks * w;
                    for ((g, &zj), &sj) in gradient.iter_mut().zip(&z).zip(s) {
                        *g += scale * (f64::from(zj) - f64::from(sj));
                    }
                }
            }
        }
        Ok(self.standardiser.raw_gradient(gradient))
    }

    /// `d p(class) / d f` for each pair's decision value `f`.
    fn pair_sensitivity(&self, f: &[f64], class: usize) -> Vec<f64> {
        if let [pair] = self.pairs.as_slice() {
            let r = pair.platt.probability(f[0]);
            let slope = -pair.platt.a * r * (1.0 - r);
            let sign = if class == pair.high {
                1.0
            } else if class == pair.low {
                -1.0
            } else {
                0.0
            };
            return vec![sign * slope];
        }
        let at = |f: &[f64]| {
            let (present, r) = self.pairwise(f);
            present
                .iter()
                .position(|&c| c == class)
                .map_or(0.0, |i| exact_coupling(&r)[i])
        };
        (0..f.len())
            .map(|i| {
                let h = 1e-5 * (1.0 + f[i].abs());
                let mut up = f.to_vec();
                up[i] += h;
                let mut down = f.to_vec();
                down[i] -= h;
                (at(&up) - at(&down)) / (2.0 * h)
            })
            .collect()
    }
}

/// The coupled probabilities at the exact optimum of `min p'Qp` with `sum p = 1`, for the
/// pairwise matrix `r` (LIBSVM's `Q`: `Q_tt = sum_j r_jt^2`, `Q_tj = -r_jt r_tj`).
pub(crate) fn exact_coupling(r: &[Vec<f64>]) -> Vec<f64> {
    let k = r.len();
    let mut q = vec![vec![0.0f64; k + 1]; k];
    for t in 0..k {
        for j in 0..k {
            q[t][j] = if j == t {
                (0..k).filter(|&i| i != t).map(|i| r[i][t] * r[i][t]).sum()
            } else {
                -r[j][t] * r[t][j]
            };
        }
        q[t][k] = 1.0;
    }
    // Gaussian elimination with partial pivoting on [Q | e].
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&a, &b| q[a][col].abs().total_cmp(&q[b][col].abs()))
            .unwrap_or(col);
        q.swap(col, pivot);
        let top = q[col].clone();
        for row in q.iter_mut().skip(col + 1) {
            let factor = row[col] / top[col];
            for (v, t) in row.iter_mut().zip(&top).skip(col) {
                *v -= factor * t;
            }
        }
    }
    let mut x = vec![0.0f64; k];
    for row in (0..k).rev() {
        let rest: f64 = (row + 1..k).map(|c| q[row][c] * x[c]).sum();
        x[row] = (q[row][k] - rest) / q[row][row];
    }
    let total: f64 = x.iter().sum();
    x.into_iter().map(|v| v / total).collect()
}

impl Logistic {
    /// The gradient of the probability of `class` (below the model's classes) with respect to
    /// each value of `row`; zero for a class absent from training.
    pub fn probability_gradient(&self, row: &[f32], class: usize) -> Result<Vec<f64>, SvmError> {
        let z = self.standardiser.standardise(row)?;
        let d = z.len();
        let Some(t) = self.present.iter().position(|&c| c == class) else {
            return Ok(vec![0.0; d]);
        };
        let p = self.present_probabilities(&z);
        let gradient = if let [w] = self.weights.as_slice() {
            // p1 = sigmoid(score): dp1 = p1 (1 - p1) w, and p0 = 1 - p1.
            let slope = p[1] * (1.0 - p[1]) * if t == 1 { 1.0 } else { -1.0 };
            w[..d].iter().map(|v| slope * v).collect()
        } else {
            // Softmax: dp_t = p_t (w_t - sum_k p_k w_k).
            (0..d)
                .map(|j| {
                    let mean: f64 = self.weights.iter().zip(&p).map(|(w, pk)| pk * w[j]).sum();
                    p[t] * (self.weights[t][j] - mean)
                })
                .collect()
        };
        Ok(self.standardiser.raw_gradient(gradient))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KernelKind, LogisticSettings, Matrix, ModelSettings, SvcSettings};

    /// Rows of `d` values and labels (0..classes) from a smooth rule with some noise.
    fn data(n: usize, d: usize, classes: usize) -> (Matrix, Vec<usize>) {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        let mut values = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let row: Vec<f64> = (0..d).map(|j| 3.0 * next() + j as f64).collect();
            let t = (row[0] - 0.5 * row[1] + row[2] * row[2] / 9.0 + 0.8 * next()).tanh();
            labels.push((((t + 1.0) / 2.0 * classes as f64) as usize).min(classes - 1));
            values.extend(row.iter().map(|&v| v as f32));
        }
        (Matrix::new(n, d, values).unwrap(), labels)
    }

    /// Holds the gradient of `model` to central differences of `probability` over the raw
    /// row. The step is 0.01 of each feature's standardisation scale: the truncation error
    /// `h^2/6 p'''` is then under 2e-5 for derivatives of order one, and the rounding of the
    /// row to f32 (about 1e-7 in the probability) adds about 1e-7 / 2h = 5e-6; hence 1e-3.
    fn check(
        model: &FeatureModel,
        scale: &[f64],
        x: &Matrix,
        classes: usize,
        probability: &dyn Fn(&[f32]) -> Vec<f64>,
    ) {
        let mut largest = 0.0f64;
        for i in (0..x.rows()).step_by(7).take(6) {
            let row = x.row(i);
            for class in 0..classes {
                let g = model.probability_gradient(row, class).unwrap();
                for (j, &gj) in g.iter().enumerate() {
                    let h = 0.01 * scale[j];
                    let (mut up, mut down) = (row.to_vec(), row.to_vec());
                    up[j] += h as f32;
                    down[j] -= h as f32;
                    let step = f64::from(up[j]) - f64::from(down[j]);
                    let numeric = (probability(&up)[class] - probability(&down)[class]) / step;
                    // Back to standardised units, where the bound above holds.
                    let (a, b) = (gj * scale[j], numeric * scale[j]);
                    assert!(
                        (a - b).abs() < 1e-3,
                        "row {i}, class {class}, feature {j}: {a} vs {b}"
                    );
                    largest = largest.max(a.abs());
                }
            }
        }
        assert!(largest > 1e-2, "the gradients checked are all near zero");
    }

    fn scale_of(x: &Matrix) -> Vec<f64> {
        let s = crate::Standardiser::fit(x);
        s.raw_gradient(vec![1.0; x.cols()])
            .into_iter()
            .map(|v| 1.0 / v)
            .collect()
    }

    #[test]
    fn svm_gradients_match_central_differences_for_both_kernels_and_four_grades() {
        for (kernel, classes) in [
            (KernelKind::Rbf, 2),
            (KernelKind::Linear, 2),
            (KernelKind::Rbf, 4),
        ] {
            let (x, y) = data(120, 5, classes);
            let settings = SvcSettings {
                kernel,
                ..SvcSettings::default()
            };
            let model = ModelSettings::Svm(settings).fit(&x, &y, classes).unwrap();
            let FeatureModel::Svm(svc) = &model else {
                unreachable!()
            };
            let exact = |row: &[f32]| -> Vec<f64> {
                if classes == 2 {
                    return svc.probabilities(row).unwrap();
                }
                // LIBSVM's coupling stops within 0.005 / k of the optimum: the gradient is of
                // the optimum, which stays that close to the probabilities reported.
                let f = svc.decisions_of(&svc.kernel_values(row).unwrap().1);
                let (present, r) = svc.pairwise(&f);
                let mut p = vec![0.0; classes];
                for (c, v) in present.iter().zip(exact_coupling(&r)) {
                    p[*c] = v;
                }
                let reported = svc.probabilities(row).unwrap();
                assert!(p.iter().zip(&reported).all(|(a, b)| (a - b).abs() < 0.005));
                p
            };
            check(&model, &scale_of(&x), &x, classes, &exact);
            let row = x.row(3);
            let total: Vec<f64> = (0..classes)
                .map(|c| model.probability_gradient(row, c).unwrap())
                .fold(vec![0.0; x.cols()], |acc, g| {
                    acc.iter().zip(&g).map(|(a, b)| a + b).collect()
                });
            assert!(
                total.iter().all(|v| v.abs() < 1e-6),
                "probabilities sum to one, so their gradients sum to zero: {total:?}"
            );
        }
    }

    #[test]
    fn logistic_gradients_match_central_differences() {
        for classes in [2, 3] {
            let (x, y) = data(150, 4, classes);
            let model = ModelSettings::Logistic(LogisticSettings::default())
                .fit(&x, &y, classes)
                .unwrap();
            let probability = |row: &[f32]| model.probabilities(row).unwrap();
            check(&model, &scale_of(&x), &x, classes, &probability);
        }
        let (x, y) = data(40, 4, 2);
        let model = ModelSettings::Logistic(LogisticSettings::default())
            .fit(&x, &y, 2)
            .unwrap();
        assert!(model.probability_gradient(x.row(0), 2).is_err());
        assert!(model.probability_gradient(&[1.0], 0).is_err());
    }
}
