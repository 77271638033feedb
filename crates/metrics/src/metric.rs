//! The figure a search or a fold ranks models by.

use crate::{accuracy, argmax, class_report, roc_auc};

/// What a search maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// ROC AUC of the injured probability (any grade above 0 vs healthy).
    Auc,
    /// F1 averaged over classes weighted by support.
    F1,
    /// Accuracy of the most probable class.
    Accuracy,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auc" => Ok(Self::Auc),
            "f1" => Ok(Self::F1),
            "accuracy" => Ok(Self::Accuracy),
            _ => Err(format!("metric {s:?}: expected auc, f1 or accuracy")),
        }
    }
}

impl Metric {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Auc => "auc",
            Metric::F1 => "f1",
            Metric::Accuracy => "accuracy",
        }
    }

    /// The metric of class probabilities against actual classes.
    pub fn of(self, probabilities: &[Vec<f64>], actual: &[usize]) -> Option<f64> {
        let predicted: Vec<usize> = probabilities.iter().map(|p| argmax(p)).collect();
        match self {
            Metric::Auc => {
                let injured: Vec<f64> = probabilities.iter().map(|p| 1.0 - p[0]).collect();
                let positive: Vec<bool> = actual.iter().map(|&c| c > 0).collect();
                roc_auc(&injured, &positive)
            }
            Metric::F1 => {
                let classes = probabilities.first().map_or(0, Vec::len);
                class_report(actual, &predicted, classes).map(|r| r.weighted_avg.f1)
            }
            Metric::Accuracy => accuracy(&predicted, actual),
        }
    }
}
