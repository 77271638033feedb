//! Hyperparameter search: trials drawn from a space of settings (every combination, or a seeded
//! random sample of them), each scored over cross-validation folds by a caller-given procedure,
//! kept in `trials.jsonl` as they finish so that a killed search resumes without running a trial
//! twice, and tabulated best first (`results.csv`, `results.html`).
//!
//! ```text
//! DIR/trials.jsonl    one finished trial per line: its settings, fold scores, mean, spread
//! DIR/results.csv     every trial, best mean first
//! DIR/results.html    the same table as a page
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::report::escape;
pub use cruciate_metrics::Metric;

/// One trial's settings: a value per searched name.
pub type Params = BTreeMap<String, serde_json::Value>;

/// How trials are drawn from a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every combination, in order.
    Grid,
    /// A seeded sample of distinct combinations.
    Random,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grid" => Ok(Self::Grid),
            "random" => Ok(Self::Random),
            _ => Err(format!("strategy {s:?}: expected grid or random")),
        }
    }
}

/// The values each setting may take.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchSpace {
    /// Candidate values per setting name.
    pub values: BTreeMap<String, Vec<serde_json::Value>>,
}

impl SearchSpace {
    /// Number of combinations.
    pub fn size(&self) -> usize {
        self.values.values().map(Vec::len).product()
    }

    fn combination(&self, mut index: usize) -> Params {
        let mut params = Params::new();
        for (name, values) in self.values.iter().rev() {
            params.insert(name.clone(), values[index % values.len()].clone());
            index /= values.len();
        }
        params
    }

    /// The trials `strategy` draws: every combination (at most `limit`) for a grid; `limit`
    /// distinct combinations (all when `None` or when there are fewer) from `seed` at random.
    pub fn trials(&self, strategy: Strategy, limit: Option<usize>, seed: u64) -> Vec<Params> {
        let total = self.size();
        if self.values.values().any(Vec::is_empty) || self.values.is_empty() {
            return Vec::new();
        }
        let n = limit.unwrap_or(total).min(total);
        let indices: Vec<usize> = match strategy {
            Strategy::Grid => (0..n).collect(),
            Strategy::Random => {
                let mut drawn = sample(&mut ChaCha8Rng::seed_from_u64(seed), total, n).into_vec();
                drawn.sort_unstable();
                drawn
            }
        };
        indices.into_iter().map(|i| self.combination(i)).collect()
    }
}

/// A finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// Its place in the search (1-based).
    pub trial: usize,
    /// Its settings.
    pub params: Params,
    /// The metric on each fold's held-out exams.
    pub folds: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their standard deviation (population).
    pub sd: f64,
    /// Seconds the trial took.
    pub seconds: f64,
}

impl TrialResult {
    /// Trial `trial` (1-based) with settings `params`, scored `folds`, which took `seconds`:
    /// the mean and spread computed.
    pub fn new(trial: usize, params: Params, folds: Vec<f64>, seconds: f64) -> Self {
        let n = folds.len().max(1) as f64;
        let mean = folds.iter().sum::<f64>() / n;
        let sd = (folds.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        Self {
            trial,
            params,
            folds,
            mean,
            sd,
            seconds,
        }
    }
}

const TRIALS: &str = "trials.jsonl";

/// The trials finished in `out/trials.jsonl` (none where there is no such file).
pub fn finished(out: &Path) -> Vec<TrialResult> {
    std::fs::read_to_string(out.join(TRIALS))
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Scores one trial (1-based number, settings): the metric on each fold, or why it failed.
pub type TrialScorer<'a> = dyn FnMut(usize, &Params) -> Result<Vec<f64>, String> + 'a;

/// Runs every trial not yet in `out/trials.jsonl` through `score` (fold scores of the metric
/// named `metric`, higher better), then writes the tables. Returns every trial, best first.
pub fn search(
    trials: &[Params],
    out: &Path,
    metric: &str,
    score: &mut TrialScorer,
    progress: &dyn cruciate_infer::Progress,
) -> Result<Vec<TrialResult>, EvalError> {
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let done = finished(out);
    let mut results = Vec::new();
    progress.start("trials", Some(trials.len() as u64));
    for (k, params) in trials.iter().enumerate() {
        if let Some(prior) = done.iter().find(|d| &d.params == params) {
            results.push(TrialResult {
                trial: k + 1,
                ..prior.clone()
            });
            progress.set(k as u64 + 1);
            continue;
        }
        let start = Instant::now();
        let folds = score(k + 1, params).map_err(|e| EvalError::Trial {
            trial: k + 1,
            message: e,
        })?;
        let result = TrialResult::new(k + 1, params.clone(), folds, start.elapsed().as_secs_f64());
        record(out, &result)?;
        results.push(result);
        progress.set(k as u64 + 1);
    }
    progress.finish();
    results.sort_by(|a, b| b.mean.total_cmp(&a.mean).then(a.trial.cmp(&b.trial)));
    write_tables(&results, out, metric)?;
    Ok(results)
}

/// Appends a finished trial to `out/trials.jsonl` (flushed to disk), where a search started
/// again finds it.
pub fn record(out: &Path, result: &TrialResult) -> Result<(), EvalError> {
    let path = &out.join(TRIALS);
    let line = serde_json::to_string(result).expect("a trial serialises");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| EvalError::io(path, e))?;
    writeln!(file, "{line}")
        .and_then(|_| file.sync_all())
        .map_err(|e| EvalError::io(path, e))
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_tables(results: &[TrialResult], out: &Path, metric: &str) -> Result<(), EvalError> {
    let names: Vec<String> = results
        .first()
        .map(|r| r.params.keys().cloned().collect())
        .unwrap_or_default();
    let csv_path = out.join("results.csv");
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["rank".to_string(), "trial".into()];
    header.extend(names.iter().cloned());
    header.extend([
        format!("{metric}_mean"),
        format!("{metric}_sd"),
        "folds".into(),
        "seconds".into(),
    ]);
    writer.write_record(&header).expect("in memory");
    let mut rows_html = String::new();
    for (rank, r) in results.iter().enumerate() {
        let mut record = vec![(rank + 1).to_string(), r.trial.to_string()];
        record.extend(
            names
                .iter()
                .map(|n| r.params.get(n).map(value_text).unwrap_or_default()),
        );
        record.extend([
            format!("{:.4}", r.mean),
            format!("{:.4}", r.sd),
            r.folds
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(" "),
            format!("{:.1}", r.seconds),
        ]);
        writer.write_record(&record).expect("in memory");
        rows_html.push_str("<tr>");
        for cell in &record {
            rows_html.push_str(&format!("<td>{}</td>", escape(cell)));
        }
        rows_html.push_str("</tr>\n");
    }
    let csv_bytes = writer.into_inner().expect("in memory");
    cruciate_volume::atomic::write_atomically(&csv_path, |w| w.write_all(&csv_bytes))
        .map_err(|e| EvalError::io(&csv_path, e))?;
    let head: String = header
        .iter()
        .map(|h| format!("<th>{}</th>", escape(h)))
        .collect();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Hyperparameter search</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}tr:nth-child(2){{background:#eef}}</style>\
         </head><body><h1>Hyperparameter search</h1><p>{} trials, sorted by the mean of {} over \
         the folds (spread: standard deviation over folds).</p><table><tr>{head}</tr>\n{rows_html}</table></body></html>",
        results.len(),
        escape(metric)
    );
    let html_path = out.join("results.html");
    cruciate_volume::atomic::write_atomically(&html_path, |w| w.write_all(page.as_bytes()))
        .map_err(|e| EvalError::io(&html_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space() -> SearchSpace {
        SearchSpace {
            values: [
                ("c".to_string(), vec![json!(0.1), json!(1.0), json!(10.0)]),
                ("kernel".to_string(), vec![json!("rbf"), json!("linear")]),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn grids_take_every_combination_and_random_draws_distinct_ones() {
        let s = space();
        let grid = s.trials(Strategy::Grid, None, 0);
        assert_eq!(grid.len(), 6);
        assert_eq!(
            grid[0],
            Params::from([("c".into(), json!(0.1)), ("kernel".into(), json!("rbf"))])
        );
        assert_eq!(grid[1]["kernel"], json!("linear"));
        assert_eq!(grid[2]["c"], json!(1.0));
        let random = s.trials(Strategy::Random, Some(4), 9);
        assert_eq!(random.len(), 4);
        assert!(random.iter().all(|t| grid.contains(t)));
        let mut unique = random.clone();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        assert_eq!(s.trials(Strategy::Random, Some(4), 9), random);
        assert_eq!(s.trials(Strategy::Random, Some(40), 9).len(), 6);
    }

    #[test]
    fn a_search_resumes_without_running_a_trial_twice_and_ranks_by_the_mean() {
        let dir = tempfile::tempdir().unwrap();
        let trials = space().trials(Strategy::Grid, None, 0);
        let runs = std::cell::RefCell::new(Vec::new());
        let mut score = |k: usize, p: &Params| -> Result<Vec<f64>, String> {
            runs.borrow_mut().push(k);
            if k == 4 && runs.borrow().len() == 4 {
                return Err("killed".into());
            }
            let c = p["c"].as_f64().unwrap();
            Ok(vec![c, c + if p["kernel"] == "rbf" { 1.0 } else { 0.0 }])
        };
        let silent = cruciate_infer::Silent;
        let first = search(&trials, dir.path(), "auc", &mut score, &silent);
        assert!(first.is_err(), "trial 4 failed");
        let results = search(&trials, dir.path(), "auc", &mut score, &silent).unwrap();
        assert_eq!(
            *runs.borrow(),
            vec![1, 2, 3, 4, 4, 5, 6],
            "trials 1-3 are not run again"
        );
        assert_eq!(results.len(), 6);
        assert_eq!(results[0].params["c"], json!(10.0));
        assert_eq!(results[0].params["kernel"], json!("rbf"));
        assert_eq!((results[0].mean, results[0].sd), (10.5, 0.5));
        let csv = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "rank,trial,c,kernel,auc_mean,auc_sd,folds,seconds"
        );
        assert!(lines[1].starts_with("1,5,10.0,rbf,10.5000,0.5000,10.0000 11.0000,"));
        assert_eq!(lines.len(), 7);
        assert!(
            std::fs::read_to_string(dir.path().join("results.html"))
                .unwrap()
                .contains("<td>rbf</td>")
        );
        let again = search(&trials, dir.path(), "auc", &mut score, &silent).unwrap();
        assert_eq!(runs.borrow().len(), 7, "a finished search runs nothing");
        assert_eq!(again, results);
    }
}
