//! `cruciate calibrate`: fit a run's calibration on the calib exams of a manifest (the valid
//! ones where it has none): a temperature for networks and the conformal scores behind the
//! grade sets (`train` and `svm train` fit it themselves; this is for runs made before, or
//! another coverage).

use std::path::PathBuf;

use clap::Args;
use cruciate_eval::calibration::fit_calibration;
use cruciate_infer::calibration::{CALIBRATION_FILE, Calibration, DEFAULT_COVERAGE};
use cruciate_models::Compute;

use crate::progress::Bars;

/// Arguments of `cruciate calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The run folder.
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// The manifest whose calib exams (valid where it has none) the calibration is fitted on.
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// The share of exams whose grade set should hold their true grade.
    #[arg(long, default_value_t = DEFAULT_COVERAGE)]
    coverage: f64,
}

/// Prints what a calibration does, in a line or two.
pub fn print_calibration(calibration: &Calibration) {
    if let Some(t) = &calibration.temperature {
        println!(
            "calibration: temperature {:.3} from {} held-out exams (log loss {:.4} -> {:.4})",
            t.value, t.exams, t.nll_before, t.nll_after
        );
    }
    if let Some(c) = &calibration.conformal {
        println!(
            "grade sets: {:.0} % coverage, thresholds from {} held-out exams",
            100.0 * c.coverage,
            c.scores.len()
        );
    }
    for note in &calibration.notes {
        println!("calibration: {note}");
    }
}

/// Runs `cruciate calibrate`.
pub fn run(args: &CalibrateArgs, device: Compute) -> anyhow::Result<()> {
    cruciate_infer::calibration::check_coverage(args.coverage)?;
    let manifest = super::manifest_for(&args.run, &args.manifest)?;
    let model = super::registry(device).open_model(&args.run)?;
    let calibration = fit_calibration(model.as_ref(), &manifest, args.coverage, &Bars::default())?;
    calibration.write(&args.run)?;
    print_calibration(&calibration);
    println!("written to {}", args.run.join(CALIBRATION_FILE).display());
    Ok(())
}
