//! What a run learns from its exams after training, from one scoring of the manifest's train
//! and held-out exams behind the gate's rules: the input gate's domain reference, the run's
//! calibration and its drift reference. The held-out exams are the calib split where the
//! manifest has one (exams that neither trained the run nor chose its epoch), else the valid
//! split. `train` (and `svm train` for a cascade) fits all three;
//! `cruciate domain` the domain and drift references, `cruciate calibrate` the calibration.
//! None of them ever fails a written run: what cannot be fitted is said in a line and the run
//! works without it, as a run from before them.

use std::path::Path;

use cruciate_data::{Manifest, Split};
use cruciate_eval::EvalError;
use cruciate_eval::calibration::calibration_from;
use cruciate_eval::domain::{DEFAULT_SHARE, domain_from};
use cruciate_eval::drift::drift_from;
use cruciate_eval::scoring::{ScoredExam, score_split};
use cruciate_infer::calibration::DEFAULT_COVERAGE;
use cruciate_infer::{Calibration, DomainReference, Gated};
use cruciate_models::Compute;

use crate::progress::Bars;

/// A run's calls on the train and held-out exams of a manifest (the held-out ones empty where
/// it has none), behind the gate's rules alone and uncalibrated: the model's own.
pub struct OwnCalls {
    /// The model, behind its rules.
    pub model: Gated,
    /// Its calls on the train exams.
    pub train: Vec<ScoredExam>,
    /// Its calls on the held-out exams.
    pub held_out: Vec<ScoredExam>,
}

impl OwnCalls {
    /// Scores the run in folder `run` on `manifest`.
    pub fn score(run: &Path, manifest: &Manifest, device: Compute) -> Result<Self, EvalError> {
        let model = Gated::new(super::registry(device).open_model(run)?);
        let bars = Bars::default();
        let train = score_split(&model, manifest, Split::Train, &bars)?;
        let held_out_split = manifest.calibration_split();
        let held_out = match score_split(&model, manifest, held_out_split, &bars) {
            Ok(s) => s,
            Err(EvalError::EmptySplit(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        if held_out_split == Split::Calib {
            println!(
                "the calib split's {} exams set the input gate's limit and the calibration",
                held_out.len()
            );
        } else if !held_out.is_empty() {
            println!(
                "the valid split sets the input gate's limit and the calibration; where it \
                 also chose the epoch, its exams are more typical of the model than new ones \
                 (a calib split, `synth --calib` or `data import --calib`, gives truer limits)"
            );
        }
        Ok(Self {
            model,
            train,
            held_out,
        })
    }

    /// Fits and writes the domain reference accepting `share` of the held-out exams; where it
    /// cannot be fitted, says so and returns `None`.
    pub fn domain(&self, run: &Path, share: f64) -> anyhow::Result<Option<DomainReference>> {
        match domain_from(&self.model, &self.train, &self.held_out, share) {
            Ok(reference) => {
                reference.write(run)?;
                super::domain::print_reference(&reference);
                Ok(Some(reference))
            }
            Err(e) => {
                println!(
                    "input gate: no domain reference ({e}); the gate's rules still apply \
                     (`cruciate domain` fits one later)"
                );
                Ok(None)
            }
        }
    }

    /// Fits and writes the calibration; where it cannot be fitted, says so.
    pub fn calibration(&self, run: &Path) -> anyhow::Result<Option<Calibration>> {
        match calibration_from(&self.model, &self.held_out, DEFAULT_COVERAGE) {
            Ok(calibration) => {
                calibration.write(run)?;
                super::calibrate::print_calibration(&calibration);
                Ok(Some(calibration))
            }
            Err(e) => {
                println!("calibration: not fitted ({e})");
                Ok(None)
            }
        }
    }

    /// Fits and writes the drift reference, the held-out calls seen through `domain` and
    /// `calibration`; where it cannot be fitted, says so.
    pub fn drift(
        &self,
        run: &Path,
        domain: Option<&DomainReference>,
        calibration: Option<&Calibration>,
    ) -> anyhow::Result<()> {
        match drift_from(&self.held_out, domain, calibration) {
            Ok(reference) => {
                reference.write(run)?;
                print_drift(&reference);
            }
            Err(e) => println!("drift reference: not fitted ({e})"),
        }
        Ok(())
    }
}

/// Prints what a drift reference holds.
pub fn print_drift(reference: &cruciate_infer::drift::DriftReference) {
    println!(
        "drift reference: {} held-out exams, {} signals",
        reference.exams,
        reference.values.len()
    );
}

/// Fits the domain reference, the calibration and the drift reference of the run just written
/// to `run` on `manifest`, and writes them there.
pub fn fit_beside(run: &Path, manifest: &Manifest, device: Compute) -> anyhow::Result<()> {
    let calls = match OwnCalls::score(run, manifest, device) {
        Ok(calls) => calls,
        Err(e) => {
            println!(
                "input gate and calibration: not fitted ({e}); the gate's rules still apply \
                 (`cruciate domain` and `cruciate calibrate` fit them later)"
            );
            return Ok(());
        }
    };
    let domain = calls.domain(run, DEFAULT_SHARE)?;
    let calibration = calls.calibration(run)?;
    calls.drift(run, domain.as_ref(), calibration.as_ref())
}
