//! `cruciate tune`: hyperparameter search for the SVM path (model, kernel, C, gamma, class
//! weights, pooling, slices: features computed once per feature setting and reused by every
//! trial) or the network path (any training setting, each trial a cross-validation), with the
//! best setting written out and fitted again on all the training data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use cruciate_data::{Manifest, Split, Task};
use cruciate_eval::cv::{CvRequest, cross_validate};
use cruciate_eval::tune::{
    Metric, Params, SearchSpace, Strategy, TrialResult, TrialScorer, search,
};
use cruciate_features::search::{
    SEARCHABLE, SearchFeatures, TrialSource, TrialTables, model_settings,
};
use cruciate_features::{FitRows, fit_run, fold_scores};
use cruciate_models::Compute;
use cruciate_train::{NetworkFactory, TrainConfig, TrainRequest, train};
use serde::Deserialize;

use crate::progress::Bars;

/// Arguments of `cruciate tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The exams: manifest.csv (train and valid rows are folded; test rows are never used).
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// The search space (TOML; docs/study.md shows both paths).
    #[arg(long, value_name = "FILE")]
    space: PathBuf,
    /// Cross-validation folds per trial.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Trials at most (random: how many to draw; default 10).
    #[arg(long)]
    trials: Option<usize>,
    /// grid (every combination) or random.
    #[arg(long, default_value = "grid", value_parser = |s: &str| s.parse::<Strategy>())]
    strategy: Strategy,
    /// auc, f1 (weighted) or accuracy.
    #[arg(long, default_value = "auc", value_parser = |s: &str| s.parse::<Metric>())]
    metric: Metric,
    /// Seed of the folds and of random draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for trials.jsonl, results.csv/html, best.toml and best-run/ (a killed search resumes).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    roi: super::RoiArgs,
}

/// A search file (`configs/search/*.toml`): which path, and the values of each setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceFile {
    path: SearchPath,
    #[serde(default)]
    task: Option<Task>,
    #[serde(default)]
    features: Option<SearchFeatures>,
    #[serde(default)]
    config: Option<PathBuf>,
    #[serde(default)]
    weights: Option<PathBuf>,
    search: BTreeMap<String, Vec<toml::Value>>,
}

/// What a search trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SearchPath {
    /// Feature models on a frozen backbone's features.
    Svm,
    /// Networks, each trial a cross-validation.
    Network,
}

impl SpaceFile {
    /// The file at `path`, checked.
    fn read(path: &Path) -> anyhow::Result<Self> {
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
    fn space(&self) -> SearchSpace {
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

/// What both paths share.
struct Search<'a> {
    args: &'a TuneArgs,
    space: &'a SpaceFile,
    trials: &'a [Params],
    manifest: &'a Manifest,
    /// The folder of the search file, which its paths are relative to.
    base: &'a Path,
    device: Compute,
}

impl Search<'_> {
    fn relative(&self, p: &Option<PathBuf>) -> Option<PathBuf> {
        p.as_ref().map(|p| self.base.join(p))
    }

    fn search(&self, score: &mut TrialScorer) -> anyhow::Result<Vec<TrialResult>> {
        Ok(search(
            self.trials,
            &self.args.out,
            self.args.metric.name(),
            score,
            &Bars::default(),
        )?)
    }

    /// The SVM path: trials scored from feature tables; the best fitted on train and valid.
    fn svm(&self) -> anyhow::Result<Vec<TrialResult>> {
        let args = self.args;
        let task = self.space.task.unwrap_or(Task::Binary);
        let features = self.space.features.as_ref().context("no [features]")?;
        let progress = Bars::default();
        let mut tables = TrialTables::new(TrialSource {
            manifest: self.manifest,
            features,
            weights: self.relative(&features.weights),
            region: args.roi.feature_region(self.device)?,
            out: &args.out,
            compute: self.device,
            progress: &progress,
        });
        let results = self.search(&mut |_, p| {
            let table = tables.get(p).map_err(|e| e.to_string())?;
            let settings = model_settings(p).map_err(|e| e.to_string())?;
            fold_scores(table, task, &settings, args.folds, args.seed, args.metric)
                .map_err(|e| e.to_string())
        })?;
        let best = &results[0].params;
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
            task,
            &model_settings(best)?,
            &extractor,
            &args.out.join("best-run"),
        )?;
        Ok(results)
    }

    /// The network path: each trial a cross-validation; the best trained on the manifest.
    fn network(&self) -> anyhow::Result<Vec<TrialResult>> {
        let args = self.args;
        let config_path = self.relative(&self.space.config);
        let weights = self.relative(&self.space.weights);
        let overrides = |p: &Params| -> Vec<String> {
            p.iter()
                .map(|(k, v)| format!("{k}={}", toml_text(v)))
                .collect()
        };
        let crop = args.roi.crop(self.device)?;
        let results = self.search(&mut |k, p| {
            let config = TrainConfig::load(config_path.as_deref(), &overrides(p))
                .map_err(|e| e.to_string())?;
            // The manifest as the trial's model reads it (its finding's labels, its plane).
            let manifest = config.view(self.manifest).map_err(|e| e.to_string())?;
            let factory = NetworkFactory {
                roi: crop.clone(),
                config: config.clone(),
                weights: weights.clone(),
                compute: self.device,
                progress: Arc::new(cruciate_infer::Silent),
            };
            let report = cross_validate(
                &CvRequest {
                    manifest: &manifest,
                    folds: args.folds,
                    seed: args.seed,
                    task: config.model.task,
                    out: args.out.join(format!("trials/{k:03}")),
                    factory: &factory,
                },
                &cruciate_infer::Silent,
            )
            .map_err(|e| e.to_string())?;
            report
                .folds
                .iter()
                .map(|f| {
                    f.figures
                        .metric(args.metric)
                        .ok_or_else(|| format!("fold {} cannot be scored", f.fold))
                })
                .collect()
        })?;
        let config = TrainConfig::load(config_path.as_deref(), &overrides(&results[0].params))?;
        train(
            &TrainRequest {
                manifest: config.view(self.manifest)?,
                out: args.out.join("best-run"),
                weights,
                config,
                compute: self.device,
                roi: crop,
            },
            Arc::new(Bars::default()),
        )?;
        Ok(results)
    }
}

/// Runs `cruciate tune`.
pub fn run(args: &TuneArgs, device: Compute) -> anyhow::Result<()> {
    let space = SpaceFile::read(&args.space)?;
    let trials = space.space().trials(
        args.strategy,
        args.trials
            .or((args.strategy == Strategy::Random).then_some(10)),
        args.seed,
    );
    if trials.is_empty() {
        anyhow::bail!(
            "{}: the [search] table gives no trial (an empty list?)",
            args.space.display()
        );
    }
    let manifest = Manifest::read(&args.manifest)?;
    println!(
        "{} trials x {} folds, by {}",
        trials.len(),
        args.folds,
        args.metric.name()
    );
    let search = Search {
        args,
        space: &space,
        trials: &trials,
        manifest: &manifest,
        base: args.space.parent().unwrap_or(Path::new(".")),
        device,
    };
    let results = match space.path {
        SearchPath::Svm => search.svm()?,
        SearchPath::Network => search.network()?,
    };
    if args.roi.roi != super::RoiChoice::None {
        args.roi
            .cascade_beside(&args.out.join("best-run"), device)?;
    }
    write_best(args, &space, &results)
}

/// Writes `best.toml` and prints the five best trials.
fn write_best(args: &TuneArgs, space: &SpaceFile, results: &[TrialResult]) -> anyhow::Result<()> {
    let best = &results[0];
    let best_toml: BTreeMap<&String, toml::Value> = best
        .params
        .iter()
        .map(|(k, v)| (k, toml_value(v)))
        .collect();
    let path = match space.path {
        SearchPath::Svm => "svm",
        SearchPath::Network => "network",
    };
    crate::commands::write_text(
        &args.out.join("best.toml"),
        &format!(
            "# Best of {} trials by {} over {} folds: mean {:.4}, sd {:.4}\npath = {path:?}\n\n[best]\n{}",
            results.len(),
            args.metric.name(),
            args.folds,
            best.mean,
            best.sd,
            toml::to_string(&best_toml)?
        ),
    )?;
    for r in results.iter().take(5) {
        let settings: Vec<String> = r
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", toml_text(v)))
            .collect();
        println!(
            "#{:<3} {} {:.4} ± {:.4}  {}",
            r.trial,
            args.metric.name(),
            r.mean,
            r.sd,
            settings.join(" ")
        );
    }
    println!(
        "best fitted again on all training data: {}",
        args.out.join("best-run").display()
    );
    println!("tables: {}", args.out.join("results.html").display());
    Ok(())
}

fn toml_value(v: &serde_json::Value) -> toml::Value {
    serde_json::from_value(v.clone()).unwrap_or_else(|_| toml::Value::String(v.to_string()))
}

fn toml_text(v: &serde_json::Value) -> String {
    toml_value(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_search_spaces_parse_and_name_only_known_settings() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/search");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let space: SpaceFile = toml::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let base = path.parent().unwrap();
            match space.path {
                SearchPath::Svm => {
                    assert!(
                        space
                            .search
                            .keys()
                            .all(|k| SEARCHABLE.contains(&k.as_str()))
                    );
                    assert!(space.features.is_some());
                    for (key, values) in &space.search {
                        if ["pool", "slices"].contains(&key.as_str()) {
                            continue;
                        }
                        for v in values {
                            let p = Params::from([(key.clone(), serde_json::to_value(v).unwrap())]);
                            model_settings(&p).unwrap_or_else(|e| panic!("{key}: {e}"));
                        }
                    }
                }
                SearchPath::Network => {
                    let config = space.config.as_ref().map(|c| base.join(c));
                    let overrides: Vec<String> = space
                        .search
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v[0]))
                        .collect();
                    TrainConfig::load(config.as_deref(), &overrides)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
            }
            n += 1;
        }
        assert_eq!(n, 2);
    }
}
