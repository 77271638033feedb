//! A worker: claims the oldest queued exam, has an analyser of the pool analyse it while
//! renewing its lease, stores the result (or the one-line reason it failed), and starts over.
//! What a failure leads to follows from its [`crate::job::FailureKind`]: an exam at fault is
//! failed at once; an analyser killed from outside puts the job back in the queue while it has
//! attempts left. Jobs whose worker died are found by their expired lease and queued again, up
//! to the configured number of attempts.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::context::ServiceContext;
use crate::job::{Answer, Job, JobError};
use crate::store::{ClaimedJob, Finished, Store, now_ms};

/// One worker task of a service process.
#[derive(Clone)]
pub struct Worker {
    /// What the process shares.
    pub ctx: ServiceContext,
    /// This worker's name in the queue.
    pub name: String,
}

impl Worker {
    fn store(&self) -> &Store {
        &self.ctx.store
    }

    fn lease(&self) -> Duration {
        self.ctx.config.lease()
    }

    /// Works until `shutdown` turns true; a job in hand is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_recovery = Instant::now() - Duration::from_secs(60);
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_recovery.elapsed() > Duration::from_secs(2) {
                last_recovery = Instant::now();
                match self.store().recover_expired().await {
                    Ok(n) if n > 0 => {
                        tracing::warn!("{n} job(s) whose worker stopped were queued again")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("recovering expired jobs: {e}"),
                }
            }
            let lease_until = now_ms() + self.lease().as_millis() as i64;
            match self.store().claim(&self.name, lease_until).await {
                Ok(Some(job)) => self.process(job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                        _ = self.ctx.wake.notified() => {}
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
            Ok(finished) => self.store().complete(&job.id, &self.name, &finished).await,
            Err(e) if e.kind.retry() => {
                tracing::warn!(exam = %job.id, "attempt {} interrupted: {e}", job.attempt);
                self.store().retry(&job.id, &self.name, &e.message).await
            }
            Err(e) => {
                tracing::info!(exam = %job.id, "failed: {e}");
                self.store().fail(&job.id, &self.name, &e.message).await
            }
        };
        match recorded {
            Ok(true) => {
                tracing::info!(exam = %job.id, seconds = started.elapsed().as_secs_f64(), "analysed");
                self.after_analysis(&job).await;
            }
            Ok(false) => {
                tracing::warn!(exam = %job.id, "the job's lease was lost; its result was not recorded")
            }
            Err(e) => tracing::error!(exam = %job.id, "recording the result: {e}"),
        }
    }

    /// What follows a recorded analysis: its stream watched for drift, and for a DICOM study
    /// its results made in the study held (for Cruciate's own DICOMweb).
    async fn after_analysis(&self, job: &ClaimedJob) {
        match self.store().exam(&job.id, None).await {
            Ok(Some(exam)) if exam.status == crate::store::JobStatus::Done => {
                self.ctx
                    .watch_drift(&exam.model, &exam.site, exam.scanner.as_deref())
                    .await;
                if exam.format.as_deref() == Some("dicom") && exam.study_uid.is_some() {
                    let dir = self.ctx.exam_files(&exam.id).dir;
                    let made = crate::dicomweb::held::held_results(
                        self.store(),
                        self.ctx.data(),
                        &exam,
                        &dir,
                    )
                    .await;
                    if let Err(e) = made {
                        tracing::warn!(exam = %exam.id, "results in the held study: {e}");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(exam = %job.id, "reading the exam back: {e}"),
        }
    }

    /// Renews the lease on `id` until aborted.
    fn heartbeat(&self, id: &str) -> tokio::task::JoinHandle<()> {
        let (store, name, id, lease) = (
            self.store().clone(),
            self.name.clone(),
            id.to_string(),
            self.lease(),
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

    async fn analyse(&self, job: &ClaimedJob) -> Result<Finished, JobError> {
        let model = self.ctx.models.get(&job.model).ok_or_else(|| {
            JobError::new(
                crate::job::FailureKind::Model,
                format!(
                    "model {:?} is not served by worker {}",
                    job.model, self.name
                ),
            )
        })?;
        let files = self.ctx.exam_files(&job.id);
        let input = crate::decoded::analysis_input(files.decoded(), files.upload())
            .ok_or_else(|| JobError::internal("the uploaded file is missing"))?;
        let work = files.attempt(job.attempt);
        let _ = tokio::fs::remove_dir_all(&work).await;
        let answer = self
            .ctx
            .analysers
            .run(Job::Analyse {
                run: model.run.clone(),
                input: input.clone(),
                out: work.clone(),
            })
            .await;
        // Messages name the upload by the server's path: keep them free of it.
        let result = match answer {
            Ok(Answer::Analysed(result)) => result,
            Ok(other) => return Err(other.unexpected()),
            Err(e) => {
                let name = input
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(e.naming(&input, &name));
            }
        };
        files
            .publish(&work)
            .map_err(|e| JobError::internal(format!("storing the result: {e}")))?;
        Ok(Finished {
            call: result.call(),
            not_analysed: (!result.prediction.verdict.is_accepted())
                .then(|| result.prediction.verdict.summary()),
            model_hash: result.model.hash.clone(),
            software: result.software.clone(),
            synthetic_model: result.model.synthetic,
            signals: result
                .prediction
                .signals
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(JobError::internal)?,
            result: serde_json::to_string(&result).map_err(JobError::internal)?,
        })
    }
}
