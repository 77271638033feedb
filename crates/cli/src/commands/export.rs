//! `cruciate export`: every slice as a PNG, and a montage.

use std::path::PathBuf;

use clap::Args;
use cruciate_volume::export::{ExportError, Window, export_volume};

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
    /// Export only slices FIRST..END (0-based, END excluded), e.g. the key slices of an exam.
    #[arg(long, value_name = "FIRST..END", value_parser = parse_slice_range)]
    slices: Option<std::ops::Range<usize>>,
}

fn parse_slice_range(text: &str) -> Result<std::ops::Range<usize>, String> {
    let (a, b) = super::parse_bounds(text, "FIRST..END, such as 10..14")?;
    if a >= b {
        return Err(format!("slice range {a}..{b} is empty"));
    }
    Ok(a..b)
}

/// Runs `cruciate export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let volume = args.exam.read()?;
    let summary = export_volume(&volume, &args.out, args.window, args.slices.clone()).map_err(
        |e| match e {
            ExportError::SliceRange { .. } => anyhow::anyhow!("--{e}"),
            other => anyhow::Error::new(other),
        },
    )?;
    println!(
        "wrote {} slices and {} (window centre {:.2}, width {:.2})",
        summary.slices.len(),
        summary.montage.display(),
        summary.window.centre,
        summary.window.width
    );
    Ok(())
}
