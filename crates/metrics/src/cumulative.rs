//! The streaming form: predictions gathered batch by batch, every metric computed once at the end.

use serde::Serialize;

use super::{
    ClassReport, OperatingPoint, accuracy, argmax, average_precision, balanced_accuracy,
    bootstrap_auc_interval, brier_score, class_report, confusion_matrix,
    expected_calibration_error, log_loss, operating_point, roc_auc, roc_auc_ovr_macro,
    youden_point,
};

/// Class probabilities and true classes gathered so far.
#[derive(Debug, Clone, Default)]
pub struct Cumulative {
    classes: usize,
    probabilities: Vec<Vec<f64>>,
    actual: Vec<usize>,
}

/// Every metric of a prediction set. "Injured" is any class above 0 (healthy), scored by
/// `1 - P(healthy)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Exams.
    pub count: usize,
    /// Accuracy of the most probable class.
    pub accuracy: Option<f64>,
    /// Mean recall over present classes.
    pub balanced_accuracy: Option<f64>,
    /// Precision, recall, F1 per class and averaged.
    pub report: Option<ClassReport>,
    /// `[actual][predicted]` counts.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Injured-vs-healthy ROC AUC.
    pub auc: Option<f64>,
    /// Its bootstrap 95 % interval.
    pub auc_ci: Option<[f64; 2]>,
    /// One-vs-rest macro ROC AUC over all classes.
    pub auc_ovr_macro: Option<f64>,
    /// Injured-vs-healthy average precision.
    pub pr_auc: Option<f64>,
    /// Sensitivity and specificity at the chosen threshold.
    pub at_threshold: Option<OperatingPoint>,
    /// ... and at Youden's J.
    pub at_youden: Option<OperatingPoint>,
    /// Log loss of the true class.
    pub log_loss: Option<f64>,
    /// Brier score of the injured probability.
    pub brier: Option<f64>,
    /// Expected calibration error (10 bins).
    pub ece: Option<f64>,
}

impl Cumulative {
    /// An empty accumulator over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            ..Self::default()
        }
    }

    /// Adds one exam: its class probabilities and true class.
    pub fn push(&mut self, probabilities: Vec<f64>, actual: usize) {
        self.probabilities.push(probabilities);
        self.actual.push(actual);
    }

    /// The class probabilities gathered, per exam.
    pub fn probabilities(&self) -> &[Vec<f64>] {
        &self.probabilities
    }

    /// The true classes gathered, per exam.
    pub fn actual(&self) -> &[usize] {
        &self.actual
    }

    /// Exams so far.
    pub fn len(&self) -> usize {
        self.actual.len()
    }

    /// True before the first exam.
    pub fn is_empty(&self) -> bool {
        self.actual.is_empty()
    }

    /// Every metric; `threshold` for the operating point, `resamples` bootstrap draws with `seed`.
    pub fn summary(&self, threshold: f64, resamples: usize, seed: u64) -> Summary {
        let predicted: Vec<usize> = self.probabilities.iter().map(|p| argmax(p)).collect();
        let injured: Vec<bool> = self.actual.iter().map(|&a| a > 0).collect();
        let score: Vec<f64> = self
            .probabilities
            .iter()
            .map(|p| 1.0 - p.first().copied().unwrap_or(1.0))
            .collect();
        Summary {
            count: self.len(),
            accuracy: accuracy(&predicted, &self.actual),
            balanced_accuracy: balanced_accuracy(&self.actual, &predicted, self.classes),
            report: class_report(&self.actual, &predicted, self.classes),
            confusion_matrix: confusion_matrix(&self.actual, &predicted, self.classes),
            auc: roc_auc(&score, &injured),
            auc_ci: bootstrap_auc_interval(&score, &injured, resamples, 0.95, seed),
            auc_ovr_macro: (self.classes > 2)
                .then(|| roc_auc_ovr_macro(&self.probabilities, &self.actual, self.classes))
                .flatten(),
            pr_auc: average_precision(&score, &injured),
            at_threshold: operating_point(&score, &injured, threshold),
            at_youden: youden_point(&score, &injured),
            log_loss: log_loss(&self.probabilities, &self.actual),
            brier: brier_score(&score, &injured),
            ece: expected_calibration_error(&self.probabilities, &self.actual, 10),
        }
    }
}
