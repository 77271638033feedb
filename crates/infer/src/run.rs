//! A run folder as a self-describing artefact (MONAI's bundle): `run.json` says what the folder
//! holds, so that [`Registry::open_run`](crate::Registry::open_run) can hand it to the right
//! implementation, and `metrics.jsonl` keeps its learning curves.
//!
//! ```text
//! RUN/run.json        kind, task, classes, input preparation, model file and SHA-256,
//!                     training provenance (synthetic data or not), software version
//! RUN/metrics.jsonl   one EpochRecord per line, for kinds that learn by epochs
//! RUN/...             whatever the kind needs (the model file named in run.json)
//! ```

use std::io::Read as _;
use std::path::{Path, PathBuf};

use cruciate_data::{DataError, Finding, Manifest, Task};
use cruciate_prep::InputConfig;
use cruciate_volume::{Plane, Volume};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::InferError;

/// The file that describes a run folder.
pub const RUN_FILE: &str = "run.json";

/// The learning-curve file of a run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// The `run.json` format this build writes and the newest it reads.
pub const RUN_FORMAT: u32 = 1;

/// The software that wrote a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl Software {
    /// This build of Cruciate.
    pub fn current() -> Self {
        Self {
            name: "cruciate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The trained model of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Its name (`mrnet`, `vgg16`, ...).
    pub name: String,
    /// Its settings in one line, for comparison tables.
    pub description: String,
    /// How it was trained (`finetune`, `scratch`, `frozen`), when that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Its file, relative to the run folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The SHA-256 of that file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The epoch whose weights the file holds, for models trained by epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
}

/// The notice every result of a model trained on synthetic phantoms carries.
pub const SYNTHETIC_NOTICE: &str = "Demo model trained on synthetic data: not for clinical use.";

/// The notice every result of a model trained on real exams carries.
pub const RESEARCH_NOTICE: &str = "Research model: not for clinical use.";

/// The notice of a model's results: [`SYNTHETIC_NOTICE`] when it was trained on synthetic
/// data, [`RESEARCH_NOTICE`] otherwise.
pub fn model_notice(synthetic: bool) -> &'static str {
    if synthetic {
        SYNTHETIC_NOTICE
    } else {
        RESEARCH_NOTICE
    }
}

/// What a run was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// True when the training exams were synthetic phantoms: every result of the model then
    /// says so.
    pub synthetic: bool,
    /// Training and validation exams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exams: Option<[usize; 2]>,
    /// Where the data came from, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The ACL region every exam was cut to before the model saw it, in words: the model
    /// expects such regions (its cascade gives them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl TrainingInfo {
    /// The warning a call carries when a model trained on ACL regions was given `exam` whole.
    pub fn region_warning(&self, exam: &Volume) -> Option<String> {
        let region = self.region.as_ref()?;
        exam.meta.cut_from.is_none().then(|| {
            format!(
                "this model was trained on ACL regions ({region}) and was given the whole exam: predict through its cascade (RUN/cascade)"
            )
        })
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The format of this file ([`RUN_FORMAT`]).
    pub format: u32,
    /// Which implementation opens the run (`network`, `cascade`, ...).
    pub kind: String,
    /// Binary or grade.
    pub task: Task,
    /// What the model is asked about (the ACL in runs written before findings).
    #[serde(default)]
    pub finding: Finding,
    /// Class names, in class order.
    pub classes: Vec<String>,
    /// The trained model.
    pub model: ModelInfo,
    /// How exams become the model's input, for kinds that use the common preparation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputConfig>,
    /// What the run was trained on.
    #[serde(default)]
    pub training: TrainingInfo,
    /// The software that wrote the run.
    pub software: Software,
    /// The input gate's rules, where the run sets them (defaults otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<crate::GateSettings>,
    /// Settings only the run's kind reads.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub settings: serde_json::Value,
}

impl RunInfo {
    /// A description of a run of `kind` for `task` with model `name`, written by this build.
    pub fn new(kind: &str, task: Task, name: &str) -> Self {
        Self {
            format: RUN_FORMAT,
            kind: kind.into(),
            task,
            finding: Finding::Acl,
            classes: task.class_names().iter().map(|c| c.to_string()).collect(),
            model: ModelInfo {
                name: name.into(),
                description: String::new(),
                mode: None,
                file: None,
                sha256: None,
                epoch: None,
            },
            input: None,
            training: TrainingInfo::default(),
            software: Software::current(),
            gate: None,
            settings: serde_json::Value::Null,
        }
    }

    /// The `run.json` of folder `run`, or `None` when it has none.
    pub fn read(run: &Path) -> Result<Option<Self>, InferError> {
        let path = run.join(RUN_FILE);
        let Some(text) = crate::json_file::read_if_present(&path)? else {
            return Ok(None);
        };
        let format = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("format")?.as_u64());
        if let Some(f) = format.filter(|&f| f > u64::from(RUN_FORMAT)) {
            return Err(InferError::run(
                &path,
                format!(
                    "written in run format {f} by a newer Cruciate; this build reads format {RUN_FORMAT}"
                ),
            ));
        }
        let info: RunInfo =
            serde_json::from_str(&text).map_err(|e| InferError::run(&path, e.to_string()))?;
        if info.classes.len() != info.task.classes() {
            return Err(InferError::run(
                &path,
                format!(
                    "{} class names for a {} task of {} classes",
                    info.classes.len(),
                    info.task,
                    info.task.classes()
                ),
            ));
        }
        Ok(Some(info))
    }

    /// Writes `run.json` into folder `run` (atomically).
    pub fn write(&self, run: &Path) -> Result<(), InferError> {
        crate::json_file::write(&run.join(RUN_FILE), self, true)
    }

    /// The model file of the run in folder `run`, after checking that it is there and, when
    /// `run.json` records one, that its SHA-256 matches.
    pub fn model_path(&self, run: &Path) -> Result<PathBuf, InferError> {
        let name = self
            .model
            .file
            .as_deref()
            .ok_or_else(|| InferError::run(&run.join(RUN_FILE), "names no model file"))?;
        if Path::new(name).is_absolute() || name.split(['/', '\\']).any(|p| p == "..") {
            return Err(InferError::run(
                &run.join(RUN_FILE),
                format!("model file {name:?} must lie inside the run folder"),
            ));
        }
        let path = run.join(name);
        if let Some(expected) = &self.model.sha256 {
            let actual = sha256_file(&path).map_err(|e| InferError::io(&path, e))?;
            if &actual != expected {
                return Err(InferError::run(
                    &path,
                    format!(
                        "SHA-256 {actual} differs from {expected} in run.json: the file was changed or damaged"
                    ),
                ));
            }
        }
        Ok(path)
    }

    /// The kind-specific settings, parsed.
    pub fn settings<T: DeserializeOwned>(&self, run: &Path) -> Result<T, InferError> {
        serde_json::from_value(self.settings.clone())
            .map_err(|e| InferError::run(&run.join(RUN_FILE), format!("settings: {e}")))
    }

    /// The plane of the series the model reads (its gate's).
    pub fn plane(&self) -> Plane {
        self.gate.as_ref().map_or(Plane::Sagittal, |g| g.plane)
    }

    /// `manifest` as this model sees it: its finding's labels, its plane's series.
    pub fn view(&self, manifest: &Manifest) -> Result<Manifest, DataError> {
        manifest.for_finding(self.finding, self.plane())
    }

    /// True when the model was trained on synthetic data.
    pub fn synthetic(&self) -> bool {
        self.training.synthetic
    }

    /// The notice every result of this model carries (synthetic demo or research model).
    pub fn notice(&self) -> &'static str {
        model_notice(self.synthetic())
    }
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One epoch of a run, as in `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy, 0..1 (on augmented exams, as the study's curves).
    #[serde(default)]
    pub train_accuracy: Option<f64>,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Validation accuracy, 0..1.
    pub valid_accuracy: f64,
    /// Validation ROC AUC of injured vs healthy; null when the split has one class only.
    pub valid_auc: Option<f64>,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
}

/// The learning curves of the run in folder `run`: its `metrics.jsonl`, empty when it has none
/// (a line that does not parse, such as one cut by a kill, ends the history).
pub fn read_history(run: &Path) -> Vec<EpochRecord> {
    std::fs::read_to_string(run.join(METRICS_FILE))
        .map(|t| {
            t.lines()
                .map_while(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_json_round_trips_and_guards_its_model_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        assert_eq!(RunInfo::read(run).unwrap(), None);
        std::fs::write(run.join("model.bin"), b"weights").unwrap();
        let mut info = RunInfo::new("network", Task::Grade, "small");
        info.model.file = Some("model.bin".into());
        info.model.sha256 = Some(sha256_file(&run.join("model.bin")).unwrap());
        info.write(run).unwrap();
        let back = RunInfo::read(run).unwrap().unwrap();
        assert_eq!(back, info);
        assert_eq!(back.classes.len(), 4);
        assert_eq!(back.model_path(run).unwrap(), run.join("model.bin"));
        // sha256("weights"), computed independently with Python's hashlib.
        assert_eq!(
            back.model.sha256.as_deref(),
            Some("9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c")
        );
        std::fs::write(run.join("model.bin"), b"tampered").unwrap();
        let e = back.model_path(run).unwrap_err().to_string();
        assert!(e.contains("differs") && e.contains("model.bin"), "{e}");

        let mut escaping = info.clone();
        escaping.model.file = Some("../elsewhere.bin".into());
        assert!(
            escaping
                .model_path(run)
                .unwrap_err()
                .to_string()
                .contains("inside the run folder")
        );
    }

    #[test]
    fn newer_formats_and_inconsistent_classes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut info = RunInfo::new("network", Task::Binary, "small");
        info.format = RUN_FORMAT + 1;
        info.write(dir.path()).unwrap();
        let e = RunInfo::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("newer Cruciate"), "{e}");
        info.format = RUN_FORMAT;
        info.classes.pop();
        info.write(dir.path()).unwrap();
        let e = RunInfo::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("1 class names for a binary task"), "{e}");
    }
}
