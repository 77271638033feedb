//! `cruciate explain`: where a trained run's call on one exam came from, drawn on the exam's own
//! slices at their native resolution. A reading or a combined run explains each plane network of
//! each finding on its own series of the study, in a folder each (`FINDING-PLANE`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use cruciate_eval::charts::bar_chart;
use cruciate_infer::reading::FindingModel;
use cruciate_infer::{Classifier, ExplainMethod, ExplainRequest, Gated, ReadingModel, Verdict};
use cruciate_models::Compute;
use cruciate_volume::Volume;
use cruciate_volume::export::{Window, slice_image};
use cruciate_volume::heat::heat_figure;

use super::{ExamArgs, registry, write_text};

/// Arguments of `cruciate explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The run folder written by `cruciate train`, or a reading (`cruciate reading`) or a
    /// combined run (`cruciate combine`): then every plane network of every finding.
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
    let registry = registry(device);
    let findings = match cruciate_infer::ReadingRun::read(&args.run)? {
        Some(reading) => Some(ReadingModel::open(&registry, &args.run, &reading)?.into_models()),
        None => match cruciate_infer::CombinedRun::read(&args.run)? {
            Some(_) => Some(vec![FindingModel::open(&registry, &args.run)?]),
            None => None,
        },
    };
    let Some(findings) = findings else {
        let model = Gated::open(registry.open_model(&args.run)?, &args.run)?;
        let volume = args.exam.read_for(model.gate())?;
        return explain_volume(&model, &volume, args, &args.out);
    };
    // The study is read once; each plane network explains its own series of it.
    let study = args.exam.study()?;
    for finding in &findings {
        for (plane, model) in finding.plane_models() {
            let name = format!("{}-{plane}", finding.finding());
            let of_plane = study.of_plane(plane);
            if of_plane.series.is_empty() {
                println!("{name}: no {plane} series in the study");
                continue;
            }
            let volume = model.gate().choose(of_plane, None)?;
            explain_volume(model, &volume, args, &args.out.join(&name))?;
        }
    }
    Ok(())
}

/// Explains `model`'s call on `volume` into folder `out`: a picture per slice seen, the
/// slices' shares, `explain.json`.
fn explain_volume(
    model: &Gated,
    volume: &Volume,
    args: &ExplainArgs,
    out: &Path,
) -> anyhow::Result<()> {
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
    if refused(&model.gate().check(volume)) {
        return Ok(());
    }
    let e = model.explain(
        volume,
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
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
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
        let Some(grey) = slice_image(volume, s, window) else {
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
        let path = out.join(format!("slice_{s:03}.png"));
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
    write_text(&out.join("slice_importance.svg"), &chart)?;
    write_text(
        &out.join("explain.json"),
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
        out.display()
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
