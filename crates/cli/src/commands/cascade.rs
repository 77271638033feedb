//! `cruciate cascade`: a run folder that puts a localiser in front of a classifier, so that the
//! classifier sees the ACL region only. Every command that takes a run (predict, evaluate,
//! compare, explain, cv, the service's `--model`) takes it.

use std::path::{Path, PathBuf};

use clap::Args;
use cruciate_infer::write_cascade;
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

/// Writes the cascade run folder `out` of `localiser` and `classifier` with `margin`, and
/// checks that it opens; its description.
pub fn write(
    localiser: &Path,
    classifier: &Path,
    margin: [usize; 3],
    out: &Path,
    device: Compute,
) -> anyhow::Result<String> {
    Ok(write_cascade(
        &registry(device),
        (localiser, classifier),
        margin,
        out,
    )?)
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
