//! The input gate's domain reference of a run: the model's own features of its training exams,
//! with the limit set on the held-out exams, calib else valid (see
//! `cruciate_infer::gate::DomainReference`).

use cruciate_infer::{Classifier, DomainReference};

use crate::EvalError;
use crate::scoring::ScoredExam;

/// The share of in-distribution exams the limit accepts by default.
pub const DEFAULT_SHARE: f64 = 0.975;

/// The domain reference of `classifier` from its calls on the train exams `train` and the
/// held-out exams `valid`: features of the train exams, the limit accepting `share` of the
/// valid ones (of the train exams, each left out of its own neighbours, when `valid` is empty).
pub fn domain_from(
    classifier: &dyn Classifier,
    train: &[ScoredExam],
    valid: &[ScoredExam],
    share: f64,
) -> Result<DomainReference, EvalError> {
    let features = |scored: &[ScoredExam]| -> Vec<Vec<f32>> {
        scored
            .iter()
            .map(|s| s.prediction.features.clone())
            .collect()
    };
    let train = features(train);
    if train.iter().any(Vec::is_empty) {
        return Err(EvalError::Request(format!(
            "{} gives no features of its exams: it has no domain reference",
            classifier.info().kind
        )));
    }
    let held_out = features(valid);
    Ok(DomainReference::fit(&train, &held_out, share)?)
}
