//! Research spread over machines: the jobs this build puts on the research queue (a search's
//! trials, a cross-validation's folds), the runner `cruciate worker --research` runs them
//! with, and the wait of the command that queued them, which works on them too unless it only
//! coordinates.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cruciate_models::Compute;
use cruciate_server::research::{ResearchJob, ResearchQueue, ResearchRunner, ResearchWorker};
use cruciate_server::store::JobStatus;
use serde::de::DeserializeOwned;

use super::cv::FoldJob;
use super::tune::TrialJob;

/// A job this build can run on a worker's machine.
pub trait LocalJob: ResearchJob + DeserializeOwned {
    /// Runs it here: its result as JSON, or why it failed.
    fn run_here(&self, device: Compute) -> Result<String, String>;
}

/// The research jobs this build runs, on the device it was given.
pub struct ResearchJobs {
    /// Where models compute.
    pub device: Compute,
}

impl ResearchJobs {
    fn run_as<J: LocalJob>(&self, payload: &str) -> Result<String, String> {
        let job: J = serde_json::from_str(payload)
            .map_err(|e| format!("a {} job this build cannot read: {e}", J::KIND))?;
        job.run_here(self.device)
    }
}

impl ResearchRunner for ResearchJobs {
    fn run(&self, kind: &str, payload: &str) -> Result<String, String> {
        match kind {
            TrialJob::KIND => self.run_as::<TrialJob>(payload),
            FoldJob::KIND => self.run_as::<FoldJob>(payload),
            other => Err(format!(
                "this worker runs {} and {} jobs, not {other:?}",
                TrialJob::KIND,
                FoldJob::KIND
            )),
        }
    }
}

/// This process's name among the queue's workers: host and process id.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}

/// A database URL without its password, for messages.
pub fn shown_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or_default();
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_string(),
    }
}

/// Where the jobs of one command go and who runs them.
pub struct Spread<'a> {
    /// The research queue's database.
    pub url: &'a str,
    /// Whether this process works on its jobs too (else it only waits for the workers).
    pub work_here: bool,
    /// Where this process's models compute.
    pub device: Compute,
}

impl Spread<'_> {
    /// Queues `jobs` (whose keys start with `prefix`), works on them unless it only
    /// coordinates, and returns each one's result once all are done. A failed job stops the
    /// wait with its reason (it is queued again when the command is run again).
    pub fn run<J: ResearchJob>(&self, jobs: &[J], prefix: &str) -> anyhow::Result<Vec<String>> {
        super::service::runtime()?.block_on(async {
            let queue = ResearchQueue::open(self.url).await?;
            let mut queued = 0;
            for job in jobs {
                queued += usize::from(queue.enqueue(job).await?);
            }
            println!(
                "{} job(s) on the research queue at {} ({queued} newly queued){}",
                jobs.len(),
                shown_url(self.url),
                if self.work_here {
                    "; this process works on them too"
                } else {
                    "; `cruciate worker --research` processes run them"
                }
            );
            let worker = ResearchWorker::new(
                queue.clone(),
                worker_name(),
                Arc::new(ResearchJobs {
                    device: self.device,
                }),
            );
            let mut reported = HashSet::new();
            loop {
                let rows = queue.jobs(prefix).await?;
                let mut pending = 0;
                let mut results = Vec::new();
                for job in jobs {
                    let key = job.key();
                    let row = rows
                        .iter()
                        .find(|r| r.key == key)
                        .with_context(|| format!("{}: its job left the queue", job.describe()))?;
                    let by = row.worker.as_deref().unwrap_or("a worker");
                    match row.status {
                        JobStatus::Failed => anyhow::bail!(
                            "{} failed on {by}: {}",
                            job.describe(),
                            row.error.as_deref().unwrap_or("no reason given")
                        ),
                        JobStatus::Done => {
                            if reported.insert(key) {
                                println!("{} done by {by}", job.describe());
                            }
                            results.push(row.result.clone().unwrap_or_default());
                        }
                        JobStatus::Queued | JobStatus::Running => pending += 1,
                    }
                }
                if pending == 0 {
                    return Ok(results);
                }
                if !(self.work_here && worker.run_one(prefix).await?) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_of_another_kind_or_an_unreadable_one_is_refused_in_one_line() {
        let runner = ResearchJobs {
            device: Compute::default(),
        };
        let e = runner.run("svm-grid", "{}").unwrap_err();
        assert!(
            e.contains(TrialJob::KIND) && e.contains(FoldJob::KIND) && !e.contains('\n'),
            "{e}"
        );
        for kind in [TrialJob::KIND, FoldJob::KIND] {
            let e = runner.run(kind, "{\"trial\": 1}").unwrap_err();
            assert!(e.contains("cannot read"), "{e}");
        }
    }

    #[test]
    fn a_password_is_left_out_of_the_shown_url() {
        assert_eq!(
            shown_url("postgres://me:secret@db.example:5432/cruciate?sslmode=require"),
            "postgres://…@db.example:5432/cruciate"
        );
        assert_eq!(
            shown_url("sqlite:///tmp/q.sqlite"),
            "sqlite:///tmp/q.sqlite"
        );
    }
}
