//! `cruciate cv`: a patient-level cross-validation of a network; with `--queue`, its folds
//! fitted as jobs of the research queue by `cruciate worker --research` processes on any
//! number of machines, then scored here.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use cruciate_data::Manifest;
use cruciate_eval::cv::{CvRequest, cross_validate, fit_fold};
use cruciate_infer::Progress;
use cruciate_models::Compute;
use cruciate_server::research::ResearchJob;
use cruciate_train::{NetworkFactory, TrainConfig};
use serde::{Deserialize, Serialize};

use super::research::{LocalJob, Spread};
use super::train::RunSettings;
use super::{RoiArgs, figure};
use crate::progress::Bars;

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
    /// Fit the folds as jobs of the research queue in this database (postgres://USER@HOST/DB
    /// to share them with `cruciate worker --research` on other machines, which must see the
    /// manifest, the weights and --out at the same paths); the folds are then scored here.
    #[arg(long, value_name = "URL")]
    queue: Option<String>,
    /// With --queue: only queue the folds and wait for the workers (fit none here).
    #[arg(long, requires = "queue")]
    coordinate_only: bool,
}

/// What every fold of a cross-validation shares, with absolute paths (the same on every
/// machine).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvSettings {
    /// The training settings, flags applied.
    pub config: TrainConfig,
    /// The exams, before the model's view of them (its finding, its plane).
    pub manifest: PathBuf,
    /// Pretrained backbone weights.
    pub weights: Option<PathBuf>,
    /// Where exams are cut to their ACL region.
    pub roi: RoiArgs,
    /// Number of folds.
    pub folds: usize,
    /// The cross-validation's folder.
    pub out: PathBuf,
}

impl CvSettings {
    /// The prefix of the folds' jobs in the research queue: `cv/`, a short name of the
    /// settings, `/`.
    pub fn prefix(&self) -> String {
        let json = serde_json::to_string(self).expect("settings serialise");
        format!("cv/{}/", super::tune::short_digest(json.as_bytes()))
    }

    fn of(args: &CvArgs, config: TrainConfig) -> anyhow::Result<Self> {
        let absolute = |p: &PathBuf| {
            std::path::absolute(p).with_context(|| format!("{}: no absolute path", p.display()))
        };
        let mut roi = args.settings.roi.clone();
        roi.localiser = roi.localiser.as_ref().map(absolute).transpose()?;
        Ok(Self {
            config,
            manifest: absolute(&args.settings.manifest)?,
            weights: args.settings.weights.as_ref().map(absolute).transpose()?,
            roi,
            folds: args.folds,
            out: absolute(&args.out)?,
        })
    }

    /// The factory of each fold's network.
    fn factory(
        &self,
        device: Compute,
        progress: Arc<dyn Progress>,
    ) -> anyhow::Result<NetworkFactory> {
        Ok(NetworkFactory {
            config: self.config.clone(),
            weights: self.weights.clone(),
            compute: device,
            progress,
            roi: self.roi.crop(device)?,
        })
    }

    /// The exams as the model sees them.
    fn manifest(&self) -> anyhow::Result<Manifest> {
        Ok(self.config.view(&Manifest::read(&self.manifest)?)?)
    }

    fn request<'a>(&self, manifest: &'a Manifest, factory: &'a NetworkFactory) -> CvRequest<'a> {
        CvRequest {
            manifest,
            folds: self.folds,
            seed: self.config.train.seed,
            task: self.config.model.task,
            out: self.out.clone(),
            factory,
        }
    }
}

/// One fold of a cross-validation fitted, as a job of the research queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldJob {
    /// What every fold shares.
    pub cv: CvSettings,
    /// The fold, 1-based.
    pub fold: usize,
}

impl ResearchJob for FoldJob {
    const KIND: &'static str = "cv-fold";

    /// `cv/SETTINGS/fold-K`.
    fn key(&self) -> String {
        format!("{}fold-{}", self.cv.prefix(), self.fold)
    }

    fn describe(&self) -> String {
        format!("fold {}", self.fold)
    }
}

impl LocalJob for FoldJob {
    fn run_here(&self, device: Compute) -> Result<String, String> {
        let fit = || -> anyhow::Result<PathBuf> {
            let manifest = self.cv.manifest()?;
            let factory = self.cv.factory(device, Arc::new(cruciate_infer::Silent))?;
            let request = self.cv.request(&manifest, &factory);
            let fold = self.fold.checked_sub(1).context("folds count from 1")?;
            Ok(fit_fold(&request, fold, &cruciate_infer::Silent)?)
        };
        let run = fit().map_err(|e| format!("{e:#}"))?;
        Ok(serde_json::json!({ "run": run }).to_string())
    }
}

/// Runs `cruciate cv`.
pub fn run(args: &CvArgs, device: Compute) -> anyhow::Result<()> {
    let cv = CvSettings::of(args, args.settings.config()?)?;
    let manifest = cv.manifest()?;
    let progress = Arc::new(Bars::default());
    let factory = cv.factory(device, progress.clone())?;
    if let Some(url) = &args.queue {
        let spread = Spread {
            url,
            work_here: !args.coordinate_only,
            device,
        };
        let jobs: Vec<FoldJob> = (1..=cv.folds)
            .map(|fold| FoldJob {
                cv: cv.clone(),
                fold,
            })
            .collect();
        spread.run(&jobs, &cv.prefix())?;
    }
    let report =
        cross_validate(&cv.request(&manifest, &factory), progress.as_ref()).context("cv")?;
    let joint = if report.pooled_findings.is_empty() {
        ""
    } else {
        " (mean over the findings)"
    };
    for fold in &report.folds {
        println!(
            "fold {}: {} exams, accuracy {}, AUC {}{joint}{}",
            fold.fold,
            fold.figures.exams,
            figure(fold.figures.accuracy),
            figure(fold.figures.auc),
            fold.epoch
                .map_or(String::new(), |e| format!(" (best epoch {e})"))
        );
    }
    for f in &report.pooled_findings {
        println!(
            "pooled {}: accuracy {}, AUC {}",
            f.finding.describe(),
            figure(f.figures.accuracy),
            figure(f.figures.auc)
        );
    }
    println!(
        "pooled: accuracy {}, AUC {}{joint}{}",
        figure(report.pooled.accuracy),
        figure(report.pooled.auc),
        report
            .fold_auc_mean_sd
            .map_or(String::new(), |[m, s]| format!(
                "; fold AUC {m:.3} ± {s:.3}"
            ))
    );
    println!(
        "input gate (rules): {} of {} held-out exams accepted",
        report.gate.accepted,
        report.gate.accepted + report.gate.abstained
    );
    Ok(())
}
