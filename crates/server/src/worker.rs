//! A worker: claims the oldest queued exam, analyses it in a contained child process while
//! renewing its lease, stores the result (or the one-line reason it failed), and starts over.
//! Jobs whose worker died are found by their expired lease and queued again, up to the
//! configured number of attempts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::analysis::AnalysisResult;
use crate::contained::Containment;
use crate::models::ServedModels;
use crate::storage::ExamFiles;
use crate::store::{ClaimedJob, Finished, Store, now_ms};

/// What a worker needs.
#[derive(Clone)]
pub struct Worker {
    /// The queue.
    pub store: Store,
    /// The data folder.
    pub data: PathBuf,
    /// The models this worker can run.
    pub models: Arc<ServedModels>,
    /// How analyses are contained.
    pub containment: Containment,
    /// How long a claimed job stays with this worker between heartbeats.
    pub lease: Duration,
    /// This worker's name in the queue.
    pub name: String,
    /// Rung when this process queues a job, so that an idle worker starts at once instead of
    /// at its next poll.
    pub wake: Arc<tokio::sync::Notify>,
}

impl Worker {
    /// Works until `shutdown` turns true; a job in hand is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_recovery = Instant::now() - Duration::from_secs(60);
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_recovery.elapsed() > Duration::from_secs(2) {
                last_recovery = Instant::now();
                match self.store.recover_expired().await {
                    Ok(n) if n > 0 => {
                        tracing::warn!("{n} job(s) whose worker stopped were queued again")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("recovering expired jobs: {e}"),
                }
            }
            let lease_until = now_ms() + self.lease.as_millis() as i64;
            match self.store.claim(&self.name, lease_until).await {
                Ok(Some(job)) => self.process(job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                        _ = self.wake.notified() => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!("claiming a job: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Analyses one claimed job and records how it ended.
    async fn process(&self, job: ClaimedJob) {
        let started = Instant::now();
        tracing::info!(exam = %job.id, attempt = job.attempt, worker = %self.name, "analysing");
        let heartbeat = self.heartbeat(&job.id);
        let outcome = self.analyse(&job).await;
        heartbeat.abort();
        let recorded = match outcome {
            Ok(finished) => self.store.complete(&job.id, &self.name, &finished).await,
            Err(reason) => {
                tracing::info!(exam = %job.id, "failed: {reason}");
                self.store.fail(&job.id, &self.name, &reason).await
            }
        };
        match recorded {
            Ok(true) => {
                tracing::info!(exam = %job.id, seconds = started.elapsed().as_secs_f64(), "analysed")
            }
            Ok(false) => {
                tracing::warn!(exam = %job.id, "the job's lease was lost; its result was not recorded")
            }
            Err(e) => tracing::error!(exam = %job.id, "recording the result: {e}"),
        }
    }

    /// Renews the lease on `id` until aborted.
    fn heartbeat(&self, id: &str) -> tokio::task::JoinHandle<()> {
        let (store, name, id, lease) = (
            self.store.clone(),
            self.name.clone(),
            id.to_string(),
            self.lease,
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let until = now_ms() + lease.as_millis() as i64;
                match store.heartbeat(&id, &name, until).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => tracing::warn!("heartbeat: {e}"),
                }
            }
        })
    }

    async fn analyse(&self, job: &ClaimedJob) -> Result<Finished, String> {
        let model = self.models.get(&job.model).ok_or_else(|| {
            format!(
                "model {:?} is not served by worker {}",
                job.model, self.name
            )
        })?;
        let files = ExamFiles::new(&self.data, &job.id);
        let input = files
            .upload()
            .ok_or_else(|| "the uploaded file is missing".to_string())?;
        let work = files.attempt(job.attempt);
        let _ = std::fs::remove_dir_all(&work);
        let args: Vec<OsString> = vec![
            "analyse".into(),
            "--run".into(),
            model.run.clone().into(),
            "--input".into(),
            input.clone().into(),
            "--out".into(),
            work.clone().into(),
        ];
        if let Err(e) = self.containment.run(&args).await {
            // Messages name the upload by the server's path: keep them free of it.
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(e.to_string().replace(&input.display().to_string(), &name));
        }
        let result: AnalysisResult = read_result(&work)?;
        files
            .publish(&work)
            .map_err(|e| format!("storing the result: {e}"))?;
        Ok(Finished {
            call: (
                result.prediction.class as i64,
                result.prediction.label.clone(),
            ),
            injured_probability: result.prediction.injured_probability,
            model_hash: result.model.hash.clone(),
            software: result.software.clone(),
            synthetic_model: result.model.synthetic,
            result: serde_json::to_string(&result).expect("result serialises"),
        })
    }
}

fn read_result(dir: &Path) -> Result<AnalysisResult, String> {
    let path = dir.join("result.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
