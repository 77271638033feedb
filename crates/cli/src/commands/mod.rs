//! One module per subcommand.

pub mod bench;
pub mod compare;
pub mod evaluate;
pub mod explain;
pub mod export;
pub mod inspect;
pub mod predict;
pub mod synth;
pub mod train;

use std::path::PathBuf;

use clap::Args;
use cruciate_volume::{ReadOptions, Volume, read_paths};

/// The exam to read, shared by every command that reads one.
#[derive(Debug, Args)]
pub struct ExamArgs {
    /// A DICOM folder, zip or file(s), a NIfTI .nii/.nii.gz, an .npy or a KneeMRI .pck.
    /// Several files are read as one DICOM series.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Read this DICOM series (SeriesInstanceUID) instead of the one chosen automatically.
    #[arg(long, value_name = "UID")]
    pub series: Option<String>,
}

impl ExamArgs {
    /// Reads the exam.
    pub fn read(&self) -> anyhow::Result<Volume> {
        let options = ReadOptions {
            series_uid: self.series.clone(),
            ..ReadOptions::default()
        };
        Ok(read_paths(&self.paths, &options)?)
    }
}

/// Two whole numbers written `A..B` on the command line; `example` shows the form in errors.
pub fn parse_bounds(text: &str, example: &str) -> Result<(usize, usize), String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected {example}"))?;
    let number = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("{t:?} is not a whole number"))
    };
    Ok((number(a)?, number(b)?))
}
