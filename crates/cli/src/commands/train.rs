//! `cruciate train` and `cruciate cv`: the run settings shared by both, and the two commands.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_data::Manifest;
use cruciate_train::cv::{CvRequest, cross_validate};
use cruciate_train::{TrainConfig, TrainRequest, train};

/// Settings of a training run, from a TOML file, flags and `--set key=value`.
#[derive(Debug, Args)]
pub struct RunSettings {
    /// The exams: manifest.csv with exam_id,path,label,split,roi[,patient].
    #[arg(long, value_name = "CSV")]
    pub manifest: PathBuf,
    /// mrnet, vgg16, vgg16_bn, vgg19, vgg19_bn, resnet18, resnet50, squeezenet or small.
    #[arg(long)]
    pub model: Option<String>,
    /// binary (healthy vs injured) or grade (0..3).
    #[arg(long)]
    pub task: Option<String>,
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
        if let Some(s) = self.seed {
            overrides.push(format!("train.seed={s}"));
        }
        if let Some(e) = self.epochs {
            overrides.push(format!("train.epochs={e}"));
        }
        overrides.extend(self.set.iter().cloned());
        Ok(TrainConfig::load(self.config.as_deref(), &overrides)?)
    }

    /// The manifest.
    pub fn manifest(&self) -> anyhow::Result<Manifest> {
        Ok(Manifest::read(&self.manifest)?)
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
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let request = TrainRequest {
        manifest: args.settings.manifest()?,
        out: args.out.clone(),
        weights: args.settings.weights.clone(),
        config: args.settings.config()?,
    };
    let summary = train(&request).context("train")?;
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
    println!("run folder: {}", args.out.display());
    Ok(())
}

/// Arguments of `cruciate cv`.
#[derive(Debug, Args)]
pub struct CvArgs {
    #[command(flatten)]
    settings: RunSettings,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Folder for the folds' runs, cv.json and predictions.csv.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `cruciate cv`.
pub fn run_cv(args: &CvArgs) -> anyhow::Result<()> {
    let request = CvRequest {
        manifest: args.settings.manifest()?,
        folds: args.folds,
        out: args.out.clone(),
        weights: args.settings.weights.clone(),
        config: args.settings.config()?,
    };
    let report = cross_validate(&request).context("cv")?;
    let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    for fold in &report.folds {
        println!(
            "fold {}: {} exams, accuracy {}, AUC {} (best epoch {})",
            fold.fold,
            fold.exams,
            f(fold.accuracy),
            f(fold.auc),
            fold.run.best.epoch
        );
    }
    println!(
        "pooled: accuracy {}, AUC {}{}",
        f(report.pooled_accuracy),
        f(report.pooled_auc),
        report
            .fold_auc_mean_sd
            .map_or(String::new(), |[m, s]| format!(
                "; fold AUC {m:.3} ± {s:.3}"
            ))
    );
    Ok(())
}
