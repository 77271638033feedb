//! `cruciate combine`: MRNet's exam-level model of one finding from its plane networks, a
//! logistic regression over their probabilities fitted on the validation exams (which none of
//! them trained on), scored beside each plane on the test exams.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use cruciate_data::{Finding, Split};
use cruciate_eval::combine::{
    CombineReport, CombineRequest, CombinedFigure, DEFAULT_C, PlaneModel, combine,
};
use cruciate_infer::combined::COMBINED_FORMAT;
use cruciate_infer::reading::{FindingModel, PlaneCall};
use cruciate_infer::{Classifier, CombinedRun, FindingCall, PlaneRun};
use cruciate_models::Compute;
use serde::Serialize;

use super::{open_run, write_text};

/// The report beside `combined.json`.
pub const COMBINE_REPORT: &str = "combine.json";

/// Arguments of `cruciate combine`.
#[derive(Debug, Args)]
pub struct CombineArgs {
    /// The plane runs: one finding, each on its own plane (`train --finding F --plane P`).
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The exams: the regression is fitted on `--fit-on`, every figure is on `--split`.
    #[arg(long, value_name = "CSV")]
    pub manifest: PathBuf,
    /// Where the combined run goes (`combined.json`, `combine.json`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The exams the regression is fitted on: none of the plane networks' training exams.
    #[arg(long, default_value = "valid")]
    pub fit_on: Split,
    /// The exams every figure is reported on.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Seed of the bootstrap intervals.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `cruciate combine`; returns the figures.
pub fn run(args: &CombineArgs, device: Compute) -> anyhow::Result<CombineReport> {
    let manifest = cruciate_data::Manifest::read(&args.manifest)?;
    let mut opened: Vec<Box<dyn Classifier>> = Vec::new();
    for run in &args.runs {
        let model = open_run(run, device)?;
        if model.task() != cruciate_data::Task::Binary {
            anyhow::bail!(
                "{}: a {} run; the combiner reads binary runs (one probability per plane)",
                run.display(),
                model.task()
            );
        }
        opened.push(model);
    }
    let finding = opened[0].info().finding;
    for (run, info) in args.runs.iter().zip(opened.iter().map(|m| m.info())) {
        if info.finding != finding {
            anyhow::bail!(
                "{} answers {} where {} answers {}: combine the planes of one finding",
                run.display(),
                info.finding,
                args.runs[0].display(),
                finding
            );
        }
        let plane = info.plane();
        if opened.iter().filter(|m| m.info().plane() == plane).count() > 1 {
            anyhow::bail!("two runs read the {plane} plane: give one run per plane");
        }
    }
    let planes = opened
        .iter()
        .map(|model| {
            Ok(PlaneModel {
                plane: model.info().plane(),
                classifier: model.as_ref(),
                manifest: model.info().view(&manifest)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = CombineRequest {
        finding,
        planes,
        fit_on: args.fit_on,
        report_on: args.split,
        c: DEFAULT_C,
        seed: args.seed,
    };
    let (combiners, report) = combine(&request, &crate::progress::Bars::default())?;
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let combined = CombinedRun {
        format: COMBINED_FORMAT,
        finding,
        runs: args
            .runs
            .iter()
            .zip(&opened)
            .map(|(run, model)| {
                Ok(PlaneRun {
                    plane: model.info().plane(),
                    run: relative_to(&args.out, run)?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        combiners,
        fitted_on: format!(
            "{} {} exams of {}",
            report.fitted_on.1,
            args.fit_on,
            args.manifest.display()
        ),
        synthetic: opened.iter().any(|m| m.info().synthetic()),
    };
    write_text(
        &args.out.join(COMBINE_REPORT),
        &serde_json::to_string_pretty(&report)?,
    )?;
    combined.write(&args.out)?;
    print!("{}", table(&report));
    if combined.synthetic {
        println!("{}", cruciate_infer::run::model_notice(true));
    }
    println!("combined run: {}", args.out.display());
    Ok(report)
}

/// `run`'s path as `combined.json` keeps it: relative to `out` (so that the folder holding
/// both can move), absolute where they share no folder but the root.
pub fn relative_to(out: &Path, run: &Path) -> anyhow::Result<PathBuf> {
    let absolute = |p: &Path| {
        std::path::absolute(p)
            .map(|p| p.components().collect::<PathBuf>())
            .with_context(|| p.display().to_string())
    };
    let (out, run) = (absolute(out)?, absolute(run)?);
    let (from, to): (Vec<_>, Vec<_>) = (out.components().collect(), run.components().collect());
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if shared <= 1 {
        return Ok(run);
    }
    let mut relative: PathBuf = from[shared..].iter().map(|_| "..").collect();
    relative.extend(&to[shared..]);
    Ok(relative)
}

/// A figure with its interval, as the table prints it.
pub fn auc_text(figure: &CombinedFigure) -> String {
    cruciate_eval::report::auc_with_interval(figure.auc, figure.interval)
}

/// The report as a text table.
pub fn table(report: &CombineReport) -> String {
    let (split, exams, positive) = report.reported_on;
    let mut out = format!(
        "{} ({}): AUC on {exams} {split} exams ({positive} positive), 95 % bootstrap intervals; regressions fitted on {} {} exams\n",
        report.finding,
        report.finding.describe(),
        report.fitted_on.1,
        report.fitted_on.0
    );
    let name = |f: &CombinedFigure| {
        f.planes
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    for figure in report.combined.iter().chain(&report.single) {
        out += &format!("  {:<28} {}\n", name(figure), auc_text(figure));
    }
    out
}

/// Names a finding for a run folder: `abnormal-sagittal`.
pub fn run_name(finding: Finding, plane: cruciate_volume::Plane) -> String {
    format!("{finding}-{plane}")
}

/// What `predict --json` prints for a combined run.
#[derive(Debug, Serialize)]
struct CombinedCall<'a> {
    exam: String,
    #[serde(flatten)]
    call: FindingCall,
    synthetic_model: bool,
    notice: &'a str,
}

/// `cruciate predict` with a combined run: each plane network reads its plane's series of
/// the study (chosen by its gate), and the regression over the planes read and accepted gives
/// the finding's probability; a missing or refused plane is left out and said.
pub fn predict(
    dir: &Path,
    exam: &super::ExamArgs,
    json: bool,
    device: Compute,
) -> anyhow::Result<()> {
    let model = FindingModel::open(&super::registry(device), dir)?;
    // The study is read once; each plane's network is given that plane's series.
    let call = model.read(&exam.study()?)?;
    let out = CombinedCall {
        exam: exam_name(exam),
        call,
        synthetic_model: model.synthetic(),
        notice: cruciate_infer::run::model_notice(model.synthetic()),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let call = &out.call;
    match call.probability {
        Some(p) => println!(
            "{}: {} P = {p:.3} (combined over {})",
            out.exam,
            call.finding.describe(),
            planes_text(&call.planes_used)
        ),
        None => println!(
            "{}: not analysed: no plane the model reads could be used",
            out.exam
        ),
    }
    print_planes(&call.planes, "  ");
    println!("{}", out.notice);
    Ok(())
}

/// The exam's paths, as a result names it.
pub fn exam_name(exam: &super::ExamArgs) -> String {
    exam.paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Planes joined by commas.
pub fn planes_text(planes: &[cruciate_volume::Plane]) -> String {
    planes
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each plane's probability, or why it was not used, a line each after `indent`.
pub fn print_planes(planes: &[PlaneCall], indent: &str) {
    for call in planes {
        match (&call.probability, &call.not_used) {
            (Some(p), _) => println!("{indent}{:<9} {p:.3}", call.plane.as_str()),
            (None, Some(why)) => println!("{indent}{:<9} not used: {why}", call.plane.as_str()),
            (None, None) => {}
        }
    }
}
