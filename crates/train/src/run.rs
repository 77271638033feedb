//! One training run into a run folder:
//!
//! ```text
//! RUN/config.toml      the settings as used
//! RUN/metrics.jsonl    one line per epoch
//! RUN/checkpoint/      model, optimiser and schedule records of the best and last epochs
//! RUN/summary.json     best epoch and its validation figures, written when the run ends
//! ```
//!
//! Running again into a folder whose run was killed resumes from its last complete checkpoint,
//! provided the settings are the same; the epochs after it are trained again and, with the
//! same seed, give the same figures as an uninterrupted run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::prelude::*;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Split};
use burn::train::metric::{AccuracyMetric, AurocMetric, LearningRateMetric, LossMetric, Metric};
use burn::train::{Interrupter, Learner, SupervisedTraining};
use cruciate_data::{Manifest, ManifestRow, Split as DataSplit};
use cruciate_models::{BackboneKind, ExamModel, HeadActivation, HeadConfig, SlicePooling};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::checkpoint::{AtomicCheckpointer, PatienceStopping, complete_epochs, monitored, prune};
use crate::classifier::{ExamClassifier, NanGuard};
use crate::config::{
    Activation, Balance, Mode, Monitor, Pooling, Task, TrainConfig, backbone_name,
};
use crate::loader::{ExamLoader, Visit};
use crate::logger::{EpochRecord, History, RunLogger, resume_history};
use crate::prepare::{PreparedExam, prepare_volume};
use crate::render::BarRenderer;

/// What a run needs besides its config.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// Exams, labels and splits (train and valid are used).
    pub manifest: Manifest,
    /// The run folder.
    pub out: PathBuf,
    /// Pretrained backbone weights (torchvision `.pth` / `.safetensors`).
    pub weights: Option<PathBuf>,
    /// All settings.
    pub config: TrainConfig,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Model name.
    pub model: String,
    /// Binary or grade.
    pub task: Task,
    /// The figure that chose the best epoch.
    pub monitor: Monitor,
    /// The best epoch and its validation figures.
    pub best: EpochRecord,
    /// The last epoch trained.
    pub last_epoch: usize,
    /// True when early stopping ended the run before `train.epochs`.
    pub stopped_early: bool,
    /// The epoch this invocation resumed from, if it did.
    pub resumed_from: Option<usize>,
    /// Training exams and validation exams.
    pub exams: [usize; 2],
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
}

/// Files of a run folder.
pub struct RunFiles {
    /// The folder.
    pub root: PathBuf,
}

impl RunFiles {
    /// `RUN/config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `RUN/metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    /// `RUN/summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    /// `RUN/checkpoint`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
}

/// The untrained exam model a config describes.
pub fn build_model(config: &TrainConfig, device: &Device) -> ExamModel {
    let kind = BackboneKind::from_name(backbone_name(&config.model.name))
        .expect("validated config names a backbone");
    let pooling = match config.model.pooling {
        Pooling::Max => SlicePooling::Max,
        Pooling::Mean => SlicePooling::Mean,
        Pooling::Attention => SlicePooling::Attention,
    };
    let head = HeadConfig {
        hidden: config.model.hidden,
        activation: match config.model.activation {
            Activation::Relu => HeadActivation::Relu,
            Activation::Leakyrelu => HeadActivation::LeakyRelu,
            Activation::Elu => HeadActivation::Elu,
            Activation::Gelu => HeadActivation::Gelu,
        },
        dropout: config.model.dropout,
    };
    ExamModel::with_head(
        kind.init(device),
        kind.channels(),
        config.model.task.classes(),
        pooling,
        head,
        device,
    )
}

/// The exams of one split, read and prepared in parallel.
pub fn prepare_exams(
    manifest: &Manifest,
    split: DataSplit,
    config: &TrainConfig,
) -> Result<Vec<PreparedExam>, TrainError> {
    let rows: Vec<_> = manifest.split(split).collect();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(rows.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_message(format!("reading {split:?} exams"));
    let task = config.model.task;
    let out = rows
        .par_iter()
        .map(|row| {
            let volume = read_exam(manifest, row)?;
            let (data, shape, first_slice) = prepare_volume(&volume, row.roi, &config.data)
                .map_err(|reason| exam_error(manifest, row, reason))?;
            bar.inc(1);
            Ok(PreparedExam {
                exam_id: row.exam_id.clone(),
                class: task.class_of(row.label),
                grade: row.label,
                data,
                shape,
                first_slice,
            })
        })
        .collect();
    bar.finish_and_clear();
    out
}

/// Reads a manifest row's exam; errors name the exam and its path.
pub fn read_exam(
    manifest: &Manifest,
    row: &ManifestRow,
) -> Result<cruciate_volume::Volume, TrainError> {
    cruciate_volume::read_path(&manifest.resolve(row), &Default::default())
        .map_err(|e| exam_error(manifest, row, e.to_string()))
}

/// An error about a manifest row's exam.
pub fn exam_error(manifest: &Manifest, row: &ManifestRow, reason: String) -> TrainError {
    TrainError::Exam {
        exam_id: row.exam_id.clone(),
        path: manifest.resolve(row),
        reason,
    }
}

/// Class counts of `exams` for `classes` classes.
pub fn class_counts(exams: &[PreparedExam], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for e in exams {
        counts[e.class] += 1;
    }
    counts
}

fn check_splits(
    train: &[PreparedExam],
    valid: &[PreparedExam],
    task: Task,
) -> Result<(), TrainError> {
    if train.is_empty() || valid.is_empty() {
        return Err(TrainError::Data(format!(
            "the manifest has {} train and {} valid exams: both splits are needed",
            train.len(),
            valid.len()
        )));
    }
    let counts = class_counts(train, task.classes());
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        return Err(TrainError::Data(format!(
            "the train split has a single class (counts per class {counts:?}): nothing to learn"
        )));
    }
    Ok(())
}

/// Loads pretrained backbone weights and applies the training mode.
fn backbone_for_mode(
    mut model: ExamModel,
    config: &TrainConfig,
    weights: Option<&Path>,
) -> Result<ExamModel, TrainError> {
    let mode = match (config.model.mode, weights) {
        (Mode::Auto, Some(_)) => Mode::Finetune,
        (Mode::Auto, None) => Mode::Scratch,
        (mode, _) => mode,
    };
    match (mode, weights) {
        (Mode::Scratch, Some(_)) => {
            return Err(TrainError::Config(
                "model.mode = \"scratch\" trains from random weights: drop --weights or choose finetune/frozen".into(),
            ));
        }
        (Mode::Finetune | Mode::Frozen, None) => {
            return Err(TrainError::Config(format!(
                "model.mode = \"{}\" needs pretrained backbone weights (--weights FILE)",
                if mode == Mode::Frozen {
                    "frozen"
                } else {
                    "finetune"
                }
            )));
        }
        _ => {}
    }
    if let Some(path) = weights {
        let report = crate::predict::load_backbone_weights(&mut model.backbone, path)?;
        tracing::info!(
            "{}: {} tensors loaded, {} ignored",
            path.display(),
            report.applied,
            report.ignored.len()
        );
    }
    model.backbone = match mode {
        Mode::Frozen => model.backbone.freeze_first(usize::MAX),
        Mode::Finetune => model.backbone.freeze_first(config.model.freeze_blocks),
        _ => model.backbone,
    };
    Ok(model)
}

/// Where a run starts: a fresh folder, or the last checkpoint of a killed run with the same
/// settings.
fn start_epoch(files: &RunFiles, config: &TrainConfig) -> Result<Option<usize>, TrainError> {
    if files.summary().exists() {
        return Err(TrainError::Run(format!(
            "{} already holds a finished run (summary.json): choose another --out",
            files.root.display()
        )));
    }
    if files.config().exists() {
        let text = std::fs::read_to_string(files.config())
            .map_err(|e| TrainError::io(&files.config(), e))?;
        let previous: TrainConfig = toml::from_str(&text).map_err(|e| {
            TrainError::Run(format!("{}: {}", files.config().display(), e.message()))
        })?;
        if &previous != config {
            return Err(TrainError::Run(format!(
                "{} holds a run with other settings: resume with the same config or choose another --out",
                files.root.display()
            )));
        }
        return Ok(complete_epochs(&files.checkpoints()).last().copied());
    }
    if std::fs::read_dir(&files.root).is_ok_and(|mut d| d.next().is_some()) {
        return Err(TrainError::Run(format!(
            "{} is not empty and holds no run: choose an empty or new folder",
            files.root.display()
        )));
    }
    Ok(None)
}

/// Trains as `request` says, resuming a killed run in the same folder.
pub fn train(request: &TrainRequest) -> Result<RunSummary, TrainError> {
    let started = Instant::now();
    let config = &request.config;
    config.validate()?;
    let files = RunFiles {
        root: request.out.clone(),
    };
    let resume = start_epoch(&files, config)?;
    std::fs::create_dir_all(files.checkpoints())
        .map_err(|e| TrainError::io(&files.checkpoints(), e))?;
    let text = config.to_toml();
    cruciate_volume::atomic::write_atomically(&files.config(), |w| w.write_all(text.as_bytes()))
        .map_err(|e| TrainError::io(&files.config(), e))?;
    let history: History = Arc::new(Mutex::new(resume_history(
        &files.metrics(),
        resume.unwrap_or(0),
    )?));

    let train_exams = Arc::new(prepare_exams(&request.manifest, DataSplit::Train, config)?);
    let valid_exams = Arc::new(prepare_exams(&request.manifest, DataSplit::Valid, config)?);
    let task = config.model.task;
    check_splits(&train_exams, &valid_exams, task)?;
    let counts = class_counts(&train_exams, task.classes());

    let seed = config.train.seed;
    let device = cruciate_models::default_device().autodiff();
    device.seed(seed);
    let model = backbone_for_mode(
        build_model(config, &device),
        config,
        request.weights.as_deref(),
    )?;
    let interrupter = Interrupter::new();
    let guard = NanGuard::new(interrupter.clone());
    let weights = (config.train.balance == Balance::Weights)
        .then(|| cruciate_models::loss::inverse_frequency_weights(&counts));
    let classifier = ExamClassifier::new(model, weights, config.optim.l1, guard.clone());

    let first_epoch = resume.unwrap_or(0) + 1;
    let visit = if config.train.balance == Balance::Sampler {
        Visit::Balanced
    } else {
        Visit::Shuffled
    };
    let train_loader = ExamLoader::new(
        train_exams.clone(),
        visit,
        Some(config.augment.clone()),
        seed,
        first_epoch,
        &device,
    );
    let valid_loader = ExamLoader::new(
        valid_exams.clone(),
        Visit::InOrder,
        None,
        seed,
        first_epoch,
        &device,
    );
    let steps_per_epoch = train_exams.len().div_ceil(config.train.batch_size);
    let scheduler = crate::optim::scheduler(
        config.optim.lr,
        &config.schedule,
        config.train.epochs,
        steps_per_epoch,
        history.clone(),
    )?;
    let learner = Learner::new(
        classifier,
        crate::optim::optimizer(&config.optim),
        scheduler,
    );

    let (monitor_name, direction) = monitored(config.train.monitor);
    let best_strategy = match config.train.monitor {
        Monitor::ValidLoss => MetricCheckpointingStrategy::new(
            &LossMetric::new(),
            Aggregate::Mean,
            direction,
            Split::Valid,
        ),
        Monitor::ValidAuc => MetricCheckpointingStrategy::new(
            &AurocMetric::binary(),
            Aggregate::Mean,
            direction,
            Split::Valid,
        ),
    };
    debug_assert_eq!(
        monitor_name,
        match config.train.monitor {
            Monitor::ValidLoss => LossMetric::new().name().to_string(),
            Monitor::ValidAuc => AurocMetric::binary().name().to_string(),
        }
    );
    let dir = files.checkpoints();
    let mut training =
        SupervisedTraining::new(&files.root, Arc::new(train_loader), Arc::new(valid_loader))
            .metric_train_numeric(LossMetric::new())
            .metric_train_numeric(LearningRateMetric::new())
            .metric_train_numeric(AccuracyMetric::new())
            .metric_valid_numeric(LossMetric::new())
            .metric_valid_numeric(AccuracyMetric::new())
            .metric_valid_numeric(AurocMetric::binary())
            .with_metric_logger(RunLogger::new(files.metrics(), history.clone()))
            .renderer(Box::new(BarRenderer::new()))
            .with_custom_checkpointers(
                AtomicCheckpointer::new(&dir, "model"),
                AtomicCheckpointer::new(&dir, "optim"),
                AtomicCheckpointer::new(&dir, "scheduler"),
            )
            .with_checkpointing_strategy(
                ComposedCheckpointingStrategy::builder()
                    .add(KeepLastNCheckpoints::new(1))
                    .add(best_strategy)
                    .build(),
            )
            .with_application_logger(None)
            .with_interrupter(interrupter)
            .num_epochs(config.train.epochs);
    if config.train.batch_size > 1 {
        training = training.grads_accumulation(config.train.batch_size);
    }
    if config.train.early_stopping > 0 {
        training = training.early_stopping(PatienceStopping::new(
            config.train.monitor,
            config.train.early_stopping,
        ));
    }
    if let Some(epoch) = resume {
        tracing::info!("resuming {} after epoch {epoch}", files.root.display());
        training = training.checkpoint(epoch);
    }
    let result = training.launch(learner);
    let done = complete_epochs(&dir);
    if let Some(message) = guard.tripped() {
        return Err(TrainError::NonFiniteLoss {
            message,
            last_checkpoint: done.last().copied(),
        });
    }
    if let Some(error) = result.error {
        return Err(TrainError::Training(error.to_string()));
    }

    let records = history.lock().map(|h| h.clone()).unwrap_or_default();
    let best = best_record(&records, config.train.monitor)
        .ok_or_else(|| TrainError::Training("no epoch finished".into()))?;
    let last_epoch = records.last().map_or(0, |r| r.epoch);
    let keep = [best.epoch, last_epoch];
    if !done.contains(&best.epoch) {
        return Err(TrainError::Run(format!(
            "the checkpoint of the best epoch {} is missing",
            best.epoch
        )));
    }
    prune(&dir, &keep).map_err(|e| TrainError::io(&dir, e))?;
    let summary = RunSummary {
        model: config.model.name.clone(),
        task,
        monitor: config.train.monitor,
        best,
        last_epoch,
        stopped_early: last_epoch < config.train.epochs,
        resumed_from: resume,
        exams: [train_exams.len(), valid_exams.len()],
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    cruciate_volume::atomic::write_atomically(&files.summary(), |w| w.write_all(json.as_bytes()))
        .map_err(|e| TrainError::io(&files.summary(), e))?;
    Ok(summary)
}

/// The best epoch for `monitor`, the earliest among equals (as Burn's checkpoint strategy).
pub fn best_record(records: &[EpochRecord], monitor: Monitor) -> Option<EpochRecord> {
    let mut best: Option<&EpochRecord> = None;
    for r in records {
        let better = match (best, monitor) {
            (None, _) => true,
            (Some(b), Monitor::ValidLoss) => r.valid_loss < b.valid_loss,
            (Some(b), Monitor::ValidAuc) => {
                r.valid_auc.unwrap_or(f64::MIN) > b.valid_auc.unwrap_or(f64::MIN)
            }
        };
        if better {
            best = Some(r);
        }
    }
    best.cloned()
}
