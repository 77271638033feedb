//! Probabilities a reader can take at their word, and the grades that may be true: what a run
//! learns from its held-out (validation) exams after training, kept in `calibration.json` and
//! applied to every [`Prediction`] of a run opened through
//! [`Registry::open_run`](crate::Registry::open_run).
//!
//! - [`Temperature`]: temperature scaling of a network's probabilities. Models with a
//!   calibration of their own (Platt scaling in SVMs, a logistic regression's likelihood) keep
//!   it: see [`Classifier::own_calibration`](crate::Classifier::own_calibration).
//! - [`Conformal`]: the set of grades that holds the true one for a chosen share of exams.
//!
//! The validation split also chose the best epoch; fitting one temperature and one quantile on
//! it is what Guo et al. and split conformal prediction do in practice, and the test split's
//! figures in `evaluate` show whether it held.

mod conformal;
mod temperature;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use conformal::{Conformal, DEFAULT_COVERAGE, GradeSet, MIN_EXAMS, check_coverage};
pub use temperature::{ECE_BINS, Temperature};

use crate::{InferError, Prediction};

/// The file in a run folder that holds its calibration.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// What to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationSettings {
    /// Fit a temperature (networks; not models calibrated by their own method).
    pub temperature: bool,
    /// The coverage the grade sets are shown at.
    pub coverage: f64,
}

/// A run's calibration: its temperature and its conformal scores, each where the held-out
/// exams gave one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The temperature dividing the model's scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Temperature>,
    /// The held-out scores behind the grade sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformal: Option<Conformal>,
    /// What was not fitted and why, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Calibration {
    /// The calibration of held-out exams with the model's own `probabilities` and true classes
    /// `actual`: a temperature where asked and the exams fit one, then conformal scores on the
    /// probabilities as scaled; what could not be fitted is said in `notes`.
    pub fn fit(
        probabilities: &[Vec<f64>],
        actual: &[usize],
        settings: CalibrationSettings,
    ) -> Result<Self, InferError> {
        check_coverage(settings.coverage)?;
        let mut calibration = Self::default();
        if settings.temperature {
            match Temperature::fit(probabilities, actual) {
                Ok(t) => calibration.temperature = Some(t),
                Err(e) => calibration.notes.push(format!("no temperature: {}", e)),
            }
        }
        let scaled: Vec<Vec<f64>> = probabilities
            .iter()
            .map(|p| calibration.scaled(p))
            .collect();
        match Conformal::fit(&scaled, actual, settings.coverage) {
            Ok(c) => calibration.conformal = Some(c),
            Err(e) => calibration.notes.push(format!("no grade sets: {}", e)),
        }
        Ok(calibration)
    }

    /// `probabilities` with the temperature applied (as they are without one).
    pub fn scaled(&self, probabilities: &[f64]) -> Vec<f64> {
        match &self.temperature {
            Some(t) => t.scale(probabilities),
            None => probabilities.to_vec(),
        }
    }

    /// Applies the calibration to a model's own prediction: its probabilities scaled (the
    /// model's kept in `uncalibrated`) and its grade set.
    pub fn apply(&self, prediction: &mut Prediction) {
        if self.temperature.is_some() {
            let own = prediction.probabilities.clone();
            prediction.set_probabilities(self.scaled(&own));
            prediction.uncalibrated = Some(own);
        }
        prediction.grade_set = self
            .conformal
            .as_ref()
            .map(|c| c.grade_set(&prediction.probabilities, &prediction.classes));
    }

    /// The calibration of run folder `run`, or `None` when it has none.
    pub fn read(run: &Path) -> Result<Option<Self>, InferError> {
        let path = run.join(CALIBRATION_FILE);
        let Some(text) = crate::json_file::read_if_present(&path)? else {
            return Ok(None);
        };
        let calibration: Self =
            serde_json::from_str(&text).map_err(|e| InferError::run(&path, e.to_string()))?;
        if let Some(t) = &calibration.temperature
            && !(t.value.is_finite() && t.value > 0.0)
        {
            return Err(InferError::run(
                &path,
                format!("temperature {} is not a positive number", t.value),
            ));
        }
        if let Some(c) = &calibration.conformal {
            c.validate().map_err(|e| InferError::run(&path, e))?;
        }
        Ok(Some(calibration))
    }

    /// Writes the calibration into run folder `run` (atomically).
    pub fn write(&self, run: &Path) -> Result<(), InferError> {
        crate::json_file::write(&run.join(CALIBRATION_FILE), self, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held-out exams of an overconfident two-class model: 40 calls at 0.95, 30 of them right.
    fn overconfident() -> (Vec<Vec<f64>>, Vec<usize>) {
        (0..40)
            .map(|i| (vec![0.95, 0.05], usize::from(i % 4 == 0)))
            .unzip()
    }

    #[test]
    fn a_fitted_calibration_softens_the_call_gives_a_set_and_round_trips() {
        let (probabilities, actual) = overconfident();
        let settings = CalibrationSettings {
            temperature: true,
            coverage: 0.9,
        };
        let calibration = Calibration::fit(&probabilities, &actual, settings).unwrap();
        let t = calibration.temperature.unwrap();
        assert!(t.value > 1.0 && t.nll_after < t.nll_before, "{t:?}");
        let mut p = Prediction::new(
            vec!["healthy".into(), "injured".into()],
            vec![0.95, 0.05],
            [0, 4],
            Vec::new(),
        );
        calibration.apply(&mut p);
        assert_eq!(p.uncalibrated, Some(vec![0.95, 0.05]));
        // The fitted probability of the call is its held-out accuracy, 0.75.
        assert!((p.probabilities[0] - 0.75).abs() < 0.01, "{p:?}");
        assert!((p.injured_probability - p.probabilities[1]).abs() < 1e-12);
        assert_eq!(p.class, 0);
        let set = p.grade_set.clone().unwrap();
        assert_eq!(
            set.classes,
            vec![0, 1],
            "a quarter are injured: 90 % needs both"
        );

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Calibration::read(dir.path()).unwrap(), None);
        calibration.write(dir.path()).unwrap();
        assert_eq!(Calibration::read(dir.path()).unwrap(), Some(calibration));
        std::fs::write(
            dir.path().join(CALIBRATION_FILE),
            r#"{"temperature": {"value": -1, "exams": 2, "nll_before": 1, "nll_after": 1}}"#,
        )
        .unwrap();
        let err = Calibration::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a positive number"), "{err}");
    }

    #[test]
    fn what_cannot_be_fitted_is_said_and_a_model_calibrated_by_itself_is_left_alone() {
        let (probabilities, actual) = overconfident();
        let few = Calibration::fit(
            &probabilities[..8],
            &actual[..8],
            CalibrationSettings {
                temperature: false,
                coverage: 0.9,
            },
        )
        .unwrap();
        assert_eq!(few.temperature, None);
        assert_eq!(few.conformal, None);
        assert!(few.notes[0].contains("at least 20"), "{:?}", few.notes);
        let mut p = Prediction::new(vec!["a".into(), "b".into()], vec![0.9, 0.1], [0, 1], vec![]);
        let before = p.clone();
        few.apply(&mut p);
        assert_eq!(p, before);
    }
}
