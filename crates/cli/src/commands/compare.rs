//! `cruciate compare`: runs side by side on one manifest split.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_data::Split;
use cruciate_eval::compare::{SortBy, compare, table, to_markdown};
use cruciate_eval::report::{Page, Table};
use cruciate_infer::Classifier;
use cruciate_models::Compute;

use super::{open_run, write_text};
use crate::progress::Bars;

/// Arguments of `cruciate compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folders, or readings (`cruciate reading`): then every finding is compared, with
    /// the macro AUC.
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// The exams to score every run on.
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// Which split: train, valid, test or calib.
    #[arg(long, default_value = "valid")]
    split: Split,
    /// Sort by (best first): auc, accuracy or f1.
    #[arg(long, default_value = "auc")]
    sort: SortBy,
    /// Also explain up to this many injured exams per run and report the share of the heat
    /// inside the true ACL box (CAM or Grad-CAM for networks, Grad-CAM for feature models).
    #[arg(long, default_value_t = 0, value_name = "EXAMS")]
    explain: usize,
    /// Folder for compare.md and compare.html (the table is printed either way).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// `cruciate compare` of readings: every finding of each, side by side, with the macro AUC.
fn readings(args: &CompareArgs, device: Compute) -> anyhow::Result<()> {
    let manifest = cruciate_data::Manifest::read(&args.manifest)?;
    let mut named = Vec::new();
    for run in &args.runs {
        anyhow::ensure!(
            cruciate_infer::ReadingRun::read(run)?.is_some(),
            "{} is not a reading: compare readings with readings, runs with runs",
            run.display()
        );
        let (report, _) = super::reading::score(run, &manifest, args.split, device)?;
        named.push((run.display().to_string(), report));
    }
    let table = cruciate_eval::reading::comparison_table(&named);
    write_out(args, &table, "readings")
}

/// Prints `table` (of `what`: runs or readings) as Markdown and writes it into `--out` as
/// compare.md and compare.html.
fn write_out(args: &CompareArgs, table: &Table, what: &str) -> anyhow::Result<()> {
    let markdown = to_markdown(table);
    print!("{markdown}");
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
        let page = Page {
            title: format!(
                "Cruciate: {} {what} on the {} split",
                table.rows.len(),
                args.split
            ),
            notes: vec!["Figures on synthetic phantoms are synthetic and say nothing about clinical performance.".into()],
            tables: vec![table.clone()],
            ..Page::default()
        };
        write_text(&out.join("compare.md"), &markdown)?;
        write_text(&out.join("compare.html"), &page.to_html())?;
    }
    Ok(())
}

/// Runs `cruciate compare`.
pub fn run(args: &CompareArgs, device: Compute) -> anyhow::Result<()> {
    if cruciate_infer::ReadingRun::read(&args.runs[0])?.is_some() {
        return readings(args, device);
    }
    // Runs are compared on one question: the first run's finding and plane.
    let manifest = super::manifest_for(&args.runs[0], &args.manifest)?;
    let asked = |run: &PathBuf| -> anyhow::Result<_> {
        Ok(cruciate_infer::RunInfo::read(run)?.map(|i| (i.finding, i.plane())))
    };
    let first = asked(&args.runs[0])?;
    for run in &args.runs[1..] {
        let other = asked(run)?;
        if first.is_some() && other.is_some() && other != first {
            anyhow::bail!(
                "{} answers another question than {} (finding and plane differ): compare runs of one finding on one plane",
                run.display(),
                args.runs[0].display()
            );
        }
    }
    let models = args
        .runs
        .iter()
        .map(|run| Ok((run.display().to_string(), open_run(run, device)?)))
        .collect::<anyhow::Result<Vec<(String, Box<dyn Classifier>)>>>()?;
    let named: Vec<(String, &dyn Classifier)> = models
        .iter()
        .map(|(name, model)| (name.clone(), model.as_ref()))
        .collect();
    let rows = compare(
        &named,
        &manifest,
        (args.split, args.sort, args.explain),
        &Bars::default(),
    )?;
    write_out(args, &table(&rows), "runs")
}
