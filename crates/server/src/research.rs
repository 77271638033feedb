//! The research queue: work that a researcher spreads over machines (the trials of a
//! hyperparameter search) as jobs in the service's database, run by `cruciate worker
//! --research` processes on any machine that reaches the database and shares the data folder.
//!
//! A job is a serde struct behind [`ResearchJob`], enqueued in one call; its key says what it
//! computes, so that enqueueing it again (a search started again after a crash) finds the job,
//! running or done, instead of running it twice. Workers claim jobs under a lease they renew
//! while the job runs; the job of a worker that stopped is queued again when its lease runs
//! out, up to [`MAX_ATTEMPTS`] tries. The code that runs each kind is the caller's
//! ([`ResearchRunner`]): the service itself knows no research.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::ServerError;
use crate::store::{ResearchRow, Store, now_ms};

/// Tries a job gets before its workers' stopping fails it.
pub const MAX_ATTEMPTS: i64 = 3;

/// A unit of research work, stored as JSON.
pub trait ResearchJob: Serialize + DeserializeOwned {
    /// Its kind in the queue: which code runs it.
    const KIND: &'static str;

    /// What it computes, the same for the same inputs; jobs of one search share a prefix
    /// (`SEARCH/`), by which the search finds them.
    fn key(&self) -> String;

    /// What it is, in words for progress lines ("trial 3", "fold 2").
    fn describe(&self) -> String;
}

/// Runs the research jobs a worker claims, by kind.
pub trait ResearchRunner: Send + Sync {
    /// Runs the job of `kind` whose settings are the JSON `payload`: its result as JSON, or
    /// why it failed (in one line).
    fn run(&self, kind: &str, payload: &str) -> Result<String, String>;
}

/// The research queue of one database.
#[derive(Clone)]
pub struct ResearchQueue {
    store: Store,
}

impl ResearchQueue {
    /// The queue in the database at `url` (`postgres://...` to share it between machines;
    /// `sqlite://PATH?mode=rwc` for processes of one machine), its schema brought up to date.
    pub async fn open(url: &str) -> Result<Self, ServerError> {
        Ok(Self {
            store: Store::open(url).await?,
        })
    }

    /// Queues `job` unless a job with its key is there already; true when queued now.
    pub async fn enqueue<J: ResearchJob>(&self, job: &J) -> Result<bool, ServerError> {
        let payload = serde_json::to_string(job).map_err(|e| {
            ServerError::Config(format!("a {} job does not serialise: {e}", J::KIND))
        })?;
        Ok(self
            .store
            .enqueue_research(&job.key(), J::KIND, &payload, MAX_ATTEMPTS)
            .await?)
    }

    /// Every job whose key starts with `prefix`, by key.
    pub async fn jobs(&self, prefix: &str) -> Result<Vec<ResearchRow>, ServerError> {
        Ok(self.store.research_jobs(prefix).await?)
    }
}

/// A process's worker on the research queue.
pub struct ResearchWorker {
    queue: ResearchQueue,
    name: String,
    runner: Arc<dyn ResearchRunner>,
    lease: Duration,
}

impl ResearchWorker {
    /// A worker called `name` (unique among the workers: host and process id) running jobs
    /// through `runner`, holding each under a one-minute lease renewed every 15 s.
    pub fn new(queue: ResearchQueue, name: String, runner: Arc<dyn ResearchRunner>) -> Self {
        Self {
            queue,
            name,
            runner,
            lease: Duration::from_secs(60),
        }
    }

    /// The same with another lease (renewed every quarter of it).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The worker's name in the queue.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Claims the oldest queued job whose key starts with `prefix` (any for `""`), runs it and
    /// records how it ended. False when no such job was queued. Jobs of stopped workers are
    /// queued again first.
    pub async fn run_one(&self, prefix: &str) -> Result<bool, ServerError> {
        let store = &self.queue.store;
        let requeued = store.recover_expired_research().await?;
        if requeued > 0 {
            tracing::warn!("{requeued} research job(s) whose worker stopped were queued again");
        }
        let lease_ms = self.lease.as_millis() as i64;
        let Some(job) = store
            .claim_research(&self.name, now_ms() + lease_ms, prefix)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(
            "{}: {} {} (try {})",
            self.name,
            job.kind,
            job.key,
            job.attempt
        );
        let renewal = {
            let (store, key, name) = (store.clone(), job.key.clone(), self.name.clone());
            let every = self.lease / 4;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store.renew_research(&key, &name, now_ms() + lease_ms).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => tracing::warn!("renewing the lease on {key}: {e}"),
                    }
                }
            })
        };
        let outcome = self.run_apart(&job.kind, &job.payload).await;
        renewal.abort();
        if let Err(e) = &outcome {
            tracing::error!("{}: {} failed: {e}", self.name, job.key);
        }
        let ended = store
            .end_research(
                &job.key,
                &self.name,
                outcome.as_deref().map_err(String::as_str),
            )
            .await?;
        if !ended {
            tracing::warn!(
                "{}: {} was taken over while it ran (its lease ran out); its result is dropped",
                self.name,
                job.key
            );
        }
        Ok(true)
    }

    /// Runs a job on a thread of its own (research code may block, start thread pools or a
    /// runtime of its own); a panic is the job's failure, not the worker's.
    async fn run_apart(&self, kind: &str, payload: &str) -> Result<String, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let runner = self.runner.clone();
        let (kind, payload) = (kind.to_string(), payload.to_string());
        std::thread::Builder::new()
            .name(format!("research-{kind}"))
            .spawn(move || {
                let _ = tx.send(runner.run(&kind, &payload));
            })
            .map_err(|e| format!("starting the job's thread: {e}"))?;
        rx.await
            .unwrap_or_else(|_| Err("the job stopped without a result (it panicked)".into()))
    }

    /// Works until `shutdown` turns true; a job in hand is finished first.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_one("").await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!("research queue: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize)]
    struct Square {
        search: String,
        n: i64,
    }

    impl ResearchJob for Square {
        const KIND: &'static str = "square";
        fn key(&self) -> String {
            format!("{}/{}", self.search, self.n)
        }
        fn describe(&self) -> String {
            format!("the square of {}", self.n)
        }
    }

    struct Squares;

    impl ResearchRunner for Squares {
        fn run(&self, kind: &str, payload: &str) -> Result<String, String> {
            assert_eq!(kind, Square::KIND);
            let job: Square = serde_json::from_str(payload).map_err(|e| e.to_string())?;
            match job.n {
                n if n < 0 => Err(format!("{n} is negative")),
                13 => panic!("unlucky"),
                n => Ok((n * n).to_string()),
            }
        }
    }

    #[tokio::test]
    async fn a_worker_runs_each_job_once_and_records_failures_and_panics() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("q.sqlite").display()
        );
        let queue = ResearchQueue::open(&url).await.unwrap();
        for n in [3, -1, 13] {
            let job = Square {
                search: "s".into(),
                n,
            };
            assert!(queue.enqueue(&job).await.unwrap());
            assert!(!queue.enqueue(&job).await.unwrap());
        }
        let worker = ResearchWorker::new(queue.clone(), "w".into(), Arc::new(Squares));
        assert_eq!(worker.name(), "w");
        while worker.run_one("s/").await.unwrap() {}
        let jobs = queue.jobs("s/").await.unwrap();
        let by_key = |k: &str| jobs.iter().find(|j| j.key == k).unwrap();
        assert_eq!(by_key("s/3").result.as_deref(), Some("9"));
        assert_eq!(by_key("s/-1").error.as_deref(), Some("-1 is negative"));
        assert!(
            by_key("s/13")
                .error
                .as_deref()
                .unwrap()
                .contains("panicked")
        );
        assert!(
            jobs.iter()
                .all(|j| j.attempts == 1 && j.worker.as_deref() == Some("w"))
        );
    }
}
