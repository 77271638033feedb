//! One training run into a run folder:
//!
//! ```text
//! RUN/config.toml      the settings as used
//! RUN/metrics.jsonl    one line per epoch
//! RUN/checkpoint/      model, optimiser and schedule records of the best and last epochs
//! RUN/model.bpk        the best epoch's network, written when the run ends
//! RUN/run.json         what the folder holds (kind `network`), written when the run ends
//! RUN/summary.json     best epoch and its validation figures, written last
//! ```
//!
//! Running again into a folder whose run was killed resumes from its last complete checkpoint,
//! provided the settings are the same; the epochs after it are trained again and, with the
//! same seed, give the same figures as an uninterrupted run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Split};
use burn::train::metric::{AccuracyMetric, AurocMetric, LearningRateMetric, LossMetric, Metric};
use burn::train::{Interrupter, Learner, SupervisedTraining};
use cruciate_data::{DatasetInfo, Manifest, Split as DataSplit, Task};
use cruciate_infer::run::{TrainingInfo, sha256_file};
use cruciate_infer::{Progress, RunInfo};
use cruciate_models::network::MODEL_FILE;
use cruciate_models::safetensors_file::recorded_pixel_scale;
use cruciate_models::{Compute, ExamModel, load_pretrained, network_run_info};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::checkpoint::{
    AtomicCheckpointer, PatienceStopping, complete_epochs, monitored, prune, record_path,
};
use crate::config::{Balance, Mode, Monitor, TrainConfig};
use crate::events::ProgressRenderer;
use crate::exams::{Labels, check_splits, class_counts, prepare_exams};
use crate::loader::{ExamLoader, Visit};
use crate::logger::{EpochRecord, History, RunLogger, resume_history};
use crate::step::{NanGuard, TrainingModel};

/// What a run needs besides its config.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// Exams, labels and splits (train and valid are used).
    pub manifest: Manifest,
    /// The run folder.
    pub out: PathBuf,
    /// Pretrained backbone weights (torchvision `.pth` / `.safetensors`, Keras VGG16 `.onnx`).
    pub weights: Option<PathBuf>,
    /// All settings.
    pub config: TrainConfig,
    /// Where to compute.
    pub compute: Compute,
    /// Cut every exam to its ACL region first (a classifier for a cascade), or not.
    pub roi: Option<cruciate_infer::RoiCrop>,
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
    /// `RUN/model.bpk`.
    pub fn model(&self) -> PathBuf {
        self.root.join(MODEL_FILE)
    }

    /// Whether the folder's `config.toml` holds exactly `config`.
    pub fn has_settings(&self, config: &TrainConfig) -> Result<bool, TrainError> {
        let path = self.config();
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let previous: TrainConfig =
            toml::from_str(&text).map_err(|e| TrainError::run_folder(&path, e.message()))?;
        Ok(&previous == config)
    }
}

/// The untrained exam model a config describes.
pub fn build_model(config: &TrainConfig, device: &Device) -> ExamModel {
    config
        .model
        .network()
        .build(config.model.outputs(), device)
        .expect("a validated config names a network")
}

/// Loads pretrained backbone weights and applies the training mode.
fn backbone_for_mode(
    mut model: ExamModel,
    config: &TrainConfig,
    weights: Option<&Path>,
) -> Result<(ExamModel, Mode), TrainError> {
    let mode = match (config.model.mode, weights) {
        (Mode::Auto, Some(_)) => Mode::Finetune,
        (Mode::Auto, None) => Mode::Scratch,
        (mode, _) => mode,
    };
    match (mode, weights) {
        (Mode::Scratch, Some(_)) => {
            return Err(TrainError::InvalidConfig(
                "model.mode = \"scratch\" trains from random weights: drop --weights or choose finetune/frozen".into(),
            ));
        }
        (Mode::Finetune | Mode::Frozen, None) => {
            return Err(TrainError::InvalidConfig(format!(
                "model.mode = \"{}\" needs pretrained backbone weights (--weights FILE)",
                mode.name()
            )));
        }
        _ => {}
    }
    if let Some(path) = weights {
        let report = load_pretrained(&mut model.backbone, path)?;
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
    Ok((model, mode))
}

/// Where a run starts: a fresh folder, or the last checkpoint of a killed run with the same
/// settings.
fn start_epoch(files: &RunFiles, config: &TrainConfig) -> Result<Option<usize>, TrainError> {
    if files.summary().exists() {
        return Err(TrainError::run_folder(
            &files.root,
            "already holds a finished run (summary.json): choose another --out",
        ));
    }
    if files.config().exists() {
        if !files.has_settings(config)? {
            return Err(TrainError::run_folder(
                &files.root,
                "holds a run with other settings: resume with the same config or choose another --out",
            ));
        }
        return Ok(complete_epochs(&files.checkpoints()).last().copied());
    }
    if std::fs::read_dir(&files.root).is_ok_and(|mut d| d.next().is_some()) {
        return Err(TrainError::run_folder(
            &files.root,
            "is not empty and holds no run: choose an empty or new folder",
        ));
    }
    Ok(None)
}

/// Trains as `request` says, resuming a killed run in the same folder; `progress` hears of
/// every stage (reading exams, each epoch's splits).
pub fn train(
    request: &TrainRequest,
    progress: Arc<dyn Progress>,
) -> Result<RunSummary, TrainError> {
    let started = Instant::now();
    // The training loop runs on this thread (a program calls it first thing for every thread).
    cruciate_engine::flush_denormals();
    let mut config = request.config.clone();
    if config.data.pixel_scale.is_none()
        && let Some(weights) = &request.weights
    {
        // Weights that record how their pixels are scaled (an imported Keras VGG16) get it.
        config.data.pixel_scale = recorded_pixel_scale(weights)?;
    }
    let scale = config.data.pixel_scale.unwrap_or_default();
    let config = &config;
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

    let task = config.model.task;
    let labels = Labels::of(&config.model);
    if matches!(labels, Labels::Joint(_)) && request.roi.is_some() {
        return Err(TrainError::InvalidConfig(
            "a joint network (model.findings) reads whole exams: drop --roi".into(),
        ));
    }
    let read = |split| {
        prepare_exams(
            &request.manifest,
            split,
            labels,
            (&config.data, request.roi.as_ref()),
            progress.as_ref(),
        )
    };
    let train_exams = Arc::new(read(DataSplit::Train)?);
    let valid_exams = Arc::new(read(DataSplit::Valid)?);
    check_splits(&train_exams, &valid_exams, labels)?;
    let heads = labels.heads();
    let counts = class_counts(&train_exams, &heads);
    // Injured-vs-healthy AUC needs both in the valid split: without, it is not logged (Burn's
    // metric would say 0.5) and cannot be monitored.
    let auc_defined = match crate::exams::one_sided(&valid_exams) {
        None => true,
        Some(side) if config.train.monitor == Monitor::ValidAuc => {
            return Err(TrainError::Untrainable(format!(
                "train.monitor = \"valid_auc\" needs healthy and injured exams in the valid \
                 split, which holds only {side} ones (AUC is undefined): monitor valid_loss"
            )));
        }
        Some(side) => {
            tracing::warn!(
                "the valid split holds only {side} exams: its AUC is undefined and not logged"
            );
            false
        }
    };

    let seed = config.train.seed;
    let device = request.compute.device().autodiff();
    device.seed(seed);
    let (model, mode) = backbone_for_mode(
        build_model(config, &device),
        config,
        request.weights.as_deref(),
    )?;
    let interrupter = Interrupter::new();
    let guard = NanGuard::new(interrupter.clone());
    // Each head's classes weighed against each other: a joint network's weights are two per
    // finding, side by side as its scores.
    let weights = (config.train.balance == Balance::Weights).then(|| {
        counts
            .iter()
            .flat_map(|c| cruciate_models::loss::inverse_frequency_weights(c))
            .collect()
    });
    let engine = cruciate_models::BackboneTrainer::new(request.compute.engine_choice())
        .map_err(|e| TrainError::InvalidConfig(e.to_string()))?;
    if let Some(engine) = &engine {
        tracing::info!(
            "the backbone's training passes run on {}",
            engine.resolved()
        );
    }
    let trainable = TrainingModel::new(model, weights, config.optim.l1, guard.clone())
        .with_heads(heads.len())
        .with_engine(engine);

    let first_epoch = resume.unwrap_or(0) + 1;
    let visit = if config.train.balance == Balance::Sampler {
        Visit::Balanced
    } else {
        Visit::Shuffled
    };
    let loaders = (
        ExamLoader::new(
            train_exams.clone(),
            visit,
            (Some(config.augment.clone()), scale),
            seed,
            first_epoch,
            &device,
        ),
        ExamLoader::new(
            valid_exams.clone(),
            Visit::InOrder,
            (None, scale),
            seed,
            first_epoch,
            &device,
        ),
    );
    let steps_per_epoch = train_exams.len().div_ceil(config.train.batch_size);
    let scheduler = crate::optim::scheduler(
        config.optim.lr,
        &config.schedule,
        config.train.epochs,
        steps_per_epoch,
        history.clone(),
    )?;
    let learner = Learner::new(trainable, crate::optim::optimizer(&config.optim), scheduler);
    let mut training = supervised(
        &files,
        config,
        loaders,
        RunLogger::new(files.metrics(), history.clone(), auc_defined),
        progress,
    )
    .with_interrupter(interrupter);
    if let Some(epoch) = resume {
        tracing::info!("resuming {} after epoch {epoch}", files.root.display());
        training = training.checkpoint(epoch);
    }
    let result = training.launch(learner);
    let dir = files.checkpoints();
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
    if !done.contains(&best.epoch) {
        return Err(TrainError::Training(format!(
            "the checkpoint of the best epoch {} is missing",
            best.epoch
        )));
    }
    prune(&dir, &[best.epoch, last_epoch]).map_err(|e| TrainError::io(&dir, e))?;
    let exams = [train_exams.len(), valid_exams.len()];
    let network = best_network(&files, config, best.epoch)?;
    write_network(&files.model(), &network)?;
    let finished = FinishedRun {
        request,
        mode,
        epoch: best.epoch,
        exams,
    };
    match config.model.joint() {
        None => finished.run_info(&files, config)?.write(&files.root)?,
        Some(findings) => crate::joint::write_finding_runs(&files, &network, findings, &finished)?,
    }
    let summary = RunSummary {
        model: config.model.name.clone(),
        task,
        monitor: config.train.monitor,
        best,
        last_epoch,
        stopped_early: last_epoch < config.train.epochs,
        resumed_from: resume,
        exams,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    cruciate_volume::atomic::write_atomically(&files.summary(), |w| w.write_all(json.as_bytes()))
        .map_err(|e| TrainError::io(&files.summary(), e))?;
    Ok(summary)
}

/// Burn's supervised training of a run: its metrics, logger, progress, checkpoints (best and
/// last, written atomically), early stopping and gradient accumulation.
fn supervised(
    files: &RunFiles,
    config: &TrainConfig,
    (train, valid): (ExamLoader, ExamLoader),
    logger: RunLogger,
    progress: Arc<dyn Progress>,
) -> SupervisedTraining<TrainingModel> {
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
    let mut training = SupervisedTraining::new(&files.root, Arc::new(train), Arc::new(valid))
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_train_numeric(AccuracyMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .metric_valid_numeric(AurocMetric::binary())
        .with_metric_logger(logger)
        .renderer(Box::new(ProgressRenderer::new(progress)))
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
    training
}

/// The network of checkpoint `epoch` alone, without the training wrapper.
fn best_network(
    files: &RunFiles,
    config: &TrainConfig,
    epoch: usize,
) -> Result<ExamModel, TrainError> {
    let path = record_path(&files.checkpoints(), "model", epoch);
    let record = ModuleRecord::load(&path)
        .map_err(|e| TrainError::Training(format!("{}: {e}", path.display())))?;
    let device = Compute::CPU.device();
    let shell = TrainingModel::new(build_model(config, &device), None, 0.0, NanGuard::default());
    let loaded = shell
        .try_load_record(record)
        .map_err(|e| TrainError::Training(format!("{}: {e}", path.display())))?;
    Ok(loaded.model.valid())
}

/// Writes `network` as a run's `model.bpk` at `path`, atomically.
pub(crate) fn write_network(path: &Path, network: &ExamModel) -> Result<(), TrainError> {
    let bytes = network
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::Training(format!("{}: {e}", path.display())))?;
    cruciate_volume::atomic::write_atomically(path, |w| w.write_all(&bytes))
        .map_err(|e| TrainError::io(path, e))
}

/// What a finished training records in the `run.json` of each run it writes.
pub(crate) struct FinishedRun<'a> {
    /// What was trained.
    pub request: &'a TrainRequest,
    /// The training mode, `auto` resolved.
    pub mode: Mode,
    /// The best epoch, whose network the run holds.
    pub epoch: usize,
    /// Training and validation exams.
    pub exams: [usize; 2],
}

impl FinishedRun<'_> {
    /// `run.json` of the run in `files`, whose network `config` describes (its own finding's,
    /// for a run of a joint network).
    pub fn run_info(&self, files: &RunFiles, config: &TrainConfig) -> Result<RunInfo, TrainError> {
        let (request, mode, epoch, exams) = (self.request, self.mode, self.epoch, self.exams);
        let mut info = network_run_info(config.model.task, &config.model.network(), &config.data);
        info.model.description = config.describe();
        info.finding = config.model.finding;
        info.classes = config.model.finding.class_names(config.model.task);
        if config.model.plane != cruciate_volume::Plane::Sagittal {
            info.gate = Some(cruciate_infer::GateSettings {
                plane: config.model.plane,
                ..Default::default()
            });
        }
        info.model.mode = Some(mode.name().into());
        info.model.epoch = Some(epoch);
        info.model.sha256 =
            Some(sha256_file(&files.model()).map_err(|e| TrainError::io(&files.model(), e))?);
        let dataset = DatasetInfo::read(&request.manifest.root);
        info.training = TrainingInfo {
            synthetic: dataset.as_ref().is_some_and(|d| d.synthetic),
            exams: Some(exams),
            dataset: dataset.map(|d| d.source),
            region: request.roi.as_ref().map(|c| c.describe()),
        };
        Ok(info)
    }
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
