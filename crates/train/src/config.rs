//! Run configuration: every hyperparameter of a training run, read from TOML, overridable from
//! the command line (`--set optim.lr=3e-4`), and written back into the run folder as used.

use cruciate_data::{DataError, Finding, Manifest, Task};
use cruciate_models::{HeadActivation, NetworkConfig, SlicePooling, SpatialPooling, network_names};
use cruciate_prep::{AugmentConfig, InputConfig};
use cruciate_volume::Plane;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A whole training run's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Network and task.
    pub model: ModelConfig,
    /// How exams become network inputs.
    pub data: InputConfig,
    /// Optimiser and regularisation.
    pub optim: OptimConfig,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Epochs, batches, seed, class balance, early stopping.
    pub train: LoopConfig,
    /// On-the-fly augmentation of training exams.
    pub augment: AugmentConfig,
}

/// How the backbone is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Fine-tune when `--weights` is given, otherwise from scratch.
    #[default]
    Auto,
    /// Start from `--weights` and train all layers except the first `freeze_blocks`.
    Finetune,
    /// Random initialisation, all layers trained.
    Scratch,
    /// Backbone from `--weights` kept fixed; only the head learns.
    Frozen,
}

impl Mode {
    /// The name used in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Finetune => "finetune",
            Mode::Scratch => "scratch",
            Mode::Frozen => "frozen",
        }
    }
}

/// Network and task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `mrnet` or a backbone name (`cruciate_models::network_names`).
    pub name: String,
    /// Binary or grade.
    pub task: Task,
    /// What the model is asked about: the ACL (the study's finding), a meniscal tear or any
    /// abnormality (MRNet's findings; binary only).
    pub finding: Finding,
    /// A joint network instead: one backbone with a head per finding named here (binary, two
    /// or more findings; `finding` is then unused), trained on the sum of their losses and
    /// written as one run per finding (`RUN/FINDING`). Empty: a single-finding network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The series the model reads: sagittal (the study's), coronal or axial.
    pub plane: Plane,
    /// Fine-tune, scratch or frozen.
    pub mode: Mode,
    /// Blocks of the backbone kept fixed when fine-tuning (see `Backbone::freeze_first`).
    pub freeze_blocks: usize,
    /// Pooling over slices.
    pub pooling: SlicePooling,
    /// Pooling of each slice's feature maps: `mean` (MRNet's) or `max` (for findings a few
    /// pixels across, such as meniscal tears).
    pub spatial_pooling: SpatialPooling,
    /// Hidden width of the head; 0 for MRNet's single linear layer.
    pub hidden: usize,
    /// Activation of the hidden layer.
    pub activation: HeadActivation,
    /// Dropout before the head's layers.
    pub dropout: f64,
}

impl ModelConfig {
    /// The architecture this config trains.
    pub fn network(&self) -> NetworkConfig {
        NetworkConfig {
            name: self.name.clone(),
            pooling: self.pooling,
            spatial: self.spatial_pooling,
            hidden: self.hidden,
            activation: self.activation,
            dropout: self.dropout,
        }
    }

    /// The findings of a joint network, `None` for a single-finding one.
    pub fn joint(&self) -> Option<&[Finding]> {
        (!self.findings.is_empty()).then_some(self.findings.as_slice())
    }

    /// How many scores the network's head gives: the task's classes, or two per finding of a
    /// joint network.
    pub fn outputs(&self) -> usize {
        match self.joint() {
            Some(findings) => 2 * findings.len(),
            None => self.task.classes(),
        }
    }

    /// The settings of one finding's run of a joint network: this config asking that finding
    /// alone.
    pub fn for_finding(&self, finding: Finding) -> ModelConfig {
        ModelConfig {
            finding,
            findings: Vec::new(),
            ..self.clone()
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            name: "small".into(),
            task: Task::Binary,
            finding: Finding::Acl,
            findings: Vec::new(),
            plane: Plane::Sagittal,
            mode: Mode::Auto,
            freeze_blocks: 0,
            pooling: SlicePooling::Max,
            spatial_pooling: SpatialPooling::Mean,
            hidden: 0,
            activation: HeadActivation::Relu,
            dropout: 0.0,
        }
    }
}

/// Optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// SGD with momentum.
    Sgd,
    /// Adam (weight decay as an L2 penalty in the gradient, as PyTorch's Adam).
    #[default]
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
    /// RMSProp.
    Rmsprop,
}

/// Optimiser and regularisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Which optimiser.
    pub optimizer: Optimizer,
    /// Initial learning rate.
    pub lr: f64,
    /// Momentum (SGD, RMSProp).
    pub momentum: f64,
    /// Weight decay (L2 penalty; decoupled for AdamW).
    pub weight_decay: f64,
    /// L1 penalty on all trained weights, added to the loss.
    pub l1: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::Adam,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 1e-4,
            l1: 0.0,
        }
    }
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Fixed.
    Constant,
    /// Multiply by `gamma` every `step_epochs` epochs.
    Step,
    /// Cosine annealing from `lr` to `min_lr` over the run.
    Cosine,
    /// Multiply by `gamma` every epoch (applied smoothly per step).
    Exponential,
    /// Multiply by `factor` when the validation loss has not improved for `patience` epochs
    /// (MRNet's ReduceLROnPlateau).
    #[default]
    Plateau,
}

/// Learning-rate schedule settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Which schedule.
    pub kind: Schedule,
    /// Step: epochs between decays.
    pub step_epochs: usize,
    /// Step / exponential: decay factor per step / per epoch.
    pub gamma: f64,
    /// Cosine / plateau: lower bound.
    pub min_lr: f64,
    /// Plateau: epochs without improvement before a decay.
    pub patience: usize,
    /// Plateau: decay factor.
    pub factor: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            kind: Schedule::Plateau,
            step_epochs: 10,
            gamma: 0.5,
            min_lr: 1e-6,
            patience: 3,
            factor: 0.3,
        }
    }
}

/// How class imbalance is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Class weights in the loss, inverse to the training frequencies.
    #[default]
    Weights,
    /// A sampler that draws every class equally often (with replacement); plain loss.
    Sampler,
    /// Neither.
    None,
}

/// The validation figure that picks the best epoch and drives early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Lowest validation loss.
    #[default]
    ValidLoss,
    /// Highest validation AUC (injured vs healthy).
    ValidAuc,
}

/// Epochs, batches, seed, class balance, early stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// Epochs at most.
    pub epochs: usize,
    /// Exams per optimiser step (gradients accumulated over this many exams).
    pub batch_size: usize,
    /// Seed of initialisation, shuffling, augmentation and dropout.
    pub seed: u64,
    /// Class weights, balanced sampler or neither.
    pub balance: Balance,
    /// What picks the best checkpoint and stops early.
    pub monitor: Monitor,
    /// Stop after this many epochs without improvement of `monitor`; 0 never stops early.
    pub early_stopping: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 1,
            seed: 0,
            balance: Balance::Weights,
            monitor: Monitor::ValidLoss,
            early_stopping: 0,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file and applies `key=value` overrides (`optim.lr=3e-4`).
    pub fn load(
        path: Option<&std::path::Path>,
        overrides: &[String],
    ) -> Result<TrainConfig, TrainError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| TrainError::io(p, e))?,
            None => String::new(),
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
            TrainError::InvalidConfig(format!("config: {}", one_line(&e.to_string())))
        })?;
        for item in overrides {
            set_dotted(&mut table, item)?;
        }
        let config: TrainConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| TrainError::InvalidConfig(one_line(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects values no run can use.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::InvalidConfig(m));
        let network = self.model.network();
        let Some(backbone) = network.backbone() else {
            return bad(format!(
                "unknown model {:?} ({})",
                self.model.name,
                network_names().join(", ")
            ));
        };
        if let Err(message) = self.model.finding.check_task(self.model.task) {
            return bad(format!("model.finding: {message}"));
        }
        if let Some(findings) = self.model.joint() {
            let distinct: std::collections::BTreeSet<_> = findings.iter().collect();
            if findings.len() < 2 || distinct.len() != findings.len() {
                return bad(
                    "model.findings names two or more different findings (a joint network), or is left out"
                        .into(),
                );
            }
            if self.model.task != Task::Binary {
                return bad(
                    "a joint network (model.findings) answers each finding yes or no: set model.task = \"binary\""
                        .into(),
                );
            }
            if self.train.balance == Balance::Sampler {
                return bad(
                    "train.balance = \"sampler\" draws by one label; a joint network has one per finding: use \"weights\" or \"none\""
                        .into(),
                );
            }
        }
        if !matches!(
            self.model.plane,
            Plane::Sagittal | Plane::Coronal | Plane::Axial
        ) {
            return bad(format!(
                "model.plane must be sagittal, coronal or axial, got {}",
                self.model.plane
            ));
        }
        if self.data.slices == 0 || self.data.size < 32 {
            return bad("data.slices must be at least 1 and data.size at least 32".into());
        }
        // AlexNet's stride-4 stem and three 3x3 pools leave nothing below 63 pixels.
        if backbone == cruciate_models::BackboneKind::AlexNet && self.data.size < 63 {
            return bad(format!(
                "{} needs data.size of at least 63, got {}",
                self.model.name, self.data.size
            ));
        }
        if self.train.epochs == 0 || self.train.batch_size == 0 {
            return bad("train.epochs and train.batch_size must be at least 1".into());
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            return bad(format!("optim.lr must be positive, got {}", self.optim.lr));
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return bad(format!(
                "model.dropout must be in [0, 1), got {}",
                self.model.dropout
            ));
        }
        for (name, p) in self.augment.probabilities() {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("augment.{name} is a probability, got {p}"));
            }
        }
        Ok(())
    }

    /// Refuses a joint network where `what` takes one finding's network.
    pub fn single_finding(&self, what: &str) -> Result<(), TrainError> {
        match self.model.joint() {
            None => Ok(()),
            Some(_) => Err(TrainError::InvalidConfig(format!(
                "{what} takes one finding's network: a joint network (model.findings) answers \
                 several, each of its finding runs (RUN/FINDING) one"
            ))),
        }
    }

    /// `manifest` as this run's model sees it: its finding's labels, its plane's series. For a
    /// joint network, every exam must be labelled for each of its findings; the view keeps the
    /// ACL's grade as `label` and the other findings in their columns.
    pub fn view(&self, manifest: &Manifest) -> Result<Manifest, DataError> {
        if let Some(findings) = self.model.joint() {
            for &finding in findings {
                manifest.for_finding(finding, self.model.plane)?;
            }
            return manifest.for_finding(Finding::Acl, self.model.plane);
        }
        manifest.for_finding(self.model.finding, self.model.plane)
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config always serialises")
    }

    /// The settings that tell runs apart, in one line (optimiser, learning rate, schedule,
    /// batch, epochs, input size), for comparison tables.
    pub fn describe(&self) -> String {
        format!(
            "{:?} lr {:.0e}, {:?} schedule, batch {}, {} epochs, {}x{} px x {} slices{}",
            self.optim.optimizer,
            self.optim.lr,
            self.schedule.kind,
            self.train.batch_size,
            self.train.epochs,
            self.data.size,
            self.data.size,
            self.data.slices,
            match self.data.selection {
                cruciate_prep::Selection::Central => "",
                cruciate_prep::Selection::Roi => ", ACL region",
            }
        ) + &match (self.model.finding, self.model.plane) {
            (Finding::Acl, Plane::Sagittal) => String::new(),
            (finding, plane) => format!(", {finding} on the {plane} plane"),
        }
        .to_lowercase()
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn set_dotted(table: &mut toml::Table, item: &str) -> Result<(), TrainError> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| TrainError::InvalidConfig(format!("--set {item:?}: expected key=value")))?;
    let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("parsed one key"),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut current = table;
    for part in &parts[..parts.len() - 1] {
        current = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| {
                TrainError::InvalidConfig(format!("--set {key}: {part} is not a section"))
            })?;
    }
    current.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A joint network names two or more different findings, answers each yes or no, and
    /// balances by weights; a single-finding config writes no `findings` key (so that every
    /// older run's config.toml reads back equal).
    #[test]
    fn joint_networks_are_checked_and_single_ones_unchanged() {
        let all = "model.findings=[\"abnormal\", \"acl\", \"meniscus\"]".to_string();
        let joint = TrainConfig::load(None, std::slice::from_ref(&all)).unwrap();
        assert_eq!(joint.model.outputs(), 6);
        assert_eq!(joint.model.joint().map(<[Finding]>::len), Some(3));
        let one = joint.model.for_finding(Finding::Meniscus);
        assert_eq!(
            (one.finding, one.joint(), one.outputs()),
            (Finding::Meniscus, None, 2)
        );
        let round: TrainConfig = toml::from_str(&joint.to_toml()).unwrap();
        assert_eq!(round, joint);
        let single = TrainConfig::load(None, &[]).unwrap();
        assert!(
            !single.to_toml().contains("findings"),
            "{}",
            single.to_toml()
        );
        assert_eq!(single.model.outputs(), 2);
        assert!(single.single_finding("fitting one classifier").is_ok());
        let err = joint
            .single_finding("fitting one classifier")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fitting one classifier takes one finding's network"),
            "{err}"
        );
        for (extra, refused) in [
            ("model.findings=[\"acl\"]", "two or more different findings"),
            (
                "model.findings=[\"acl\", \"acl\"]",
                "two or more different findings",
            ),
            ("model.task=\"grade\"", "model.task = \"binary\""),
            ("train.balance=\"sampler\"", "one per finding"),
        ] {
            let err = TrainConfig::load(None, &[all.clone(), extra.into()])
                .unwrap_err()
                .to_string();
            assert!(err.contains(refused), "{extra}: {err}");
        }
    }

    #[test]
    fn overrides_reach_every_section_and_unknown_keys_fail() {
        let c = TrainConfig::load(
            None,
            &[
                "optim.lr=3e-4".into(),
                "optim.optimizer=sgd".into(),
                "schedule.kind=cosine".into(),
                "model.name=mrnet".into(),
                "augment.flip=0.5".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.optim.lr, 3e-4);
        assert_eq!(c.optim.optimizer, Optimizer::Sgd);
        assert_eq!(c.schedule.kind, Schedule::Cosine);
        assert_eq!(c.augment.flip, 0.5);
        let round: TrainConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(round, c);
        let err = TrainConfig::load(None, &["optim.learning_rate=1".into()]).unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
        assert!(TrainConfig::load(None, &["model.name=alexnet9".into()]).is_err());
        assert!(TrainConfig::load(None, &["augment.noise=2".into()]).is_err());
        let small_mrnet = ["model.name=mrnet".into(), "data.size=48".into()];
        assert!(
            TrainConfig::load(None, &small_mrnet)
                .unwrap_err()
                .to_string()
                .contains("63")
        );
    }

    #[test]
    fn shipped_configs_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // The service's settings live beside the recipes; the server crate parses them, and
            // the search spaces in configs/search the tune command.
            if path.is_dir() || path.file_name().is_some_and(|name| name == "serve.toml") {
                continue;
            }
            TrainConfig::load(Some(&path), &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
        assert!(n >= 3);
    }
}
