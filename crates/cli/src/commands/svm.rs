//! `cruciate svm train` and `cruciate svm cv`: a support vector classifier (or the logistic
//! regression baseline) on a feature folder, written as a run folder that every other command
//! opens like a network run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use cruciate_data::{Split, Task};
use cruciate_eval::cv::{CvRequest, cross_validate};
use cruciate_eval::domain::DEFAULT_SHARE;
use cruciate_features::{
    Extractor, FeatureFactory, FeatureTable, FitRows, RegionSource, RegionSpec, fit_run,
    training_manifest,
};
use cruciate_models::Compute;
use cruciate_svm::{ClassWeight, Gamma, KernelKind, LogisticSettings, ModelSettings, SvcSettings};

use super::figure;
use crate::progress::Bars;

/// `cruciate svm ...`.
#[derive(Debug, Args)]
pub struct SvmArgs {
    #[command(subcommand)]
    command: SvmCommand,
}

#[derive(Debug, Subcommand)]
enum SvmCommand {
    /// Fit on the feature folder's train rows (scored on its valid rows) into a run folder.
    Train {
        #[command(flatten)]
        model: FeatureModelArgs,
        /// Also fit on the valid rows (all the training data; nothing left to score).
        #[arg(long)]
        with_valid: bool,
        /// The run folder to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Patient-level stratified k-fold cross-validation of the model on the train and valid rows.
    Cv {
        #[command(flatten)]
        model: FeatureModelArgs,
        /// Number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Seed of the fold assignment.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder for the folds' runs, cv.json and predictions.csv.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// The model fitted on features (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeatureModelKind {
    /// A support vector classifier with Platt scaling.
    Svm,
    /// Logistic regression, the baseline.
    Logistic,
}

/// How classes are weighted in the fit (`--class-weight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassWeightFlag {
    /// Inverse to class frequency.
    Balanced,
    /// Every exam counts the same.
    None,
}

/// The features and the model fitted on them.
#[derive(Debug, Args)]
pub struct FeatureModelArgs {
    /// A feature folder made by `cruciate features`.
    #[arg(long, value_name = "DIR")]
    pub features: PathBuf,
    /// binary (healthy vs injured) or grade (0..3).
    #[arg(long, default_value = "binary", value_parser = |s: &str| s.parse::<Task>())]
    pub task: Task,
    /// svm, or logistic (the baseline).
    #[arg(long, value_enum, default_value_t = FeatureModelKind::Svm)]
    pub model: FeatureModelKind,
    /// SVM kernel: rbf or linear.
    #[arg(long, default_value = "rbf", value_parser = |s: &str| s.parse::<KernelKind>().map_err(|e| e.to_string()))]
    pub kernel: KernelKind,
    /// Cost of training errors (SVM), inverse regularisation (logistic).
    #[arg(long, default_value_t = 1.0)]
    pub c: f64,
    /// RBF width: scale (1 / (features x variance)) or a positive number.
    #[arg(long, default_value = "scale", value_parser = |s: &str| s.parse::<Gamma>().map_err(|e| e.to_string()))]
    pub gamma: Gamma,
    /// Class weights: balanced (inverse to class frequency) or none.
    #[arg(long, value_enum, default_value_t = ClassWeightFlag::Balanced)]
    pub class_weight: ClassWeightFlag,
    /// The backbone's weights, when they have moved since the features were computed.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
}

impl FeatureModelArgs {
    /// The model settings the flags describe.
    pub fn settings(&self) -> anyhow::Result<ModelSettings> {
        let class_weight = match self.class_weight {
            ClassWeightFlag::Balanced => ClassWeight::Balanced,
            ClassWeightFlag::None => ClassWeight::None,
        };
        if !(self.c > 0.0 && self.c.is_finite()) {
            anyhow::bail!("--c must be a positive number, got {}", self.c);
        }
        Ok(match self.model {
            FeatureModelKind::Svm => ModelSettings::Svm(SvcSettings {
                kernel: self.kernel,
                c: self.c,
                gamma: self.gamma,
                class_weight,
                ..SvcSettings::default()
            }),
            FeatureModelKind::Logistic => ModelSettings::Logistic(LogisticSettings {
                c: self.c,
                class_weight,
                ..LogisticSettings::default()
            }),
        })
    }
}

impl FeatureModelArgs {
    /// The model settings, the feature folder and the backbone that made it.
    pub fn open(
        &self,
        device: Compute,
    ) -> anyhow::Result<(ModelSettings, FeatureTable, Extractor)> {
        let settings = self.settings()?;
        let registry = super::registry(device);
        let (table, extractor) =
            FeatureTable::reopen(&self.features, self.weights.as_deref(), device, &registry)?;
        table
            .finding
            .check_task(self.task)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.features.display()))?;
        Ok((settings, table, extractor))
    }
}

/// A model fitted on features of ACL regions predicts through a cascade that gives it regions:
/// written to `RUN/cascade` when a localiser cut the exams (its folder returned), else how to
/// make one is said.
fn region_cascade(
    table: &FeatureTable,
    region: &RegionSpec,
    out: &Path,
    device: Compute,
) -> anyhow::Result<Option<PathBuf>> {
    let localiser = table
        .localiser_path
        .clone()
        .filter(|_| matches!(region.source, RegionSource::Localiser { .. }));
    super::RoiArgs {
        roi: super::RoiChoice::Auto,
        localiser,
        roi_margin: region.margin,
    }
    .cascade_beside(out, device)
}

/// The drift reference of a features run from its validation rows `valid`: each exam's input
/// signals read from its file, its gate score from the stored vector (the calls' own signals
/// would need every vector computed again; the service's windows are compared on the signals
/// both have).
fn input_drift(
    table: &FeatureTable,
    valid: &[usize],
    domain: Option<&cruciate_infer::DomainReference>,
) -> anyhow::Result<cruciate_infer::drift::DriftReference> {
    let manifest = training_manifest(table);
    let signals = valid
        .iter()
        .map(|&i| {
            let exam = &table.exams[i];
            let row = cruciate_data::ManifestRow {
                path: exam.source.clone(),
                ..exam.row.clone()
            };
            let volume = cruciate_data::read_exam(&manifest, &row)?;
            let mut signals = cruciate_infer::drift::ExamSignals::of_input(&volume);
            if let Some(d) = domain {
                let score = d.score(table.matrix.row(i));
                signals.domain_score = Some(score);
                signals.abstained = score > d.limit;
            }
            Ok(signals)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(cruciate_infer::drift::DriftReference::fit(&signals)?)
}

/// Runs `cruciate svm`.
pub fn run(args: &SvmArgs, device: Compute) -> anyhow::Result<()> {
    match &args.command {
        SvmCommand::Train {
            model,
            with_valid,
            out,
        } => {
            let (settings, table, extractor) = model.open(device)?;
            let mut fit = table.split(Split::Train);
            let mut valid = table.split(Split::Valid);
            if *with_valid {
                fit.append(&mut valid);
                fit.sort_unstable();
            }
            let calib = table.split(Split::Calib);
            let rows = FitRows {
                fit: &fit,
                valid: &valid,
                calib: &calib,
            };
            let summary = fit_run(&table, rows, model.task, &settings, &extractor, out)
                .context("svm train")?;
            match &table.spec.region {
                // The gate's reference of the cascade: its features of the whole exams.
                Some(region) => {
                    if let Some(cascade) = region_cascade(&table, region, out, device)? {
                        let manifest = training_manifest(&table);
                        super::beside::fit_beside(&cascade, &manifest, device)?;
                    }
                }
                None => {
                    let held_out = rows.held_out();
                    let domain = match table.domain_reference(&fit, held_out, DEFAULT_SHARE) {
                        Ok(reference) => {
                            reference.write(out)?;
                            super::domain::print_reference(&reference);
                            Some(reference)
                        }
                        Err(e) => {
                            println!("input gate: no domain reference ({e})");
                            None
                        }
                    };
                    match input_drift(&table, held_out, domain.as_ref()) {
                        Ok(reference) => {
                            reference.write(out)?;
                            super::beside::print_drift(&reference);
                        }
                        Err(e) => println!("drift reference: not fitted ({e})"),
                    }
                }
            }
            println!(
                "{} on {} exams in {:.2} s{}",
                summary.model,
                summary.fitted_on,
                summary.fit_seconds,
                summary
                    .support_vectors
                    .map_or(String::new(), |n| format!(", {n} support vectors"))
            );
            println!(
                "valid ({} exams): accuracy {}, AUC {}{}",
                summary.valid_exams,
                figure(summary.valid_accuracy),
                figure(summary.valid_auc),
                if table.synthetic {
                    " (synthetic phantoms)"
                } else {
                    ""
                }
            );
            println!("run folder: {}", out.display());
            Ok(())
        }
        SvmCommand::Cv {
            model,
            folds,
            seed,
            out,
        } => {
            let (settings, table, extractor) = model.open(device)?;
            let manifest = training_manifest(&table);
            let factory = FeatureFactory::new(
                Arc::new(table),
                Arc::new(extractor),
                model.task,
                settings,
                device,
            );
            let report = cross_validate(
                &CvRequest {
                    manifest: &manifest,
                    folds: *folds,
                    seed: *seed,
                    task: model.task,
                    out: out.clone(),
                    factory: &factory,
                },
                &Bars::default(),
            )
            .context("svm cv")?;
            for fold in &report.folds {
                println!(
                    "fold {}: {} exams, accuracy {}, AUC {}",
                    fold.fold,
                    fold.figures.exams,
                    figure(fold.figures.accuracy),
                    figure(fold.figures.auc)
                );
            }
            println!(
                "pooled: accuracy {}, AUC {}",
                figure(report.pooled.accuracy),
                figure(report.pooled.auc)
            );
            Ok(())
        }
    }
}
