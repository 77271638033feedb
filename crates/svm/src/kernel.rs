//! Kernels: the similarity between two feature vectors that an SVM separates in.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Matrix, SvmError};

/// The kernel's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelKind {
    /// `x . y`.
    Linear,
    /// `exp(-gamma |x - y|^2)`.
    #[default]
    Rbf,
}

impl std::str::FromStr for KernelKind {
    type Err = SvmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linear" => Ok(Self::Linear),
            "rbf" => Ok(Self::Rbf),
            _ => Err(SvmError::Setting(format!(
                "kernel {s:?}: expected linear or rbf"
            ))),
        }
    }
}

/// The RBF kernel's width.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gamma {
    /// `1 / (features * variance of the training values)`, scikit-learn's `gamma="scale"`.
    #[default]
    #[serde(with = "scale_word")]
    Scale,
    /// A given positive value.
    Value(f64),
}

mod scale_word {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("scale")
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let word = String::deserialize(d)?;
        if word == "scale" {
            Ok(())
        } else {
            Err(serde::de::Error::custom(format!(
                "gamma {word:?}: expected \"scale\" or a number"
            )))
        }
    }
}

impl std::str::FromStr for Gamma {
    type Err = SvmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "scale" {
            return Ok(Self::Scale);
        }
        match s.parse::<f64>() {
            Ok(g) if g > 0.0 && g.is_finite() => Ok(Self::Value(g)),
            _ => Err(SvmError::Setting(format!(
                "gamma {s:?}: expected \"scale\" or a positive number"
            ))),
        }
    }
}

impl Gamma {
    /// The value on training rows `x` (already standardised when the model standardises).
    pub fn resolve(&self, x: &Matrix) -> f64 {
        match *self {
            Gamma::Value(g) => g,
            Gamma::Scale => {
                let n = x.values().len().max(1) as f64;
                let mean = x.values().iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = x
                    .values()
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                if var > 0.0 {
                    1.0 / (x.cols() as f64 * var)
                } else {
                    1.0
                }
            }
        }
    }
}

/// A kernel with its width resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    /// Its form.
    pub kind: KernelKind,
    /// The RBF width (unused by the linear kernel).
    pub gamma: f64,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    // Eight running sums let the compiler vectorise; each sum stays short enough for f32.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let mut total = 0.0f64;
    for (k, (x, y)) in ca.zip(cb).enumerate() {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
        if k % 64 == 63 {
            total += acc.iter().map(|&v| f64::from(v)).sum::<f64>();
            acc = [0.0; 8];
        }
    }
    total + acc.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

impl Kernel {
    /// `K(a, b)`.
    pub fn eval(&self, a: &[f32], b: &[f32]) -> f64 {
        match self.kind {
            KernelKind::Linear => dot(a, b),
            KernelKind::Rbf => {
                let d2 = dot(a, a) + dot(b, b) - 2.0 * dot(a, b);
                (-self.gamma * d2.max(0.0)).exp()
            }
        }
    }

    /// `K(a_i, b_j)` for every row pair, `[a.rows(), b.rows()]` row-major.
    pub fn matrix(&self, a: &Matrix, b: &Matrix) -> Vec<f64> {
        let norms = |m: &Matrix| m.iter_rows().map(|r| dot(r, r)).collect::<Vec<_>>();
        let (na, nb) = (norms(a), norms(b));
        let mut out = vec![0.0; a.rows() * b.rows()];
        out.par_chunks_mut(b.rows().max(1))
            .enumerate()
            .for_each(|(i, row)| {
                let x = a.row(i);
                for (j, v) in row.iter_mut().enumerate() {
                    let d = dot(x, b.row(j));
                    *v = match self.kind {
                        KernelKind::Linear => d,
                        KernelKind::Rbf => (-self.gamma * (na[i] + nb[j] - 2.0 * d).max(0.0)).exp(),
                    };
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_and_scale_gamma_as_defined() {
        let x = Matrix::new(2, 3, vec![1.0, 2.0, 3.0, 0.0, -1.0, 2.0]).unwrap();
        let lin = Kernel {
            kind: KernelKind::Linear,
            gamma: 0.0,
        };
        assert_eq!(lin.matrix(&x, &x), vec![14.0, 4.0, 4.0, 5.0]);
        let rbf = Kernel {
            kind: KernelKind::Rbf,
            gamma: 0.5,
        };
        let k = rbf.matrix(&x, &x);
        // |x0 - x1|^2 = 1 + 9 + 1 = 11.
        assert!((k[1] - (-5.5f64).exp()).abs() < 1e-12);
        assert_eq!(k[0], 1.0);
        assert!((rbf.eval(x.row(0), x.row(1)) - k[1]).abs() < 1e-12);
        // Values 1,2,3,0,-1,2: mean 7/6, variance 53/36 - ... computed directly.
        let v: Vec<f64> = x.values().iter().map(|&v| f64::from(v)).collect();
        let m = v.iter().sum::<f64>() / 6.0;
        let var = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 6.0;
        assert!((Gamma::Scale.resolve(&x) - 1.0 / (3.0 * var)).abs() < 1e-12);
        assert_eq!("0.25".parse::<Gamma>().unwrap(), Gamma::Value(0.25));
        assert!("-1".parse::<Gamma>().is_err() && "auto".parse::<Gamma>().is_err());
        let long: Vec<f32> = (0..1030).map(|i| (i % 7) as f32 * 0.5).collect();
        let exact: f64 = long.iter().map(|&a| f64::from(a) * f64::from(a)).sum();
        assert!((dot(&long, &long) - exact).abs() < 1e-9 * exact);
        assert_eq!(serde_json::to_string(&Gamma::Scale).unwrap(), "\"scale\"");
        assert_eq!(
            serde_json::from_str::<Gamma>("0.5").unwrap(),
            Gamma::Value(0.5)
        );
    }
}
