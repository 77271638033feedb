//! Class weights: how much an error on each class costs when fitting.

use serde::{Deserialize, Serialize};

/// How errors on each class are weighted when fitting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Every class alike.
    #[default]
    None,
    /// Inversely to class frequency, `n / (k * n_c)` (scikit-learn's `"balanced"`).
    Balanced,
    /// One weight per class, in class order.
    Given(Vec<f64>),
}

impl ClassWeight {
    /// The weight of each of `classes` classes given the training labels.
    pub(crate) fn resolve(&self, labels: &[usize], classes: usize) -> Vec<f64> {
        match self {
            ClassWeight::None => vec![1.0; classes],
            ClassWeight::Given(w) => w.clone(),
            ClassWeight::Balanced => {
                let mut counts = vec![0usize; classes];
                labels.iter().for_each(|&y| counts[y] += 1);
                let present = counts.iter().filter(|&&c| c > 0).count().max(1);
                counts
                    .iter()
                    .map(|&c| {
                        if c == 0 {
                            1.0
                        } else {
                            labels.len() as f64 / (present as f64 * c as f64)
                        }
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_weights_are_n_over_k_times_class_count() {
        let labels = [0, 0, 0, 1, 2, 2];
        assert_eq!(
            ClassWeight::Balanced.resolve(&labels, 3),
            vec![6.0 / 9.0, 6.0 / 3.0, 6.0 / 6.0]
        );
        assert_eq!(ClassWeight::None.resolve(&labels, 3), vec![1.0; 3]);
    }
}
