//! A classifier's calls on the exams of a manifest split, and the two figures every procedure
//! reports first (accuracy and injured-vs-healthy AUC).

use cruciate_data::{Manifest, Split, read_exam};
use cruciate_infer::{Classifier, Prediction, Progress};
use serde::Serialize;

use crate::EvalError;
use crate::metrics::{accuracy, class_report, roc_auc};

/// One exam's call, with its true class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredExam {
    /// The exam.
    pub exam_id: String,
    /// Its true class for the classifier's task.
    pub class: usize,
    /// The classifier's call.
    pub prediction: Prediction,
}

/// Accuracy and injured-vs-healthy ROC AUC of a set of calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadlineFigures {
    /// Exams scored.
    pub exams: usize,
    /// Accuracy of the most probable class.
    pub accuracy: Option<f64>,
    /// ROC AUC of the injured probability for injured (class > 0) vs healthy.
    pub auc: Option<f64>,
    /// F1 averaged over classes weighted by their support.
    pub weighted_f1: Option<f64>,
}

impl HeadlineFigures {
    /// The figures of `scored`.
    pub fn of(scored: &[ScoredExam]) -> Self {
        let actual: Vec<usize> = scored.iter().map(|s| s.class).collect();
        let predicted: Vec<usize> = scored.iter().map(|s| s.prediction.class).collect();
        let injured: Vec<bool> = actual.iter().map(|&c| c > 0).collect();
        let scores: Vec<f64> = scored
            .iter()
            .map(|s| s.prediction.injured_probability)
            .collect();
        Self {
            exams: scored.len(),
            accuracy: accuracy(&predicted, &actual),
            auc: roc_auc(&scores, &injured),
            weighted_f1: class_report(
                &actual,
                &predicted,
                scored
                    .iter()
                    .map(|s| s.prediction.probabilities.len())
                    .max()
                    .unwrap_or(0),
            )
            .map(|r| r.weighted_avg.f1),
        }
    }

    /// The mean of several sets' figures (of one model's findings on the same exams): each
    /// figure where every set has it, the exams of the first.
    pub fn mean(all: &[HeadlineFigures]) -> Self {
        let mean = |pick: fn(&HeadlineFigures) -> Option<f64>| {
            let values: Option<Vec<f64>> = all.iter().map(pick).collect();
            values
                .filter(|v| !v.is_empty())
                .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        };
        Self {
            exams: all.first().map_or(0, |f| f.exams),
            accuracy: mean(|f| f.accuracy),
            auc: mean(|f| f.auc),
            weighted_f1: mean(|f| f.weighted_f1),
        }
    }
}

/// `classifier`'s calls on every exam of `split`; `progress` counts the exams.
pub fn score_split(
    classifier: &dyn Classifier,
    manifest: &Manifest,
    split: Split,
    progress: &dyn Progress,
) -> Result<Vec<ScoredExam>, EvalError> {
    let rows: Vec<_> = manifest.split(split).collect();
    if rows.is_empty() {
        return Err(EvalError::EmptySplit(split));
    }
    let task = classifier.task();
    progress.start(
        &format!("{} on {split}", classifier.info().model.name),
        Some(rows.len() as u64),
    );
    let mut scored = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let volume = read_exam(manifest, row)?;
        let prediction = classifier
            .predict(&volume)
            .map_err(|source| EvalError::OnExam {
                exam_id: row.exam_id.clone(),
                source,
            })?;
        scored.push(ScoredExam {
            exam_id: row.exam_id.clone(),
            class: task.class_of(row.label),
            prediction,
        });
        progress.set(i as u64 + 1);
    }
    progress.finish();
    Ok(scored)
}

impl HeadlineFigures {
    /// The figure `metric` names.
    pub fn metric(&self, metric: crate::tune::Metric) -> Option<f64> {
        use crate::tune::Metric;
        match metric {
            Metric::Auc => self.auc,
            Metric::F1 => self.weighted_f1,
            Metric::Accuracy => self.accuracy,
        }
    }
}
