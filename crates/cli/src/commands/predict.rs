//! `cruciate predict`: a trained run's call on one exam.

use std::path::PathBuf;

use clap::Args;
use cruciate_infer::{Classifier, Gated, Prediction, Verdict};
use cruciate_models::Compute;
use serde::Serialize;

use super::{ExamArgs, registry};

/// Arguments of `cruciate predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run folder written by `cruciate train` (or by `cruciate combine`: a finding read on
    /// every plane of the study).
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    #[command(flatten)]
    exam: ExamArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    roi: super::RoiArgs,
    /// Show the model's call even where the input gate abstains, marked as outside the
    /// model's domain.
    #[arg(long)]
    force: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct PredictOutput<'a> {
    exam: &'a str,
    model: &'a str,
    kind: &'a str,
    synthetic_model: bool,
    /// False when the file gives no voxel spacing (1 mm assumed).
    spacing_known: bool,
    /// What the reader noted: the series read and why each other was not, conversions.
    exam_notes: &'a [String],
    /// True when the gate abstained and `--force` showed the call anyway.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    outside_domain: bool,
    /// The call, where it is shown.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    prediction: Option<&'a Prediction>,
    /// The gate's verdict, where the call is not shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'a Verdict>,
}

/// Runs `cruciate predict`.
pub fn run(args: &PredictArgs, device: Compute) -> anyhow::Result<()> {
    let reading = cruciate_infer::ReadingRun::read(&args.run)?;
    let combined = cruciate_infer::CombinedRun::read(&args.run)?.is_some();
    if reading.is_some() || combined {
        anyhow::ensure!(
            !args.force && args.roi.roi == super::RoiChoice::None,
            "{}: a {} gives no call for a plane its gate refuses, and each plane run keeps its own input: --force and --roi do not apply",
            args.run.display(),
            if combined { "combined run" } else { "reading" }
        );
    }
    if let Some(reading) = reading {
        return super::reading::predict(&args.run, &reading, &args.exam, args.json, device);
    }
    if combined {
        return super::combine::predict(&args.run, &args.exam, args.json, device);
    }
    let model = registry(device).open_model(&args.run)?;
    // The gate judges the exam as read, in front of whatever was assembled: the run's own
    // gate (with its domain reference), or the rules alone in front of a cascade made here.
    let model = match args.roi.crop(device)? {
        Some(crop) => {
            anyhow::ensure!(
                matches!(crop.source, cruciate_infer::RoiSource::Auto(_)),
                "an exam alone has no manifest box: predict with --roi auto --localiser RUN"
            );
            Gated::new(Box::new(cruciate_infer::Cascade::with_crop(crop, model)))
        }
        None => Gated::open(model, &args.run)?,
    };
    let volume = args.exam.read_for(model.gate())?;
    let prediction = model.predict(&volume)?;
    let info = model.info();
    let accepted = prediction.verdict.is_accepted();
    let shown = accepted || args.force;
    if args.json {
        let out = PredictOutput {
            exam: &volume.meta.path,
            model: &info.model.name,
            kind: &info.kind,
            synthetic_model: info.synthetic(),
            spacing_known: !volume.meta.spacing_unknown,
            exam_notes: &volume.meta.notes,
            outside_domain: !accepted && args.force,
            prediction: shown.then_some(&prediction),
            verdict: (!shown).then_some(&prediction.verdict),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let print_notes = || {
        for note in &volume.meta.notes {
            println!("note: {note}");
        }
    };
    if !shown {
        println!("{}: {}", volume.meta.path, prediction.verdict);
        print_notes();
        println!(
            "model: {} ({}); no grade is shown for an exam outside its domain (--force shows it)",
            info.model.name, info.kind
        );
        println!("{}", info.notice());
        return Ok(());
    }
    if !accepted {
        println!(
            "OUTSIDE THE MODEL'S DOMAIN (shown by --force): {}",
            prediction.verdict
        );
    }
    let positive = match info.finding {
        cruciate_data::Finding::Acl => "injured",
        finding => finding.describe(),
    };
    println!(
        "{}: {} (P = {:.3}); {positive} probability {:.3}",
        volume.meta.path,
        prediction.label,
        prediction.confidence(),
        prediction.injured_probability
    );
    if let Some(set) = &prediction.grade_set {
        println!("grade set (conformal): {set}");
    }
    for (i, name) in prediction.classes.iter().enumerate() {
        println!(
            "  {name:<17} {:.3}  strongest on slice {} of {}",
            prediction.probabilities[i],
            prediction.strongest_slices[i] + 1,
            volume.shape[0]
        );
    }
    if let Some(note) = volume.spacing_note() {
        println!("note: {note}");
    }
    print_notes();
    if let Some(t) = model.calibration().and_then(|c| c.temperature) {
        println!(
            "probabilities calibrated by temperature {:.3} (fitted on {} held-out exams)",
            t.value, t.exams
        );
    }
    println!(
        "model: {} ({}){} on slices {}..{}",
        info.model.name,
        info.kind,
        info.model
            .epoch
            .map_or(String::new(), |e| format!(" at epoch {e}")),
        prediction.slices[0],
        prediction.slices[1]
    );
    println!("{}", info.notice());
    Ok(())
}
