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
use cruciate_eval::tune::{Metric, Params, SearchSpace, Strategy, search};
use cruciate_features::{
    Extractor, FeatureRegion, FeatureTable, Pool, SliceChoice, fit_run, fold_scores,
};
use cruciate_models::Compute;
use cruciate_svm::{ClassWeight, Gamma, LogisticSettings, ModelSettings, SvcSettings};
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceFile {
    path: String,
    #[serde(default)]
    task: Option<Task>,
    #[serde(default)]
    features: Option<FeatureSettings>,
    #[serde(default)]
    config: Option<PathBuf>,
    #[serde(default)]
    weights: Option<PathBuf>,
    search: BTreeMap<String, Vec<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureSettings {
    backbone: String,
    #[serde(default)]
    weights: Option<PathBuf>,
    #[serde(default = "default_size")]
    size: usize,
}

fn default_size() -> usize {
    224
}

const SVM_KEYS: [&str; 7] = [
    "model",
    "kernel",
    "c",
    "gamma",
    "class_weight",
    "pool",
    "slices",
];

/// Runs `cruciate tune`.
pub fn run(args: &TuneArgs, device: Compute) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(&args.space).with_context(|| args.space.display().to_string())?;
    let space: SpaceFile = toml::from_str(&text)
        .with_context(|| format!("{}: not a search space", args.space.display()))?;
    let base = args.space.parent().unwrap_or(Path::new("."));
    let relative = |p: &Option<PathBuf>| p.as_ref().map(|p| base.join(p));
    let values = space
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
    let search_space = SearchSpace { values };
    let trials = search_space.trials(
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
    let task = space.task.unwrap_or(Task::Binary);
    println!(
        "{} trials x {} folds, by {}",
        trials.len(),
        args.folds,
        args.metric.name()
    );
    let progress = Bars::default();
    let results = match space.path.as_str() {
        "svm" => {
            if let Some(bad) = space
                .search
                .keys()
                .find(|k| !SVM_KEYS.contains(&k.as_str()))
            {
                anyhow::bail!(
                    "{}: {bad:?} is not an SVM setting (searchable: {})",
                    args.space.display(),
                    SVM_KEYS.join(", ")
                );
            }
            let features = space
                .features
                .as_ref()
                .context("the svm path needs a [features] table")?;
            let weights = relative(&features.weights);
            let mut tables = SvmTables {
                manifest: &manifest,
                features,
                weights,
                region: args.roi.feature_region(device)?,
                out: &args.out,
                device,
                tables: BTreeMap::new(),
            };
            let mut score = |_: usize, p: &Params| -> Result<Vec<f64>, String> {
                let table = tables.get(p).map_err(|e| format!("{e:#}"))?;
                let settings = model_settings(p).map_err(|e| format!("{e:#}"))?;
                fold_scores(table, task, &settings, args.folds, args.seed, args.metric)
                    .map_err(|e| e.to_string())
            };
            let results = search(
                &trials,
                &args.out,
                args.metric.name(),
                &mut score,
                &progress,
            )?;
            let best = &results[0];
            let extractor = tables.extractor(&best.params)?;
            let table = tables.get(&best.params)?;
            let mut fit = table.split(Split::Train);
            fit.extend(table.split(Split::Valid));
            fit.sort_unstable();
            fit_run(
                table,
                [&fit, &[]],
                task,
                &model_settings(&best.params)?,
                &extractor,
                &args.out.join("best-run"),
            )?;
            results
        }
        "network" => {
            let config_path = relative(&space.config);
            let weights = relative(&space.weights);
            let overrides = |p: &Params| -> Vec<String> {
                p.iter()
                    .map(|(k, v)| format!("{k}={}", toml_text(v)))
                    .collect()
            };
            let crop = args.roi.crop(device)?;
            let mut score = |k: usize, p: &Params| -> Result<Vec<f64>, String> {
                let config = TrainConfig::load(config_path.as_deref(), &overrides(p))
                    .map_err(|e| e.to_string())?;
                let factory = NetworkFactory {
                    roi: crop.clone(),
                    config: config.clone(),
                    weights: weights.clone(),
                    compute: device,
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
            };
            let results = search(
                &trials,
                &args.out,
                args.metric.name(),
                &mut score,
                &progress,
            )?;
            let config = TrainConfig::load(config_path.as_deref(), &overrides(&results[0].params))?;
            train(
                &TrainRequest {
                    manifest: manifest.clone(),
                    out: args.out.join("best-run"),
                    weights,
                    config,
                    compute: device,
                    roi: crop.clone(),
                },
                Arc::new(Bars::default()),
            )?;
            results
        }
        other => anyhow::bail!(
            "{}: path {other:?}: expected svm or network",
            args.space.display()
        ),
    };
    if args.roi.roi != super::RoiChoice::None {
        args.roi
            .cascade_beside(&args.out.join("best-run"), device)?;
    }
    let best = &results[0];
    let best_toml: BTreeMap<&String, toml::Value> = best
        .params
        .iter()
        .map(|(k, v)| (k, toml_value(v)))
        .collect();
    crate::commands::write_text(
        &args.out.join("best.toml"),
        &format!(
            "# Best of {} trials by {} over {} folds: mean {:.4}, sd {:.4}\npath = {:?}\n\n[best]\n{}",
            results.len(),
            args.metric.name(),
            args.folds,
            best.mean,
            best.sd,
            space.path,
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

fn text_param<'a>(p: &'a Params, key: &str, default: &'a str) -> anyhow::Result<&'a str> {
    match p.get(key) {
        None => Ok(default),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => anyhow::bail!("{key} = {other}: expected a string"),
    }
}

/// The feature model a trial's settings describe.
fn model_settings(p: &Params) -> anyhow::Result<ModelSettings> {
    let c = match p.get("c") {
        None => 1.0,
        Some(v) => v
            .as_f64()
            .filter(|c| *c > 0.0)
            .with_context(|| format!("c = {v}: expected a positive number"))?,
    };
    let class_weight = match text_param(p, "class_weight", "balanced")? {
        "balanced" => ClassWeight::Balanced,
        "none" => ClassWeight::None,
        other => anyhow::bail!("class_weight {other:?}: expected balanced or none"),
    };
    let gamma = match p.get("gamma") {
        None => Gamma::Scale,
        Some(serde_json::Value::String(s)) => s.parse()?,
        Some(v) => Gamma::Value(
            v.as_f64()
                .filter(|g| *g > 0.0)
                .with_context(|| format!("gamma = {v}: expected scale or a positive number"))?,
        ),
    };
    Ok(match text_param(p, "model", "svm")? {
        "svm" => ModelSettings::Svm(SvcSettings {
            kernel: text_param(p, "kernel", "rbf")?.parse()?,
            c,
            gamma,
            class_weight,
            ..SvcSettings::default()
        }),
        "logistic" => ModelSettings::Logistic(LogisticSettings {
            c,
            class_weight,
            ..LogisticSettings::default()
        }),
        other => anyhow::bail!("model {other:?}: expected svm or logistic"),
    })
}

/// The feature tables of the trials' feature settings (pooling, slices), each computed once.
struct SvmTables<'a> {
    manifest: &'a Manifest,
    features: &'a FeatureSettings,
    weights: Option<PathBuf>,
    region: Option<FeatureRegion>,
    out: &'a Path,
    device: Compute,
    tables: BTreeMap<(String, String), FeatureTable>,
}

impl SvmTables<'_> {
    fn choice(p: &Params) -> anyhow::Result<(String, String)> {
        Ok((
            text_param(p, "pool", "max")?.to_string(),
            text_param(p, "slices", "central:16")?.to_string(),
        ))
    }

    fn extractor(&self, p: &Params) -> anyhow::Result<Extractor> {
        let (pool, slices) = Self::choice(p)?;
        let slices: SliceChoice = slices.parse().map_err(anyhow::Error::msg)?;
        Ok(Extractor::new(
            &self.features.backbone,
            self.weights.as_deref(),
            None,
            slices.input(self.features.size),
            Pool::parse_list(&pool).map_err(anyhow::Error::msg)?,
            self.device.device(),
        )?
        .with_engine(self.device.engine_choice())?
        .with_region(self.region.as_ref().map(FeatureRegion::spec)))
    }

    fn get(&mut self, p: &Params) -> anyhow::Result<&FeatureTable> {
        let key = Self::choice(p)?;
        if !self.tables.contains_key(&key) {
            let extractor = self.extractor(p)?;
            let dir = self.out.join("features").join(extractor.spec().key());
            let (table, _) = FeatureTable::extract(
                self.manifest,
                (&extractor, self.region.as_ref()),
                self.weights.as_deref(),
                &dir,
                &Bars::default(),
            )?;
            self.tables.insert(key.clone(), table);
        }
        Ok(&self.tables[&key])
    }
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
            match space.path.as_str() {
                "svm" => {
                    assert!(space.search.keys().all(|k| SVM_KEYS.contains(&k.as_str())));
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
                "network" => {
                    let config = space.config.as_ref().map(|c| base.join(c));
                    let overrides: Vec<String> = space
                        .search
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v[0]))
                        .collect();
                    TrainConfig::load(config.as_deref(), &overrides)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                other => panic!("{}: path {other}", path.display()),
            }
            n += 1;
        }
        assert_eq!(n, 2);
    }
}
