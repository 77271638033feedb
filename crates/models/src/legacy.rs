//! Network run folders written before `run.json` existed: `config.toml` (the training config),
//! `summary.json` (the best epoch) and `checkpoint/model-E.bpk`. They are described from those
//! files and opened as they are, so that old runs keep working without conversion.

use std::path::Path;

use cruciate_data::Task;
use cruciate_infer::{InferError, RunInfo};
use cruciate_prep::InputConfig;
use serde::Deserialize;

use crate::checkpoints::model_epochs;
use crate::network::{NETWORK_KIND, NetworkConfig, NetworkSettings, RecordLayout};
use crate::{HeadActivation, SlicePooling, SpatialPooling};

#[derive(Deserialize, Default)]
#[serde(default)]
struct LegacyConfig {
    model: LegacyModel,
    data: InputConfig,
    optim: toml::Table,
    schedule: toml::Table,
    train: toml::Table,
}

#[derive(Deserialize)]
#[serde(default)]
struct LegacyModel {
    name: String,
    task: Task,
    mode: String,
    pooling: SlicePooling,
    hidden: usize,
    activation: HeadActivation,
    dropout: f64,
    /// The findings of a joint network (whose folder holds one run per finding).
    findings: Vec<String>,
}

impl Default for LegacyModel {
    fn default() -> Self {
        Self {
            name: "small".into(),
            task: Task::Binary,
            mode: "auto".into(),
            pooling: SlicePooling::Max,
            hidden: 0,
            activation: HeadActivation::Relu,
            dropout: 0.0,
            findings: Vec::new(),
        }
    }
}

/// Describes the folder `run` when it is a network run from before `run.json` (it has a
/// `config.toml`); `None` otherwise.
pub fn read_legacy_run(run: &Path) -> Option<Result<RunInfo, InferError>> {
    let path = run.join("config.toml");
    let text = std::fs::read_to_string(&path).ok()?;
    Some(describe(run, &text))
}

fn describe(run: &Path, text: &str) -> Result<RunInfo, InferError> {
    let config_path = run.join("config.toml");
    let config: LegacyConfig =
        toml::from_str(text).map_err(|e| InferError::run(&config_path, e.message().to_string()))?;
    let m = &config.model;
    if let Some(first) = m.findings.first() {
        return Err(InferError::run(
            run,
            format!(
                "holds a joint network of {}: open one finding's run, e.g. {}",
                m.findings.join(", "),
                run.join(first).display()
            ),
        ));
    }
    let epoch = best_epoch(run)?;
    let network = NetworkConfig {
        name: m.name.clone(),
        pooling: m.pooling,
        spatial: SpatialPooling::Mean,
        hidden: m.hidden,
        activation: m.activation,
        dropout: m.dropout,
    };
    let mut info = RunInfo::new(NETWORK_KIND, m.task, &m.name);
    info.input = Some(config.data.clone());
    info.model.mode = Some(m.mode.clone());
    info.model.epoch = Some(epoch);
    info.model.file = Some(format!("checkpoint/model-{epoch}.bpk"));
    let value = |table: &toml::Table, key: &str| {
        table
            .get(key)
            .map(|v| v.to_string().trim_matches('"').to_string())
            .unwrap_or_else(|| "?".into())
    };
    info.model.description = format!(
        "{} lr {}, {} schedule, batch {}, {} epochs, {}x{} px x {} slices (run from before run.json)",
        value(&config.optim, "optimizer"),
        value(&config.optim, "lr"),
        value(&config.schedule, "kind"),
        value(&config.train, "batch_size"),
        value(&config.train, "epochs"),
        config.data.size,
        config.data.size,
        config.data.slices
    );
    info.settings = serde_json::to_value(NetworkSettings {
        network,
        record: RecordLayout::Trainer,
    })
    .expect("settings serialise");
    Ok(info)
}

/// The best epoch from `summary.json`, else the last epoch with a model checkpoint.
fn best_epoch(run: &Path) -> Result<usize, InferError> {
    let summary = run.join("summary.json");
    if let Ok(text) = std::fs::read_to_string(&summary) {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| InferError::run(&summary, e.to_string()))?;
        return value["best"]["epoch"]
            .as_u64()
            .map(|e| e as usize)
            .ok_or_else(|| InferError::run(&summary, "names no best epoch"));
    }
    model_epochs(&run.join("checkpoint"))
        .last()
        .copied()
        .ok_or_else(|| InferError::run(run, "no checkpoint yet"))
}
