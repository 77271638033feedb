//! A run's drift reference: the signals of its held-out exams as the service will see them
//! (calibrated, scored by the gate), see `cruciate_infer::drift`.

use cruciate_infer::drift::{DriftReference, ExamSignals};
use cruciate_infer::{Calibration, DomainReference};

use crate::EvalError;
use crate::scoring::ScoredExam;

/// The drift reference of the held-out calls `valid` (made behind the gate's rules, which
/// gives each its input signals), with the run's `domain` reference and `calibration` applied
/// to them as they will be to every exam.
pub fn drift_from(
    valid: &[ScoredExam],
    domain: Option<&DomainReference>,
    calibration: Option<&Calibration>,
) -> Result<DriftReference, EvalError> {
    let signals: Vec<ExamSignals> = valid
        .iter()
        .filter_map(|s| {
            let mut p = s.prediction.clone();
            if let Some(c) = calibration {
                c.apply(&mut p);
            }
            let score = domain
                .filter(|_| !p.features.is_empty())
                .map(|d| d.score(&p.features));
            let mut signals = p.signals.clone()?.with_output(&p, score);
            signals.abstained |= score.zip(domain).is_some_and(|(s, d)| s > d.limit);
            Some(signals)
        })
        .collect();
    if signals.len() < valid.len() {
        return Err(EvalError::Request(
            "the calls were made without the gate: no input signals".into(),
        ));
    }
    Ok(DriftReference::fit(&signals)?)
}
