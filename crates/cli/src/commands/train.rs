//! `cruciate train`, and the run settings it shares with `cruciate cv`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use cruciate_data::Manifest;
use cruciate_models::{Compute, network_names};
use cruciate_train::{TrainConfig, TrainRequest, train};

use crate::progress::Bars;

/// Settings of a training run, from a TOML file, flags and `--set key=value`.
#[derive(Debug, Args)]
pub struct RunSettings {
    /// The exams: manifest.csv with `exam_id,path,label,split,roi[,patient]`.
    #[arg(long, value_name = "CSV")]
    pub manifest: PathBuf,
    /// The network (`cruciate train --help` lists them).
    #[arg(long, help = model_help())]
    pub model: Option<String>,
    /// binary (healthy vs injured) or grade (0..3).
    #[arg(long)]
    pub task: Option<String>,
    /// What the model is asked about: acl (the study's), meniscus or abnormal (MRNet's; read
    /// from the manifest's `meniscus` and `abnormal` columns).
    #[arg(long, value_parser = |s: &str| s.parse::<cruciate_data::Finding>())]
    pub finding: Option<cruciate_data::Finding>,
    /// The series the model reads: sagittal (default), coronal or axial.
    #[arg(long, value_parser = |s: &str| cruciate_data::parse_plane(s))]
    pub plane: Option<cruciate_volume::Plane>,
    /// Settings file (TOML; see configs/ and docs/guide.md for every key).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Pretrained backbone weights: torchvision .pth or .safetensors, or a Keras VGG16 .onnx.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Seed of initialisation, order, augmentation and dropout.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Epochs at most.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override any setting, e.g. `--set optim.lr=3e-4 --set schedule.kind=cosine`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub roi: super::RoiArgs,
}

fn model_help() -> String {
    format!("The network: {}", network_names().join(", "))
}

impl RunSettings {
    /// The config file with the flags applied on top.
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        let mut overrides = Vec::new();
        if let Some(m) = &self.model {
            overrides.push(format!("model.name=\"{m}\""));
        }
        if let Some(t) = &self.task {
            overrides.push(format!("model.task=\"{t}\""));
        }
        if let Some(f) = self.finding {
            overrides.push(format!("model.finding=\"{f}\""));
        }
        if let Some(p) = self.plane {
            overrides.push(format!("model.plane=\"{p}\""));
        }
        if let Some(s) = self.seed {
            overrides.push(format!("train.seed={s}"));
        }
        if let Some(e) = self.epochs {
            overrides.push(format!("train.epochs={e}"));
        }
        overrides.extend(self.set.iter().cloned());
        Ok(TrainConfig::load(self.config.as_deref(), &overrides)?)
    }

    /// The manifest as the model of `config` sees it (its finding's labels, its plane's
    /// series).
    pub fn manifest(&self, config: &TrainConfig) -> anyhow::Result<Manifest> {
        Ok(config.view(&Manifest::read(&self.manifest)?)?)
    }
}

/// Arguments of `cruciate train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    settings: RunSettings,
    /// The run folder (created; a killed run in it is resumed).
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
}

/// Runs `cruciate train`.
pub fn run(args: &TrainArgs, device: Compute) -> anyhow::Result<()> {
    let config = args.settings.config()?;
    let request = TrainRequest {
        manifest: args.settings.manifest(&config)?,
        out: args.out.clone(),
        weights: args.settings.weights.clone(),
        config,
        compute: device,
        roi: args.settings.roi.crop(device)?,
    };
    train_and_fit(&request, Some(&args.settings.roi), device)?;
    println!("run folder: {}", args.out.display());
    Ok(())
}

/// Trains `request` (printing its best epoch), then fits the run's input-gate reference and
/// calibration on its manifest: for a network of ACL regions, those of the cascade that `roi`
/// writes beside it.
pub fn train_and_fit(
    request: &TrainRequest,
    roi: Option<&super::RoiArgs>,
    device: Compute,
) -> anyhow::Result<cruciate_train::RunSummary> {
    let summary = train(request, Arc::new(Bars::default())).context("train")?;
    let b = &summary.best;
    println!(
        "best epoch {} of {}: valid loss {:.4}, accuracy {:.3}, AUC {}{}",
        b.epoch,
        summary.last_epoch,
        b.valid_loss,
        b.valid_accuracy,
        b.valid_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
        if summary.stopped_early {
            " (stopped early)"
        } else {
            ""
        }
    );
    // The input gate's reference: the trained network's features of the training exams; for
    // a network of ACL regions, those of the cascade written beside it (whole exams in); for a
    // joint network, each finding's run with that finding's labels.
    let model = &request.config.model;
    let gated: Vec<(PathBuf, Manifest)> = match (model.joint(), roi) {
        (Some(findings), _) => {
            let mut runs = Vec::new();
            for &finding in findings {
                let run = cruciate_train::joint::finding_run(&request.out, finding);
                println!("the {} run: {}", finding.describe(), run.display());
                runs.push((run, request.manifest.for_finding(finding, model.plane)?));
            }
            runs
        }
        (None, Some(roi)) if request.roi.is_some() => roi
            .cascade_beside(&request.out, device)?
            .map(|run| (run, request.manifest.clone()))
            .into_iter()
            .collect(),
        _ => vec![(request.out.clone(), request.manifest.clone())],
    };
    for (run, manifest) in &gated {
        super::beside::fit_beside(run, manifest, device)?;
    }
    Ok(summary)
}
