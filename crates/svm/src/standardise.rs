//! Per-feature standardisation fitted on training rows only (scikit-learn's `StandardScaler`):
//! an SVM's RBF kernel and a logistic regression's penalty both assume features of one scale.

use serde::{Deserialize, Serialize};

use crate::{Matrix, SvmError};

/// Centres and scales every feature with the mean and standard deviation of the training rows;
/// a feature constant in training is centred only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardiser {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

impl Standardiser {
    /// Fitted on `train`.
    pub fn fit(train: &Matrix) -> Self {
        let (n, d) = (train.rows().max(1) as f64, train.cols());
        let mut mean = vec![0.0f64; d];
        for row in train.iter_rows() {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; d];
        for row in train.iter_rows() {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let scale = var
            .into_iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-12 * (1.0 + sd) { sd } else { 1.0 }
            })
            .collect();
        Self { mean, scale }
    }

    /// True when every feature has a finite mean and a positive finite scale.
    pub(crate) fn is_consistent(&self) -> bool {
        self.mean.len() == self.scale.len()
            && self.mean.iter().all(|m| m.is_finite())
            && self.scale.iter().all(|s| s.is_finite() && *s > 0.0)
    }

    /// Features it was fitted on.
    pub fn width(&self) -> usize {
        self.mean.len()
    }

    /// `row` checked (its width and finite values) and standardised.
    pub fn standardise(&self, row: &[f32]) -> Result<Vec<f32>, SvmError> {
        if row.len() != self.width() {
            return Err(SvmError::Input(format!(
                "a feature vector of {} values, the model takes {}",
                row.len(),
                self.width()
            )));
        }
        if row.iter().any(|v| !v.is_finite()) {
            return Err(SvmError::Input(
                "the feature vector holds a non-finite value".into(),
            ));
        }
        let mut out = vec![0.0; row.len()];
        self.apply_row(row, &mut out);
        Ok(out)
    }

    /// `row` standardised into `out`.
    pub fn apply_row(&self, row: &[f32], out: &mut [f32]) {
        for (((o, &v), m), s) in out.iter_mut().zip(row).zip(&self.mean).zip(&self.scale) {
            *o = ((f64::from(v) - m) / s) as f32;
        }
    }

    /// A gradient with respect to standardised features as the gradient with respect to the
    /// raw ones (each divided by its feature's scale).
    pub(crate) fn raw_gradient(&self, mut gradient: Vec<f64>) -> Vec<f64> {
        gradient
            .iter_mut()
            .zip(&self.scale)
            .for_each(|(g, s)| *g /= s);
        gradient
    }

    /// Every row of `x` standardised.
    pub fn apply(&self, x: &Matrix) -> Matrix {
        x.map_rows(|src, dst| self.apply_row(src, dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_rows_get_mean_zero_and_unit_variance_constant_features_stay_finite() {
        let x = Matrix::new(4, 2, vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0, 7.0, 5.0]).unwrap();
        let s = Standardiser::fit(&x);
        let z = s.apply(&x);
        let col: Vec<f32> = z.iter_rows().map(|r| r[0]).collect();
        // Mean 4, population sd sqrt(5).
        let sd = 5f64.sqrt();
        let expected = [-3.0 / sd, -1.0 / sd, 1.0 / sd, 3.0 / sd];
        for (got, want) in col.iter().zip(expected) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert!(z.iter_rows().all(|r| r[1] == 0.0));
        let mut out = [0.0; 2];
        s.apply_row(&[9.0, 6.0], &mut out);
        assert!((f64::from(out[0]) - 5.0 / sd).abs() < 1e-6 && out[1] == 1.0);
        assert!(s.standardise(&[1.0]).is_err() && s.standardise(&[f32::NAN, 0.0]).is_err());
    }
}
