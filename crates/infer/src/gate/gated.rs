//! A classifier behind the gate.

use cruciate_volume::Volume;

use super::{DomainReference, Gate, Reason, Verdict};
use crate::drift::ExamSignals;
use crate::{
    Calibration, Classifier, ExplainRequest, Explanation, InferError, Prediction, RunInfo,
};

/// A classifier whose every prediction and explanation carries the gate's verdict on the exam,
/// with the run's [`Calibration`] applied (calibrated probabilities, the grade set).
///
/// The model runs on an abstained exam too, so that an override can show its call; when it
/// cannot (an exam it has no input for), the error names the gate's reasons first.
pub struct Gated {
    inner: Box<dyn Classifier>,
    gate: Gate,
    calibration: Option<Calibration>,
}

impl Gated {
    /// `inner` behind the gate its run describes (its rules only: no domain reference).
    pub fn new(inner: Box<dyn Classifier>) -> Self {
        let gate = Gate::for_run(inner.info());
        Self {
            inner,
            gate,
            calibration: None,
        }
    }

    /// `inner`, opened from run folder `run`, behind its gate with the run's domain reference
    /// (`domain.json`) and its calibration (`calibration.json`) where it has them.
    pub fn open(inner: Box<dyn Classifier>, run: &std::path::Path) -> Result<Self, InferError> {
        let gate = Gate::for_run(inner.info()).with_reference(DomainReference::read(run)?);
        Ok(Self {
            inner,
            gate,
            calibration: Calibration::read(run)?,
        })
    }

    /// The gate.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The model's own result with the gate's verdict (the rules on the exam, then its
    /// features against the training exams), or, where the model failed on an exam the rules
    /// refused, their reasons and the model's as an input error.
    fn behind_gate<T>(
        &self,
        exam: &Volume,
        run: impl FnOnce() -> Result<T, InferError>,
        prediction_of: impl FnOnce(&mut T) -> &mut Prediction,
    ) -> Result<T, InferError> {
        let verdict = self.gate.check(exam);
        match run() {
            Ok(mut out) => {
                let prediction = prediction_of(&mut out);
                if let Some(calibration) = &self.calibration {
                    calibration.apply(prediction);
                }
                // The rules', the model's own (a cascade without a region), the features'.
                let mut reasons: Vec<Reason> = verdict.reasons().to_vec();
                reasons.extend(prediction.verdict.reasons().iter().cloned());
                reasons.extend(self.gate.unlike(&prediction.features));
                prediction.verdict = Verdict::from_reasons(reasons);
                prediction.signals = Some(
                    ExamSignals::of_input(exam)
                        .with_output(prediction, self.gate.domain_score(&prediction.features)),
                );
                Ok(out)
            }
            Err(e) if !verdict.is_accepted() && e.kind() == crate::ErrorKind::BadInput => {
                Err(InferError::Input(format!("{verdict} (and the model: {e})")))
            }
            Err(e) => Err(e),
        }
    }
}

impl Classifier for Gated {
    fn info(&self) -> &RunInfo {
        self.inner.info()
    }

    fn own_calibration(&self) -> Option<&'static str> {
        self.inner.own_calibration()
    }

    fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        self.behind_gate(exam, || self.inner.predict(exam), |p| p)
    }

    fn explain(&self, exam: &Volume, request: &ExplainRequest) -> Result<Explanation, InferError> {
        self.behind_gate(
            exam,
            || self.inner.explain(exam, request),
            |e| &mut e.prediction,
        )
    }
}
