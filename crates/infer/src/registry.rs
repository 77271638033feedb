//! The run kinds a build knows, and the one entry point that opens a run folder as a model.
//!
//! Implementations live above this crate (the Burn networks in `cruciate-models`, and later
//! kinds in their own crates) and are registered by the program that assembles them, the way
//! dicom-rs registers codecs with its transfer-syntax registry: the consumers never name a
//! concrete model type.

use std::path::Path;
use std::sync::Arc;

use crate::cascade::{CASCADE_KIND, Cascade};
use crate::{Classifier, InferError, Localiser, RunInfo};

/// Opens a run folder of one kind as a classifier, given its `run.json` and the registry (for
/// kinds made of other runs).
pub type ClassifierOpener =
    Arc<dyn Fn(&Path, RunInfo, &Registry) -> Result<Box<dyn Classifier>, InferError> + Send + Sync>;

/// Opens a run folder of one kind as a localiser.
pub type LocaliserOpener =
    Arc<dyn Fn(&Path, RunInfo) -> Result<Box<dyn Localiser>, InferError> + Send + Sync>;

/// Recognises a run folder written before `run.json` existed and describes it: `None` when the
/// folder is not one of this kind's.
pub type LegacyReader = Arc<dyn Fn(&Path) -> Option<Result<RunInfo, InferError>> + Send + Sync>;

/// One kind of run: its name in `run.json` and how to open it.
#[derive(Clone)]
pub struct RunKind {
    name: String,
    classifier: Option<ClassifierOpener>,
    localiser: Option<LocaliserOpener>,
    legacy: Option<LegacyReader>,
}

impl RunKind {
    /// A kind whose runs are classifiers.
    pub fn classifier(name: &str, opener: ClassifierOpener) -> Self {
        Self {
            name: name.into(),
            classifier: Some(opener),
            localiser: None,
            legacy: None,
        }
    }

    /// A kind whose runs are localisers.
    pub fn localiser(name: &str, opener: LocaliserOpener) -> Self {
        Self {
            name: name.into(),
            classifier: None,
            localiser: Some(opener),
            legacy: None,
        }
    }

    /// The same kind, also recognising its run folders from before `run.json`.
    pub fn with_legacy(mut self, reader: LegacyReader) -> Self {
        self.legacy = Some(reader);
        self
    }

    /// The name in `run.json`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The run kinds a build knows. `cascade` (a localiser's crop feeding a classifier) is always
/// there.
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<RunKind>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry that knows cascades only.
    pub fn new() -> Self {
        let cascade: ClassifierOpener = Arc::new(|run, info, registry| {
            Ok(Box::new(Cascade::open(run, info, registry)?) as Box<dyn Classifier>)
        });
        Self {
            kinds: vec![RunKind::classifier(CASCADE_KIND, cascade)],
        }
    }

    /// The registry with `kind` added (replacing a kind of the same name).
    pub fn with(mut self, kind: RunKind) -> Self {
        self.kinds.retain(|k| k.name != kind.name);
        self.kinds.push(kind);
        self
    }

    /// The names of the kinds known.
    pub fn kinds(&self) -> Vec<&str> {
        self.kinds.iter().map(|k| k.name.as_str()).collect()
    }

    /// What the run folder `run` holds: its `run.json`, or for a folder from before `run.json`,
    /// what a kind's legacy reader makes of it.
    pub fn run_info(&self, run: &Path) -> Result<RunInfo, InferError> {
        if !run.is_dir() {
            return Err(InferError::run(run, "no such run folder"));
        }
        if let Some(info) = RunInfo::read(run)? {
            return Ok(info);
        }
        for kind in &self.kinds {
            if let Some(found) = kind.legacy.as_ref().and_then(|read| read(run)) {
                return found;
            }
        }
        Err(InferError::run(
            run,
            "holds no run.json: not a run folder (train one with `cruciate train`)",
        ))
    }

    fn kind(&self, run: &Path, info: &RunInfo) -> Result<&RunKind, InferError> {
        self.kinds
            .iter()
            .find(|k| k.name == info.kind)
            .ok_or_else(|| InferError::UnknownKind {
                path: run.to_path_buf(),
                kind: info.kind.clone(),
                known: self.kinds().join(", "),
            })
    }

    /// Opens the run folder `run` as a classifier behind the input [gate](crate::gate), by the
    /// kind its `run.json` names: what every consumer of a model opens.
    pub fn open_run(&self, run: &Path) -> Result<Box<dyn Classifier>, InferError> {
        Ok(Box::new(crate::Gated::open(self.open_model(run)?, run)?))
    }

    /// Opens the run folder `run` as a classifier without the gate: for models inside another
    /// (a cascade's classifier sees a crop, not the exam the gate judges), and for consumers
    /// that put the gate in front of what they assemble themselves.
    pub fn open_model(&self, run: &Path) -> Result<Box<dyn Classifier>, InferError> {
        let info = self.run_info(run)?;
        let kind = self.kind(run, &info)?;
        let open = kind.classifier.as_ref().ok_or_else(|| {
            InferError::run(run, format!("a {} run is not a classifier", info.kind))
        })?;
        open(run, info, self)
    }

    /// Opens the run folder `run` as a localiser, by the kind its `run.json` names.
    pub fn open_localiser(&self, run: &Path) -> Result<Box<dyn Localiser>, InferError> {
        let info = self.run_info(run)?;
        let kind = self.kind(run, &info)?;
        let open = kind.localiser.as_ref().ok_or_else(|| {
            InferError::run(run, format!("a {} run is not a localiser", info.kind))
        })?;
        open(run, info)
    }
}
