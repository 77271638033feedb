//! What `train` (and `svm train` for a cascade) fits beside a run it has just written, from one
//! scoring of the manifest's train and valid exams: the input gate's domain reference and the
//! run's calibration. Neither ever fails a written run: what cannot be fitted is said in a line
//! and the run works without it, as a run from before them (`cruciate domain` and
//! `cruciate calibrate` fit them later).

use std::path::Path;

use cruciate_data::{Manifest, Split};
use cruciate_eval::EvalError;
use cruciate_eval::calibration::calibration_from;
use cruciate_eval::domain::{DEFAULT_SHARE, domain_from};
use cruciate_eval::scoring::score_split;
use cruciate_infer::calibration::DEFAULT_COVERAGE;
use cruciate_models::Compute;

use crate::progress::Bars;

/// Fits the domain reference and the calibration of the run just written to `run` on
/// `manifest`, and writes them there.
pub fn fit_beside(run: &Path, manifest: &Manifest, device: Compute) -> anyhow::Result<()> {
    let model = super::registry(device).open_model(run)?;
    let bars = Bars::default();
    let scored = |split| match score_split(model.as_ref(), manifest, split, &bars) {
        Ok(s) => Ok(s),
        Err(EvalError::EmptySplit(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    let (train, valid) = match (scored(Split::Train), scored(Split::Valid)) {
        (Ok(train), Ok(valid)) => (train, valid),
        (Err(e), _) | (_, Err(e)) => {
            println!(
                "input gate and calibration: not fitted ({e}); the gate's rules still apply \
                 (`cruciate domain` and `cruciate calibrate` fit them later)"
            );
            return Ok(());
        }
    };
    match domain_from(model.as_ref(), &train, &valid, DEFAULT_SHARE) {
        Ok(reference) => {
            reference.write(run)?;
            super::domain::print_reference(&reference);
        }
        Err(e) => println!(
            "input gate: no domain reference ({e}); the gate's rules still apply \
             (`cruciate domain` fits one later)"
        ),
    }
    match calibration_from(model.as_ref(), &valid, DEFAULT_COVERAGE) {
        Ok(calibration) => {
            calibration.write(run)?;
            super::calibrate::print_calibration(&calibration);
        }
        Err(e) => println!("calibration: not fitted ({e})"),
    }
    Ok(())
}
