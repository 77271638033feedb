//! What a search is, once read: its space file, its settings (the same wherever a trial runs),
//! how one trial is scored on either path and how the best is fitted again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use cruciate_data::{Manifest, Split, Task};
use cruciate_eval::cv::{CvRequest, cross_validate};
use cruciate_eval::tune::{Metric, Params, SearchSpace};
use cruciate_features::search::{
    SEARCHABLE, SearchFeatures, TrialSource, TrialTables, model_settings,
};
use cruciate_features::{FitRows, fit_run, fold_scores};
use cruciate_models::Compute;
use cruciate_train::{NetworkFactory, TrainConfig, TrainRequest, train};
use serde::{Deserialize, Serialize};

use crate::commands::RoiArgs;
use crate::progress::Bars;

/// A search file (`configs/search/*.toml`): which path, and the values of each setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpaceFile {
    pub(super) path: SearchPath,
    #[serde(default)]
    task: Option<Task>,
    #[serde(default)]
    pub(super) features: Option<SearchFeatures>,
    #[serde(default)]
    pub(super) config: Option<PathBuf>,
    #[serde(default)]
    weights: Option<PathBuf>,
    pub(super) search: BTreeMap<String, Vec<toml::Value>>,
}

/// What a search trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum SearchPath {
    /// Feature models on a frozen backbone's features.
    Svm,
    /// Networks, each trial a cross-validation.
    Network,
}

impl SpaceFile {
    /// The file at `path`, checked.
    pub(super) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let space: Self = toml::from_str(&text)
            .with_context(|| format!("{}: not a search space", path.display()))?;
        if space.path == SearchPath::Svm {
            if let Some(bad) = space
                .search
                .keys()
                .find(|k| !SEARCHABLE.contains(&k.as_str()))
            {
                anyhow::bail!(
                    "{}: {bad:?} is not an SVM setting (searchable: {})",
                    path.display(),
                    SEARCHABLE.join(", ")
                );
            }
            anyhow::ensure!(
                space.features.is_some(),
                "{}: the svm path needs a [features] table",
                path.display()
            );
        }
        Ok(space)
    }

    /// The search's values, as the search takes them.
    pub(super) fn space(&self) -> SearchSpace {
        let values = self
            .search
            .iter()
            .map(|(k, v)| {
                let json = v
                    .iter()
                    .map(|x| serde_json::to_value(x).expect("toml values are json"))
                    .collect();
                (k.clone(), json)
            })
            .collect();
        SearchSpace { values }
    }
}

/// What every trial of a search shares: the same on every machine that runs one, so its paths
/// are absolute (machines share the data folder at one path).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchSettings {
    /// The exams.
    pub manifest: PathBuf,
    /// The search file.
    pub space: PathBuf,
    /// The search's folder.
    pub out: PathBuf,
    /// Cross-validation folds per trial.
    pub folds: usize,
    /// Seed of the folds (and of random draws).
    pub seed: u64,
    /// What trials are ranked by.
    pub metric: Metric,
    /// Where exams are cut to their ACL region.
    pub roi: RoiArgs,
}

impl SearchSettings {
    /// A short name of the settings, the same wherever they are computed: the prefix of the
    /// search's jobs in the research queue.
    pub fn id(&self) -> String {
        short_digest(
            serde_json::to_string(self)
                .expect("settings serialise")
                .as_bytes(),
        )
    }
}

/// The first 16 hexadecimal digits of the SHA-256 of `bytes`: a name for what they say.
pub fn short_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A search opened: its file, its exams and where trials compute.
pub(super) struct Search {
    pub(super) settings: SearchSettings,
    pub(super) space: SpaceFile,
    manifest: Manifest,
    device: Compute,
}

/// How one trial is scored: the SVM path keeps its feature tables between trials.
pub(super) enum Scorer<'a> {
    /// Feature tables, each computed once (and kept under `out/features/`).
    Svm(Box<TrialTables<'a>>),
    /// Each trial a cross-validation.
    Network,
}

impl Search {
    /// Reads the search file and the exams of `settings`.
    pub(super) fn open(settings: SearchSettings, device: Compute) -> anyhow::Result<Self> {
        let space = SpaceFile::read(&settings.space)?;
        let manifest = Manifest::read(&settings.manifest)?;
        Ok(Self {
            settings,
            space,
            manifest,
            device,
        })
    }

    fn relative(&self, p: &Option<PathBuf>) -> Option<PathBuf> {
        let base = self.settings.space.parent().unwrap_or(Path::new("."));
        p.as_ref().map(|p| base.join(p))
    }

    fn task(&self) -> Task {
        self.space.task.unwrap_or(Task::Binary)
    }

    /// What scores this search's trials.
    pub(super) fn scorer<'a>(&'a self, progress: &'a Bars) -> anyhow::Result<Scorer<'a>> {
        Ok(match self.space.path {
            SearchPath::Network => Scorer::Network,
            SearchPath::Svm => {
                let features = self.space.features.as_ref().context("no [features]")?;
                Scorer::Svm(Box::new(TrialTables::new(TrialSource {
                    manifest: &self.manifest,
                    features,
                    weights: self.relative(&features.weights),
                    region: self.settings.roi.feature_region(self.device)?,
                    out: &self.settings.out,
                    compute: self.device,
                    progress,
                })))
            }
        })
    }

    /// The metric on each fold of trial `k` (1-based) with settings `p`, or why it failed.
    pub(super) fn score(
        &self,
        scorer: &mut Scorer,
        k: usize,
        p: &Params,
    ) -> Result<Vec<f64>, String> {
        let s = &self.settings;
        match scorer {
            Scorer::Svm(tables) => {
                let table = tables.get(p).map_err(|e| e.to_string())?;
                let settings = model_settings(p).map_err(|e| e.to_string())?;
                fold_scores(table, self.task(), &settings, s.folds, s.seed, s.metric)
                    .map_err(|e| e.to_string())
            }
            Scorer::Network => self.network_trial(k, p).map_err(|e| format!("{e:#}")),
        }
    }

    /// A network trial: a cross-validation of the settings.
    fn network_trial(&self, k: usize, p: &Params) -> anyhow::Result<Vec<f64>> {
        let s = &self.settings;
        let config = self.trial_config(p)?;
        // The manifest as the trial's model reads it (its finding's labels, its plane).
        let manifest = config.view(&self.manifest)?;
        let factory = NetworkFactory {
            roi: s.roi.crop(self.device)?,
            config: config.clone(),
            weights: self.relative(&self.space.weights),
            compute: self.device,
            progress: Arc::new(cruciate_infer::Silent),
        };
        let report = cross_validate(
            &CvRequest {
                manifest: &manifest,
                folds: s.folds,
                seed: s.seed,
                task: config.model.task,
                out: s.out.join(format!("trials/{k:03}")),
                factory: &factory,
            },
            &cruciate_infer::Silent,
        )?;
        report
            .folds
            .iter()
            .map(|f| {
                f.figures
                    .metric(s.metric)
                    .with_context(|| format!("fold {} cannot be scored", f.fold))
            })
            .collect()
    }

    fn trial_config(&self, p: &Params) -> anyhow::Result<TrainConfig> {
        let overrides: Vec<String> = p
            .iter()
            .map(|(k, v)| format!("{k}={}", super::toml_text(v)))
            .collect();
        Ok(TrainConfig::load(
            self.relative(&self.space.config).as_deref(),
            &overrides,
        )?)
    }

    /// Fits the best settings `best` again on all the training data, into `out/best-run`.
    pub(super) fn fit_best(&self, scorer: &mut Scorer, best: &Params) -> anyhow::Result<()> {
        let out = self.settings.out.join("best-run");
        match scorer {
            Scorer::Svm(tables) => {
                let extractor = tables.extractor(best)?;
                let table = tables.get(best)?;
                let mut fit = table.split(Split::Train);
                fit.extend(table.split(Split::Valid));
                fit.sort_unstable();
                let calib = table.split(Split::Calib);
                fit_run(
                    table,
                    FitRows {
                        fit: &fit,
                        valid: &[],
                        calib: &calib,
                    },
                    self.task(),
                    &model_settings(best)?,
                    &extractor,
                    &out,
                )?;
            }
            Scorer::Network => {
                let config = self.trial_config(best)?;
                train(
                    &TrainRequest {
                        manifest: config.view(&self.manifest)?,
                        out,
                        weights: self.relative(&self.space.weights),
                        config,
                        compute: self.device,
                        roi: self.settings.roi.crop(self.device)?,
                    },
                    Arc::new(Bars::default()),
                )?;
            }
        }
        Ok(())
    }
}
