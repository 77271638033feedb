//! `cruciate cascade`: a run folder that puts a localiser in front of a classifier, so that the
//! classifier sees the ACL region only. Every command that takes a run (predict, evaluate,
//! compare, explain, cv, the service's `--model`) takes it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use cruciate_infer::{CASCADE_KIND, CascadeSettings, RunInfo};
use cruciate_models::Compute;

use super::registry;

/// Arguments of `cruciate cascade`.
#[derive(Debug, Args)]
pub struct CascadeArgs {
    /// The localiser's run folder (`cruciate localise train`).
    #[arg(long, value_name = "RUN")]
    localiser: PathBuf,
    /// The classifier's run folder.
    #[arg(long, value_name = "RUN")]
    classifier: PathBuf,
    /// Voxels added around the found box: slices,rows,columns.
    #[arg(long, default_value = "2,16,16", value_parser = parse_margin)]
    margin: [usize; 3],
    /// The cascade's run folder to write.
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
}

fn parse_margin(text: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = text
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("margin {text:?}: expected three whole numbers, slices,rows,columns")
        })?;
    <[usize; 3]>::try_from(parts)
        .map_err(|_| format!("margin {text:?}: expected slices,rows,columns"))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{}: no such run folder", path.display()))
}

/// Runs `cruciate cascade`.
pub fn run(args: &CascadeArgs, device: Compute) -> anyhow::Result<()> {
    let registry = registry(device);
    let localiser = registry.open_localizer(&args.localiser)?;
    let classifier = registry.open_run(&args.classifier)?;
    let mut info = RunInfo::new(CASCADE_KIND, classifier.info().task, "cascade");
    info.classes = classifier.info().classes.clone();
    info.training = classifier.info().training.clone();
    info.training.synthetic |= localiser.info().synthetic();
    info.model.description = format!(
        "{} on the ACL region found by {} (margin {:?} voxels)",
        classifier.info().model.name,
        localiser.info().model.name,
        args.margin
    );
    info.settings = serde_json::to_value(CascadeSettings {
        localizer: absolute(&args.localiser)?.display().to_string(),
        classifier: absolute(&args.classifier)?.display().to_string(),
        margin: args.margin,
    })?;
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    info.write(&args.out)?;
    // What was written opens.
    registry.open_run(&args.out)?;
    println!("cascade {}: {}", args.out.display(), info.model.description);
    Ok(())
}
