//! `cruciate explain`: where a trained run's call on one exam came from, as pictures.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use cruciate_eval::visualize::{importance_strip, overlay, write_rgb_png};
use cruciate_train::LoadedRun;
use cruciate_train::predict::Method;

use super::ExamArgs;

/// Which explanation.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum MethodArg {
    /// Class activation map (linear heads).
    Cam,
    /// Grad-CAM (any head).
    Gradcam,
}

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
    /// CAM or Grad-CAM (default: CAM when the head is linear).
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// Explain this class instead of the predicted one.
    #[arg(long)]
    class: Option<usize>,
}

/// Runs `cruciate explain`.
pub fn run(args: &ExplainArgs) -> anyhow::Result<()> {
    let model = LoadedRun::open(&args.run)?;
    let volume = args.exam.read()?;
    let method = args.method.map(|m| match m {
        MethodArg::Cam => Method::Cam,
        MethodArg::Gradcam => Method::GradCam,
    });
    let e = model.explain(&volume, None, method, args.class)?;
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let [s, h, w] = e.shape;
    for k in 0..s {
        let at = k * h * w..(k + 1) * h * w;
        let path = args
            .out
            .join(format!("slice_{:03}.png", e.prediction.slices[0] + k));
        write_rgb_png(&path, &overlay(&e.grey[at.clone()], &e.heat[at], w, h))
            .with_context(|| path.display().to_string())?;
    }
    let strip = args.out.join("slice_importance.png");
    write_rgb_png(&strip, &importance_strip(&e.slice_importance, 12, 60))
        .with_context(|| strip.display().to_string())?;
    let json = args.out.join("explain.json");
    cruciate_volume::atomic::write_atomically(&json, |f| {
        serde_json::to_writer_pretty(&mut *f, &e).map_err(std::io::Error::other)
    })
    .with_context(|| json.display().to_string())?;
    println!(
        "{}: {} (P = {:.3}); {} maps for class {} on slices {}..{} in {}",
        volume.meta.path,
        e.prediction.label,
        e.prediction.probabilities[e.prediction.class],
        match e.method {
            Method::Cam => "CAM",
            Method::GradCam => "Grad-CAM",
        },
        e.target,
        e.prediction.slices[0],
        e.prediction.slices[1],
        args.out.display()
    );
    Ok(())
}
