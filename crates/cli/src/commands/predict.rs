//! `cruciate predict`: a trained run's call on one exam.

use std::path::PathBuf;

use clap::Args;
use cruciate_infer::Prediction;
use cruciate_models::Compute;
use serde::Serialize;

use super::{ExamArgs, SYNTHETIC_WARNING, open_run};

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
    #[command(flatten)]
    roi: super::RoiArgs,
}

/// What `--json` prints.
#[derive(Serialize)]
struct PredictOutput<'a> {
    exam: &'a str,
    model: &'a str,
    kind: &'a str,
    synthetic_model: bool,
    #[serde(flatten)]
    prediction: &'a Prediction,
}

/// Runs `cruciate predict`.
pub fn run(args: &PredictArgs, device: Compute) -> anyhow::Result<()> {
    let mut model = open_run(&args.run, device)?;
    if let Some(crop) = args.roi.crop(device)? {
        anyhow::ensure!(
            matches!(crop.source, cruciate_infer::RoiSource::Auto(_)),
            "an exam alone has no manifest box: predict with --roi auto --localiser RUN"
        );
        model = Box::new(cruciate_infer::Cascade::with_crop(crop, model));
    }
    let volume = args.exam.read()?;
    let prediction = model.predict(&volume)?;
    let info = model.info();
    if args.json {
        let out = PredictOutput {
            exam: &volume.meta.path,
            model: &info.model.name,
            kind: &info.kind,
            synthetic_model: info.synthetic(),
            prediction: &prediction,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{}: {} (P = {:.3}); injured probability {:.3}",
        volume.meta.path,
        prediction.label,
        prediction.confidence(),
        prediction.injured_probability
    );
    for (i, name) in prediction.classes.iter().enumerate() {
        println!(
            "  {name:<17} {:.3}  strongest on slice {} of {}",
            prediction.probabilities[i],
            prediction.strongest_slices[i] + 1,
            volume.shape[0]
        );
    }
    println!(
        "model: {} ({}){} on slices {}..{}",
        info.model.name,
        info.kind,
        info.model
            .epoch
            .map_or(String::new(), |e| format!(" at epoch {e}")),
        prediction.slices[0],
        prediction.slices[1]
    );
    if info.synthetic() {
        println!("{SYNTHETIC_WARNING}");
    }
    Ok(())
}
