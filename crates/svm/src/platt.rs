//! Platt scaling: decision values to probabilities, `P(positive | f) = 1 / (1 + exp(A f + B))`,
//! with `A` and `B` fitted (LIBSVM's Newton method, `sigmoid_train`) on decision values that each
//! training row got from a model that did not see it (five folds, as LIBSVM and scikit-learn
//! do). The folds are drawn from a seeded generator here rather than LIBSVM's process-wide
//! `rand()`, so that a fit is reproducible whatever runs beside it.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A fitted sigmoid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope (negative when larger decision values mean the positive class).
    pub a: f64,
    /// Offset.
    pub b: f64,
}

impl Platt {
    /// Fitted on decision values `f` with `positive` telling each row's class.
    pub fn fit(f: &[f64], positive: &[bool]) -> Self {
        let labels: Vec<f64> = positive
            .iter()
            .map(|&p| if p { 1.0 } else { -1.0 })
            .collect();
        let (a, b) = libsvm_rs::probability::sigmoid_train(f, &labels);
        Self { a, b }
    }

    /// The probability of the positive class at decision value `f`.
    pub fn probability(&self, f: f64) -> f64 {
        libsvm_rs::probability::sigmoid_predict(f, self.a, self.b)
    }
}

/// The five folds of `n` rows, as a fold index per row, from `seed`.
pub(crate) fn folds(n: usize, seed: u64) -> Vec<usize> {
    let folds = 5.min(n.max(1));
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut fold = vec![0; n];
    for (k, &i) in order.iter().enumerate() {
        fold[i] = k * folds / n.max(1);
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_values_of_the_positive_class_give_rising_probabilities() {
        let f = [-2.0, -1.5, -1.0, -0.2, 0.3, 1.0, 1.4, 2.0, 0.1, -0.1];
        let pos = [
            false, false, false, false, true, true, true, true, false, true,
        ];
        let p = Platt::fit(&f, &pos);
        assert!(p.a < 0.0, "{p:?}");
        assert!(p.probability(2.0) > 0.8 && p.probability(-2.0) < 0.2);
        assert!(p.probability(0.5) > p.probability(0.4));
        let fold = folds(12, 3);
        for k in 0..5 {
            let size = fold.iter().filter(|&&f| f == k).count();
            assert!((2..=3).contains(&size), "fold {k} has {size}");
        }
        assert_eq!(folds(12, 3), fold);
        assert_ne!(folds(12, 4), fold);
    }
}
