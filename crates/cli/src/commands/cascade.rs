//! `cruciate cascade`: a run folder that puts a localiser in front of a classifier, so that the
//! classifier sees the ACL region only. Every command that takes a run (predict, evaluate,
//! compare, explain, cv, the service's `--model`) takes it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use cruciate_infer::{CASCADE_KIND, CascadeSettings, RunInfo};
use cruciate_models::Compute;

use super::{parse_margin, registry};

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

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{}: no such run folder", path.display()))
}

/// Writes the cascade run folder `out` of `localiser` and `classifier` with `margin`, and
/// checks that it opens; its description.
pub fn write(
    localiser: &Path,
    classifier: &Path,
    margin: [usize; 3],
    out: &Path,
    device: Compute,
) -> anyhow::Result<String> {
    let registry = registry(device);
    let found_by = registry.open_localizer(localiser)?;
    let classifier_run = registry.open_run(classifier)?;
    let mut info = RunInfo::new(CASCADE_KIND, classifier_run.info().task, "cascade");
    info.classes = classifier_run.info().classes.clone();
    info.training = classifier_run.info().training.clone();
    info.training.synthetic |= found_by.info().synthetic();
    info.model.description = format!(
        "{} on the ACL region found by {} (margin {:?} voxels)",
        classifier_run.info().model.name,
        found_by.info().model.name,
        margin
    );
    info.settings = serde_json::to_value(CascadeSettings {
        localizer: absolute(localiser)?.display().to_string(),
        classifier: absolute(classifier)?.display().to_string(),
        margin,
    })?;
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    info.write(out)?;
    registry.open_run(out)?;
    Ok(info.model.description)
}

/// Runs `cruciate cascade`.
pub fn run(args: &CascadeArgs, device: Compute) -> anyhow::Result<()> {
    let description = write(
        &args.localiser,
        &args.classifier,
        args.margin,
        &args.out,
        device,
    )?;
    println!("cascade {}: {description}", args.out.display());
    Ok(())
}
