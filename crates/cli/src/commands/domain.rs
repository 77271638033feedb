//! `cruciate domain`: fit a run's domain reference, the input gate's check that an exam is like
//! the exams the model was trained on (`train` and `svm train` fit it themselves; this is for
//! runs made before, or on another manifest).

use std::path::PathBuf;

use clap::Args;
use cruciate_eval::domain::{DEFAULT_SHARE, domain_from};
use cruciate_infer::DomainReference;
use cruciate_models::Compute;

/// Arguments of `cruciate domain`.
#[derive(Debug, Args)]
pub struct DomainArgs {
    /// The run folder.
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// The manifest whose train exams are the reference and whose calib exams (valid where it
    /// has none) set the limit.
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// The share of in-distribution (calib or valid) exams the limit accepts.
    #[arg(long, default_value_t = DEFAULT_SHARE)]
    share: f64,
}

/// Prints what a reference accepts.
pub fn print_reference(reference: &DomainReference) {
    let [held_out, accepted] = reference.held_out;
    println!(
        "input gate: {} training exams as reference; limit {:.3} accepts {accepted} of \
         {held_out} held-out exams ({:.1} % asked)",
        reference.features.len(),
        reference.limit,
        100.0 * reference.target_share
    );
}

/// Runs `cruciate domain`: the domain reference, and the drift reference beside it (the held-out
/// calls seen through the new reference and the run's calibration as written).
pub fn run(args: &DomainArgs, device: Compute) -> anyhow::Result<()> {
    let manifest = super::manifest_for(&args.run, &args.manifest)?;
    let calls = super::beside::OwnCalls::score(&args.run, &manifest, device)?;
    let reference = domain_from(&calls.model, &calls.train, &calls.held_out, args.share)?;
    reference.write(&args.run)?;
    print_reference(&reference);
    println!(
        "written to {}",
        args.run.join(cruciate_infer::gate::DOMAIN_FILE).display()
    );
    let calibration = cruciate_infer::Calibration::read(&args.run)?;
    calls.drift(&args.run, Some(&reference), calibration.as_ref())
}
