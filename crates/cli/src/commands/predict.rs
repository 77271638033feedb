//! `cruciate predict`: a trained run's call on one exam.

use std::path::PathBuf;

use clap::Args;
use cruciate_train::LoadedRun;

use super::ExamArgs;

/// Arguments of `cruciate predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run folder written by `cruciate train`.
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    #[command(flatten)]
    exam: ExamArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `cruciate predict`.
pub fn run(args: &PredictArgs) -> anyhow::Result<()> {
    let model = LoadedRun::open(&args.run)?;
    let volume = args.exam.read()?;
    let prediction = model.predict(&volume, None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&prediction)?);
        return Ok(());
    }
    println!(
        "{}: {} (P = {:.3}); injured probability {:.3}",
        volume.meta.path,
        prediction.label,
        prediction.probabilities[prediction.class],
        prediction.injured_probability
    );
    for (i, name) in prediction.classes.iter().enumerate() {
        println!(
            "  {name:<17} {:.3}  driven by slice {}",
            prediction.probabilities[i], prediction.driving_slices[i]
        );
    }
    println!(
        "model: {} at epoch {} on slices {}..{}",
        model.config.model.name, model.epoch, prediction.slices[0], prediction.slices[1]
    );
    Ok(())
}
