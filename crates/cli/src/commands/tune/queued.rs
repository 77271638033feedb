//! A search spread over machines: each trial a job of the research queue (the service's
//! database), run by whichever `cruciate worker --research` claims it, and by the `tune`
//! process itself unless it only coordinates. Results land in `trials.jsonl` as a search run
//! on one machine writes them, so the tables, `best.toml` and `best-run/` are made the same way.

use std::time::Instant;

use anyhow::Context;
use cruciate_eval::tune::{Params, TrialResult, finished, record};
use cruciate_models::Compute;
use cruciate_server::research::ResearchJob;
use serde::{Deserialize, Serialize};

use super::search::{Search, SearchSettings, short_digest};
use crate::commands::research::{LocalJob, Spread};
use crate::progress::Bars;

/// One trial of a search, as a job of the research queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialJob {
    /// What every trial of the search shares.
    pub search: SearchSettings,
    /// Its place in the search (1-based).
    pub trial: usize,
    /// Its settings.
    pub params: Params,
}

impl ResearchJob for TrialJob {
    const KIND: &'static str = "tune-trial";

    /// `tune/SEARCH/SETTINGS`: the search's settings and the trial's own, so that a search
    /// started again (even over a changed space file) finds the trials it has.
    fn key(&self) -> String {
        let params = serde_json::to_string(&self.params).expect("settings serialise");
        format!(
            "tune/{}/{}",
            self.search.id(),
            short_digest(params.as_bytes())
        )
    }

    fn describe(&self) -> String {
        format!("trial {}", self.trial)
    }
}

/// What a trial job returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialOutcome {
    /// The metric on each fold.
    pub folds: Vec<f64>,
    /// Seconds it took.
    pub seconds: f64,
}

impl LocalJob for TrialJob {
    fn run_here(&self, device: Compute) -> Result<String, String> {
        let start = Instant::now();
        let search = Search::open(self.search.clone(), device).map_err(|e| format!("{e:#}"))?;
        let bars = Bars::default();
        let mut scorer = search.scorer(&bars).map_err(|e| format!("{e:#}"))?;
        let folds = search.score(&mut scorer, self.trial, &self.params)?;
        let outcome = TrialOutcome {
            folds,
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok(serde_json::to_string(&outcome).expect("an outcome serialises"))
    }
}

/// Runs the trials of `search` that `out/trials.jsonl` lacks as jobs spread by `spread`, and
/// records each in `trials.jsonl` once all are done.
pub(super) fn run_queued(
    search: &Search,
    trials: &[Params],
    spread: &Spread,
) -> anyhow::Result<()> {
    let settings = &search.settings;
    let out = &settings.out;
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let done = finished(out);
    let jobs: Vec<TrialJob> = trials
        .iter()
        .enumerate()
        .filter(|(_, p)| !done.iter().any(|d| &d.params == *p))
        .map(|(k, p)| TrialJob {
            search: settings.clone(),
            trial: k + 1,
            params: p.clone(),
        })
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let results = spread.run(&jobs, &format!("tune/{}/", settings.id()))?;
    for (job, text) in jobs.iter().zip(results) {
        let outcome: TrialOutcome = serde_json::from_str(&text)
            .with_context(|| format!("trial {}: its result does not read", job.trial))?;
        record(
            out,
            &TrialResult::new(
                job.trial,
                job.params.clone(),
                outcome.folds,
                outcome.seconds,
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{RoiArgs, RoiChoice};
    use cruciate_eval::tune::Metric;

    fn job(out: &str, c: f64) -> TrialJob {
        TrialJob {
            search: SearchSettings {
                manifest: "/data/manifest.csv".into(),
                space: "/data/space.toml".into(),
                out: out.into(),
                folds: 5,
                seed: 0,
                metric: Metric::Auc,
                roi: RoiArgs {
                    roi: RoiChoice::None,
                    localiser: None,
                    roi_margin: [2, 16, 16],
                },
            },
            trial: 1,
            params: Params::from([("c".to_string(), serde_json::json!(c))]),
        }
    }

    #[test]
    fn a_trials_key_follows_its_search_and_its_settings_not_its_place() {
        let a = job("/data/search", 1.0);
        let mut moved = a.clone();
        moved.trial = 7;
        assert_eq!(a.key(), moved.key(), "the same settings, another place");
        assert_ne!(a.key(), job("/data/search", 10.0).key());
        assert_ne!(a.key(), job("/data/other", 1.0).key());
        assert!(a.key().starts_with(&format!("tune/{}/", a.search.id())));
        let back: TrialJob = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back.key(), a.key());
    }
}
