//! `cruciate reading`: the whole knee read at once. One model per finding (a run, or a
//! combined run of several planes), assembled into `reading.json`; `predict` then reads a
//! study once and calls every finding, and `evaluate` scores every finding on a split with the
//! macro AUC over them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use cruciate_data::{Manifest, Split};
use cruciate_eval::combine::DEFAULT_C;
use cruciate_eval::reading::{ReadingReport, auc_text, fit_across, score_reading};
use cruciate_infer::reading::{FindingEntry, FindingModel};
use cruciate_infer::{ExamReading, ReadingModel, ReadingRun};
use cruciate_models::Compute;
use serde::Serialize;

use super::combine::{exam_name, planes_text, print_planes, relative_to};
use super::{figure, write_text};
use crate::progress::Bars;

/// The report `evaluate` writes for a reading.
pub const READING_REPORT: &str = "reading-report.json";

/// Arguments of `cruciate reading`.
#[derive(Debug, Args)]
pub struct ReadingArgs {
    /// The models, one per finding: run folders (`train --finding F`) or combined runs
    /// (`cruciate combine`).
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// Where `reading.json` goes.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Let the findings inform each other: per finding, a logistic regression over every
    /// finding's probability, fitted on `--fit-on` of this manifest (exams none of the models
    /// trained on).
    #[arg(long, value_name = "CSV")]
    manifest: Option<PathBuf>,
    /// The exams those regressions are fitted on.
    #[arg(long, default_value = "valid", requires = "manifest")]
    fit_on: Split,
}

/// Runs `cruciate reading`.
pub fn run(args: &ReadingArgs, device: Compute) -> anyhow::Result<()> {
    let fit = args.manifest.as_deref().map(|m| (m, args.fit_on));
    let reading = assemble(&args.runs, &args.out, fit, device)?;
    for entry in &reading.findings {
        println!("{:<9} {}", entry.finding.name(), entry.run.display());
    }
    if let Some(across) = &reading.across {
        println!(
            "findings informed by each other: {} regressions fitted on {}",
            across.combiners.len(),
            across.fitted_on
        );
    }
    println!("reading: {}", args.out.display());
    Ok(())
}

/// Writes the reading of the models in `runs` (one per finding) into folder `out`, each
/// opened and checked first, and with `fit` (a manifest and its split) the regressions by which
/// its findings inform each other fitted on that split: nothing is written for a reading that
/// would not open or fit.
pub fn assemble(
    runs: &[PathBuf],
    out: &Path,
    fit: Option<(&Path, Split)>,
    device: Compute,
) -> anyhow::Result<ReadingRun> {
    let registry = super::registry(device);
    let findings = runs
        .iter()
        .map(|run| {
            let model = FindingModel::open(&registry, run)?;
            Ok(FindingEntry {
                finding: model.finding(),
                run: relative_to(out, run)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut reading = ReadingRun::new(findings, None);
    let model = ReadingModel::open(&registry, out, &reading)?;
    if let Some((manifest, split)) = fit {
        let manifest = Manifest::read(manifest)?;
        reading = ReadingRun::new(
            reading.findings,
            Some(fit_across(
                &model,
                &manifest,
                split,
                DEFAULT_C,
                &Bars::default(),
            )?),
        );
    }
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    reading.write(out)?;
    Ok(reading)
}

/// What `predict --json` prints for a reading.
#[derive(Debug, Serialize)]
struct ReadingOutput {
    exam: String,
    #[serde(flatten)]
    reading: ExamReading,
}

/// `cruciate predict` with a reading: the study read once, every finding called from it.
pub fn predict(
    dir: &Path,
    reading: &ReadingRun,
    exam: &super::ExamArgs,
    json: bool,
    device: Compute,
) -> anyhow::Result<()> {
    let model = ReadingModel::open(&super::registry(device), dir, reading)?;
    let out = ReadingOutput {
        exam: exam_name(exam),
        reading: model.read(&exam.study()?)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{}:", out.exam);
    for call in &out.reading.findings {
        let grade = call
            .prediction
            .as_ref()
            .filter(|p| p.verdict.is_accepted() && p.classes.len() > 2)
            .map_or(String::new(), |p| format!(", grade: {}", p.label));
        println!(
            "  {:<14} {}{grade}{}",
            call.finding.describe(),
            call.describe(),
            if call.planes_used.is_empty() {
                String::new()
            } else {
                format!(" ({})", planes_text(&call.planes_used))
            }
        );
        if call.planes.len() > 1 || call.probability.is_none() {
            print_planes(&call.planes, "      ");
        }
    }
    println!("{}", out.reading.notice);
    Ok(())
}

/// The reading in folder `dir` scored on `split` of `manifest`: its figures and each exam's
/// calls.
pub fn score(
    dir: &Path,
    manifest: &Manifest,
    split: Split,
    device: Compute,
) -> anyhow::Result<(ReadingReport, Vec<cruciate_eval::reading::ReadExam>)> {
    let reading = ReadingRun::read(dir)?
        .ok_or_else(|| anyhow::anyhow!("{}: not a reading (no reading.json)", dir.display()))?;
    let model = ReadingModel::open(&super::registry(device), dir, &reading)?;
    Ok(score_reading(&model, manifest, split, 0, &Bars::default())?)
}

/// `cruciate evaluate` with a reading: every finding on `split` of `manifest`, written as
/// `reading-report.json` and `reading-report.md` into `out`.
pub fn evaluate(
    dir: &Path,
    manifest: &Path,
    split: Split,
    out: &Path,
    device: Compute,
) -> anyhow::Result<ReadingReport> {
    let (report, exams) = score(dir, &Manifest::read(manifest)?, split, device)?;
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    #[derive(Serialize)]
    struct Written<'a> {
        #[serde(flatten)]
        report: &'a ReadingReport,
        exams_read: &'a [cruciate_eval::reading::ReadExam],
    }
    write_text(
        &out.join(READING_REPORT),
        &serde_json::to_string_pretty(&Written {
            report: &report,
            exams_read: &exams,
        })?,
    )?;
    let table = table(&report);
    write_text(&out.join("reading-report.md"), &table)?;
    print!("{table}");
    println!("report: {}", out.join(READING_REPORT).display());
    Ok(report)
}

/// The report as a Markdown table, with the macro AUC and the notice under it.
pub fn table(report: &ReadingReport) -> String {
    let mut text = format!(
        "Every finding on {} {} exams (ROC AUC with 95 % bootstrap intervals; accuracy at P = 0.5):\n\n\
         | finding | exams (positive) | analysed | AUC (95 % CI) | accuracy |\n|---|---|---|---|---|\n",
        report.exams, report.split
    );
    for f in &report.findings {
        text += &format!(
            "| {} | {} ({}) | {} | {} | {} |\n",
            f.finding.describe(),
            f.labelled,
            f.positive,
            f.analysed,
            auc_text(f),
            figure(f.accuracy)
        );
    }
    text += &format!(
        "\nMacro AUC over the findings: {}\n{}\n",
        figure(report.macro_auc),
        cruciate_infer::run::model_notice(report.synthetic_model)
    );
    text
}
