//! `cruciate tune`: hyperparameter search for the SVM path (model, kernel, C, gamma, class
//! weights, pooling, slices: features computed once per feature setting and reused by every
//! trial) or the network path (any training setting, each trial a cross-validation), with the
//! best setting written out and fitted again on all the training data. With `--queue`, the
//! trials are jobs of the research queue, shared by `cruciate worker --research` processes on
//! any number of machines ([`queued`]).

mod queued;
mod search;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_eval::tune::{Metric, Strategy, TrialResult};
use cruciate_models::Compute;

use crate::progress::Bars;
pub use queued::TrialJob;
pub use search::short_digest;
use search::{Search, SearchPath, SearchSettings};

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
    /// Run the trials as jobs of the research queue in this database (postgres://USER@HOST/DB
    /// to share them with `cruciate worker --research` on other machines, which must see the
    /// manifest, the search file and --out at the same paths); a search started again finds
    /// its trials there, done or running, and runs none twice.
    #[arg(long, value_name = "URL")]
    queue: Option<String>,
    /// With --queue: only queue the trials and wait for the workers (run none here).
    #[arg(long, requires = "queue")]
    coordinate_only: bool,
}

impl TuneArgs {
    /// The settings every trial shares, with absolute paths (the same on every machine).
    fn settings(&self) -> anyhow::Result<SearchSettings> {
        let absolute = |p: &PathBuf| {
            std::path::absolute(p).with_context(|| format!("{}: no absolute path", p.display()))
        };
        let mut roi = self.roi.clone();
        roi.localiser = roi.localiser.as_ref().map(absolute).transpose()?;
        Ok(SearchSettings {
            manifest: absolute(&self.manifest)?,
            space: absolute(&self.space)?,
            out: absolute(&self.out)?,
            folds: self.folds,
            seed: self.seed,
            metric: self.metric,
            roi,
        })
    }
}

/// Runs `cruciate tune`.
pub fn run(args: &TuneArgs, device: Compute) -> anyhow::Result<()> {
    let search = Search::open(args.settings()?, device)?;
    let trials = search.space.space().trials(
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
    println!(
        "{} trials x {} folds, by {}",
        trials.len(),
        args.folds,
        args.metric.name()
    );
    let bars = Bars::default();
    let mut scorer = search.scorer(&bars)?;
    if let Some(url) = &args.queue {
        let spread = super::research::Spread {
            url,
            work_here: !args.coordinate_only,
            device,
        };
        queued::run_queued(&search, &trials, &spread)?;
    }
    let results = cruciate_eval::tune::search(
        &trials,
        &args.out,
        args.metric.name(),
        &mut |k, p| search.score(&mut scorer, k, p),
        &bars,
    )?;
    let best = best_section(&results[0])?;
    let fitted =
        std::fs::read_to_string(args.out.join("best.toml")).is_ok_and(|text| text.ends_with(&best));
    if fitted {
        println!("the best settings are those of best-run/, fitted when this search first ended");
    } else {
        search.fit_best(&mut scorer, &results[0].params)?;
        if args.roi.roi != super::RoiChoice::None {
            args.roi
                .cascade_beside(&args.out.join("best-run"), device)?;
        }
    }
    write_best(args, search.space.path, &results, &best)
}

/// The `[best]` table of `best.toml`, which ends it: a search started again whose best is
/// the same keeps the run fitted with it.
fn best_section(best: &TrialResult) -> anyhow::Result<String> {
    let best_toml: BTreeMap<&String, toml::Value> = best
        .params
        .iter()
        .map(|(k, v)| (k, toml_value(v)))
        .collect();
    Ok(format!("[best]\n{}", toml::to_string(&best_toml)?))
}

/// Writes `best.toml` and prints the five best trials.
fn write_best(
    args: &TuneArgs,
    path: SearchPath,
    results: &[TrialResult],
    section: &str,
) -> anyhow::Result<()> {
    let best = &results[0];
    let path = match path {
        SearchPath::Svm => "svm",
        SearchPath::Network => "network",
    };
    crate::commands::write_text(
        &args.out.join("best.toml"),
        &format!(
            "# Best of {} trials by {} over {} folds: mean {:.4}, sd {:.4}\npath = {path:?}\n\n{section}",
            results.len(),
            args.metric.name(),
            args.folds,
            best.mean,
            best.sd,
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

/// A searched value as TOML writes it (the form `--set` takes).
fn toml_text(v: &serde_json::Value) -> String {
    toml_value(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::search::SpaceFile;
    use super::*;
    use cruciate_eval::tune::Params;
    use cruciate_features::search::{SEARCHABLE, model_settings};
    use cruciate_train::TrainConfig;
    use std::path::Path;

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
