//! `cruciate explain`: where a trained run's call on one exam came from, drawn on the exam's own
//! slices at their native resolution.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_eval::charts::bar_chart;
use cruciate_infer::{ExplainMethod, ExplainRequest};
use cruciate_models::Compute;
use cruciate_volume::export::{Window, slice_image};
use cruciate_volume::heat::heat_figure;

use super::{ExamArgs, SYNTHETIC_WARNING, open_run, write_text};

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
}

/// Runs `cruciate explain`.
pub fn run(args: &ExplainArgs, device: Compute) -> anyhow::Result<()> {
    let model = open_run(&args.run, device)?;
    let volume = args.exam.read()?;
    let e = model.explain(
        &volume,
        &ExplainRequest {
            method: args.method,
            class: args.class,
        },
    )?;
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
    if model.info().synthetic() {
        caption_tail += " (synthetic demo model)";
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
    if model.info().synthetic() {
        println!("{SYNTHETIC_WARNING}");
    }
    Ok(())
}
