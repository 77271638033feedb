//! The input gate's domain reference of a run: the model's own features of its training exams,
//! with the limit set on the validation exams (see `cruciate_infer::gate::DomainReference`).

use cruciate_data::{Manifest, Split};
use cruciate_infer::{Classifier, DomainReference, Progress};

use crate::EvalError;
use crate::scoring::score_split;

/// The share of in-distribution exams the limit accepts by default.
pub const DEFAULT_SHARE: f64 = 0.975;

/// The domain reference of `classifier` on `manifest`: features of its train exams, the limit
/// accepting `share` of its valid exams (of the train exams, each left out of its own
/// neighbours, where the manifest has no valid exams).
pub fn fit_domain(
    classifier: &dyn Classifier,
    manifest: &Manifest,
    share: f64,
    progress: &dyn Progress,
) -> Result<DomainReference, EvalError> {
    let features = |split| -> Result<Vec<Vec<f32>>, EvalError> {
        match score_split(classifier, manifest, split, progress) {
            Ok(scored) => Ok(scored.into_iter().map(|s| s.prediction.features).collect()),
            Err(EvalError::EmptySplit(_)) if split == Split::Valid => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    let train = features(Split::Train)?;
    if train.iter().any(Vec::is_empty) {
        return Err(EvalError::Request(format!(
            "{} gives no features of its exams: it has no domain reference",
            classifier.info().kind
        )));
    }
    let held_out = features(Split::Valid)?;
    Ok(DomainReference::fit(&train, &held_out, share)?)
}
