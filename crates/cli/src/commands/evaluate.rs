//! `cruciate evaluate`: a run scored on a split, as report.json and report.html.

use std::path::PathBuf;

use clap::Args;
use cruciate_data::{Manifest, Split};
use cruciate_eval::evaluate::{EvaluationRequest, evaluate};
use cruciate_eval::localisation::evaluate_localiser;
use cruciate_models::Compute;

use super::{figure, open_run};
use crate::progress::Bars;

/// Arguments of `cruciate evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The run folder written by `cruciate train` (or `cruciate localise train`: then the
    /// report scores the boxes found; or `cruciate reading`: then every finding is scored,
    /// with the macro AUC).
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// The exams: manifest.csv.
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// Which split to score: train, valid, test or calib.
    #[arg(long, default_value = "test")]
    split: Split,
    /// Injured-probability threshold for sensitivity and specificity.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Folder for report.json and report.html.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Scores a localiser run: IoU, centre distance, slice hits.
fn localiser(args: &EvaluateArgs, manifest: &Manifest, device: Compute) -> anyhow::Result<()> {
    let localiser = super::registry(device).open_localiser(&args.run)?;
    let evaluation =
        evaluate_localiser(localiser.as_ref(), manifest, args.split, &Bars::default())?;
    evaluation.write(&args.out)?;
    let r = &evaluation.report;
    let s = &r.summary;
    println!(
        "{} on {} {} exams: mean 3-D IoU {:.3} (median {:.3}), centre within {} mm in {:.1} %, slice hits {:.1} %, {} without a box",
        r.model,
        s.exams,
        r.split,
        s.mean_iou,
        s.median_iou,
        s.within_mm,
        100.0 * s.centre_within,
        100.0 * s.slice_hit_rate,
        s.not_found
    );
    println!("{}", cruciate_infer::run::model_notice(r.synthetic_model));
    println!("report: {}", args.out.join("report.html").display());
    Ok(())
}

/// Runs `cruciate evaluate`.
pub fn run(args: &EvaluateArgs, device: Compute) -> anyhow::Result<()> {
    if cruciate_infer::ReadingRun::read(&args.run)?.is_some() {
        super::reading::evaluate(&args.run, &args.manifest, args.split, &args.out, device)?;
        return Ok(());
    }
    let manifest = super::manifest_for(&args.run, &args.manifest)?;
    if cruciate_infer::RunInfo::read(&args.run)?
        .is_some_and(|i| i.kind == cruciate_localise::LOCALISER_KIND)
    {
        return localiser(args, &manifest, device);
    }
    let model = open_run(&args.run, device)?;
    let evaluation = evaluate(
        &EvaluationRequest {
            classifier: model.as_ref(),
            run: Some(args.run.clone()),
            manifest: &manifest,
            split: args.split,
            threshold: args.threshold,
        },
        &Bars::default(),
    )?;
    evaluation.write(&args.out)?;
    let r = &evaluation.report;
    println!(
        "{} on {} {} exams: accuracy {}, AUC {}{}, weighted F1 {}",
        r.model,
        r.exams,
        r.split,
        figure(r.accuracy),
        figure(r.auc.value),
        r.auc
            .ci
            .map_or(String::new(), |[a, b]| format!(" (95% CI {a:.3}-{b:.3})")),
        figure(r.weighted_avg.as_ref().map(|w| w.f1)),
    );
    for warning in &r.warnings {
        println!("warning: {warning}");
    }
    for roi in &r.cam_in_roi {
        println!(
            "  {}: heat inside the ACL box {}, pointing hits {} ({} exams)",
            roi.class,
            figure(roi.energy_share),
            figure(roi.pointing_hit_rate),
            roi.exams
        );
    }
    let gate = &r.gate;
    println!(
        "input gate: {} of {} exams accepted{}",
        gate.accepted,
        gate.accepted + gate.abstained,
        if gate.abstained == 0 {
            String::new()
        } else {
            let rules: Vec<String> = gate
                .by_rule
                .iter()
                .map(|(rule, n)| format!("{rule} {n}"))
                .collect();
            format!(
                "; abstained on {} ({}); the figures above score every exam",
                gate.abstained,
                rules.join(", ")
            )
        }
    );
    let c = &r.calibration;
    println!(
        "calibration: {}; expected calibration error {} (model's own {})",
        c.method,
        figure(c.ece_after),
        figure(c.ece_before)
    );
    if let Some(sets) = &r.conformal {
        let levels: Vec<String> = sets
            .levels
            .iter()
            .map(|l| {
                format!(
                    "{:.0} % asked: {:.1} % held, {:.2} grades",
                    100.0 * l.target,
                    100.0 * l.coverage,
                    l.mean_size
                )
            })
            .collect();
        println!("grade sets: {}", levels.join("; "));
    }
    println!("{}", cruciate_infer::run::model_notice(r.synthetic_model));
    println!("report: {}", args.out.join("report.html").display());
    Ok(())
}
