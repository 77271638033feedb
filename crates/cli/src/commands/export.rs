//! `cruciate export`: every slice as a PNG, and a montage.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_volume::export::{Window, export_volume};

use super::ExamArgs;

/// Arguments of `cruciate export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    exam: ExamArgs,
    /// Folder to write slice_NNN.png and montage.png into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Display window as CENTRE,WIDTH; default: the 1st to 99th percentile.
    #[arg(long, value_name = "C,W", value_parser = Window::parse, allow_hyphen_values = true)]
    window: Option<Window>,
}

/// Runs `cruciate export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let volume = args.exam.read()?;
    let summary = export_volume(&volume, &args.out, args.window).context("export failed")?;
    println!(
        "wrote {} slices and {} (window centre {:.2}, width {:.2})",
        summary.slices.len(),
        summary.montage.display(),
        summary.window.centre,
        summary.window.width
    );
    Ok(())
}
