//! `cruciate localise train` and `cruciate localise`: train an ACL localiser from the boxes of a
//! manifest, and find the ACL region of one exam with it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use cruciate_data::Manifest;
use cruciate_localise::{LocaliserInput, LocaliserRun, LocaliserTraining, train_localiser};
use cruciate_volume::RoiBox;
use serde::Serialize;

use super::ExamArgs;
use crate::progress::Bars;

/// Arguments of `cruciate localise`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LocaliseArgs {
    #[command(subcommand)]
    command: Option<LocaliseCommand>,
    /// The localiser's run folder.
    #[arg(long, value_name = "RUN")]
    run: Option<PathBuf>,
    #[command(flatten)]
    exam: Option<ExamArgs>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum LocaliseCommand {
    /// Train a localiser on the ACL boxes (roi column) of a manifest's train split.
    Train(TrainArgs),
    /// Choose a localiser's decoding settings (slice fraction, box scale) again on a manifest's boxes (valid split).
    Calibrate(CalibrateArgs),
}

/// Arguments of `cruciate localise calibrate`.
#[derive(Debug, Args)]
struct CalibrateArgs {
    /// The localiser's run folder (its run.json gets the settings).
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// The manifest whose boxes the settings are chosen on.
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// Which split: train, valid or test (never the split you report).
    #[arg(long, default_value = "valid")]
    split: cruciate_data::Split,
}

/// Arguments of `cruciate localise train`.
#[derive(Debug, Args)]
struct TrainArgs {
    /// The manifest (its roi column gives the boxes).
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// The run folder to write.
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
    /// Epochs.
    #[arg(long, default_value_t = LocaliserTraining::default().epochs)]
    epochs: usize,
    /// Side of the square each slice is scaled to (a multiple of 8).
    #[arg(long, default_value_t = LocaliserInput::default().size)]
    size: usize,
    /// Slices per optimiser step.
    #[arg(long, default_value_t = LocaliserTraining::default().batch_size)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = LocaliserTraining::default().learning_rate)]
    lr: f64,
    /// The seed of every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Serialize)]
struct Located<'a> {
    exam: &'a str,
    found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    roi: Option<RoiBox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Runs `cruciate localise`.
pub fn run(args: &LocaliseArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(LocaliseCommand::Train(t)) => return train(t),
        Some(LocaliseCommand::Calibrate(c)) => {
            let manifest = Manifest::read(&c.manifest)?;
            let (chosen, mean) =
                cruciate_localise::calibrate::calibrate_run(&c.run, &manifest, c.split)?;
            println!(
                "decoding: slices reaching {:.2} of the peak, the fitted box scaled by {:.2} (mean 3-D IoU {mean:.3} on {} {}): {}",
                chosen.slice_fraction,
                chosen.extent_scale,
                c.split,
                c.manifest.display(),
                c.run.display()
            );
            return Ok(());
        }
        None => {}
    }
    let (Some(run), Some(exam)) = (&args.run, &args.exam) else {
        anyhow::bail!("give --run RUN and an exam, or `cruciate localise train`");
    };
    let info = cruciate_infer::RunInfo::read(run)?
        .with_context(|| format!("{}: no run.json (not a run folder)", run.display()))?;
    anyhow::ensure!(
        info.kind == cruciate_localise::LOCALISER_KIND,
        "{}: a {} run, not a localiser",
        run.display(),
        info.kind
    );
    let localiser = LocaliserRun::open(run, info)?;
    let volume = exam.read()?;
    let found = localiser.find(&volume);
    if args.json {
        let out = Located {
            exam: &volume.meta.path,
            found: found.is_ok(),
            roi: found.as_ref().ok().map(|f| f.roi),
            peak: found.as_ref().ok().map(|f| f.peak),
            reason: found.as_ref().err().cloned(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match found {
        Ok(f) => {
            let b = f.roi;
            let mm = |a: usize, b: usize, s: f64| (b - a) as f64 * s;
            println!(
                "{}: ACL region slices {}..{}, rows {}..{}, columns {}..{} ({:.0} x {:.0} x {:.0} mm; peak {:.2})",
                volume.meta.path,
                b.s0,
                b.s1,
                b.r0,
                b.r1,
                b.c0,
                b.c1,
                mm(b.s0, b.s1, volume.spacing[0]),
                mm(b.r0, b.r1, volume.spacing[1]),
                mm(b.c0, b.c1, volume.spacing[2]),
                f.peak
            );
        }
        Err(reason) => println!("{}: {reason}", volume.meta.path),
    }
    Ok(())
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let manifest = Manifest::read(&args.manifest)?;
    let settings = LocaliserTraining {
        input: LocaliserInput { size: args.size },
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        ..LocaliserTraining::default()
    };
    let trained = train_localiser(&manifest, &args.out, &settings, Arc::new(Bars::default()))?;
    println!(
        "localiser trained on {} exams ({} slices per epoch, {} epochs, {:.0} s); mean 3-D IoU {:.3} on {} valid exams: {}",
        trained.exams[0],
        trained.slices_per_epoch,
        settings.epochs,
        trained.seconds,
        trained.valid_mean_iou,
        trained.exams[1],
        args.out.display()
    );
    Ok(())
}
