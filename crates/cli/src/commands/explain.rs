//! `cruciate explain`: where a trained run's call on one exam came from, drawn on the exam's own
//! slices at their native resolution.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_eval::charts::bar_chart;
use cruciate_infer::{Classifier, ExplainMethod, ExplainRequest, Gated, Verdict};
use cruciate_models::Compute;
use cruciate_volume::export::{Window, slice_image};
use cruciate_volume::heat::heat_figure;

use super::{ExamArgs, registry, write_text};

/// Arguments of `cruciate explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The run folder written by `cruciate train`.
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    #[command(flatten)]
    exam: ExamArgs,
    /// Folder for the pictures and explain.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// cam, gradcam or occlusion (default: the model's own; CAM for linear heads).
    #[arg(long, value_name = "METHOD")]
    method: Option<ExplainMethod>,
    /// Explain this class (0 healthy, ...) instead of the predicted one.
    #[arg(long)]
    class: Option<usize>,
    /// Explain the call even where the input gate abstains, marked as outside the model's
    /// domain.
    #[arg(long)]
    force: bool,
}

/// Runs `cruciate explain`.
pub fn run(args: &ExplainArgs, device: Compute) -> anyhow::Result<()> {
    let model = Gated::open(registry(device).open_model(&args.run)?, &args.run)?;
    let volume = args.exam.read_for(model.gate())?;
    // The gate's rules first: an exam outside the model's domain is not explained unless
    // forced.
    let refused = |verdict: &Verdict| {
        let refused = !verdict.is_accepted() && !args.force;
        if refused {
            println!(
                "{}: {verdict} (--force explains the call anyway)",
                volume.meta.path
            );
        }
        refused
    };
    if refused(&model.gate().check(&volume)) {
        return Ok(());
    }
    let e = model.explain(
        &volume,
        &ExplainRequest {
            method: args.method,
            class: args.class,
        },
    )?;
    // The features' verdict (unlike the training exams) comes with the call.
    let verdict = e.prediction.verdict.clone();
    if refused(&verdict) {
        return Ok(());
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let p = &e.prediction;
    let target = &p.classes[e.target];
    let window = Window::from_percentiles(&volume.data);
    let mut caption_tail = format!(
        "call {} P={:.2}; {} for {target}",
        p.label,
        p.confidence(),
        e.method.title()
    );
    if let Some(set) = &p.grade_set {
        caption_tail += &format!("; set {set}");
    }
    caption_tail += if model.info().synthetic() {
        " (synthetic demo model)"
    } else {
        " (research model)"
    };
    if !verdict.is_accepted() {
        caption_tail = format!("OUTSIDE THE MODEL'S DOMAIN; {caption_tail}");
    }
    for s in p.slices[0]..p.slices[1] {
        let Some(grey) = slice_image(&volume, s, window) else {
            continue;
        };
        let picture = heat_figure(
            &grey,
            e.heat.slice(s),
            &[
                format!("slice {} of {}", s + 1, volume.slices()),
                caption_tail.clone(),
            ],
        );
        let path = args.out.join(format!("slice_{s:03}.png"));
        picture
            .save_png(&path)
            .with_context(|| path.display().to_string())?;
    }
    let bars: Vec<(String, f64)> = e
        .slice_importance
        .iter()
        .enumerate()
        .map(|(k, share)| ((p.slices[0] + k + 1).to_string(), *share))
        .collect();
    let key = e.key_slice() - p.slices[0];
    let chart = bar_chart(
        &format!("Each slice's share in the call ({target})"),
        "slice",
        "share",
        &bars,
        Some(key),
    )?;
    write_text(&args.out.join("slice_importance.svg"), &chart)?;
    write_text(
        &args.out.join("explain.json"),
        &serde_json::to_string_pretty(&e)?,
    )?;
    println!(
        "{}: {} (P = {:.3}); {} maps for {target} on slices {} to {} of {} (key slice {}: \
         the largest share of the heat map) in {}",
        volume.meta.path,
        p.label,
        p.confidence(),
        e.method.title(),
        p.slices[0] + 1,
        p.slices[1],
        volume.slices(),
        e.key_slice() + 1,
        args.out.display()
    );
    if let Some(set) = &p.grade_set {
        println!("grade set (conformal): {set}");
    }
    if !verdict.is_accepted() {
        println!("OUTSIDE THE MODEL'S DOMAIN (explained by --force): {verdict}");
    }
    println!("{}", model.info().notice());
    Ok(())
}
