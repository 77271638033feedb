//! The Cruciate service: a clinician or a PACS sends exams; each enters through one intake,
//! becomes a job in a durable queue, and is analysed by a pool of long-lived analyser
//! processes; the web UI and the JSON API show the worklist, the viewer and the results.
//!
//! - [`context`]: the one context every part of a process shares.
//! - [`intake`]: `admit`, the one way in for HTTP uploads and DICOM studies alike.
//! - [`store`]: SQLite (default) or PostgreSQL, one schema, migrations per backend; exams are
//!   jobs with leases and heartbeats; tokens (hashed) and the audit log.
//! - [`http`]: the HTTP listener with its connection cap and timeouts.
//! - [`api`]: the HTTP API under `/api/v1` with bearer tokens and roles, the operations
//!   endpoints, security headers; the OpenAPI document from the handlers.
//! - [`worker`]: claims, has an analyser analyse, records (or retries, by the failure's kind).
//! - [`job`]: the typed contract with the analysers; [`pool`]: the bounded, contained analyser
//!   processes; [`analyser`]: what runs inside one (`cruciate analyse` dispatches to it).
//! - [`analysis`]: one job inside an analyser: read under limits, run the model, write the
//!   result, the voxels and the heat map.
//! - [`images`]: slice and heat-map PNGs for the viewer.
//! - [`models`]: the served models, the bundled synthetic demo model among them.
//! - [`seed`]: the first start (admin token, synthetic demo exams).
//! - [`research`]: the research queue, where a hyperparameter search's trials wait for the
//!   `cruciate worker --research` processes of any number of machines.

#![warn(missing_docs)]

pub mod analyser;
pub mod analysis;
pub mod api;
mod config;
pub mod context;
pub mod decoded;
pub mod deidentify;
pub mod destination;
pub mod dicom;
pub mod dicomweb;
pub mod drift;
mod error;
pub mod fhir;
pub mod http;
pub mod http_base;
pub mod images;
pub mod intake;
pub mod job;
pub mod models;
pub mod ohif;
pub mod pool;
pub mod research;
pub mod seed;
mod storage;
pub mod store;
mod sweep;
mod ui;
pub mod worker;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cruciate_infer::Registry;
use tokio::sync::watch;

pub use config::{DicomConfig, DicomWebConfig, FhirConfig, OhifConfig, ServerConfig};
pub use context::ServiceContext;
pub use error::{ApiError, ErrorBody, ServerError};

use crate::models::ServedModels;
use crate::store::{Store, random_hex};
use crate::worker::Worker;

/// Where a serving process listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// The HTTP server.
    pub http: SocketAddr,
    /// The DICOM storage SCP, when configured.
    pub dicom: Option<SocketAddr>,
    /// OHIF Viewer, when configured.
    pub ohif: Option<SocketAddr>,
}

/// A service process: its database, models, settings and analysers.
pub struct Service {
    /// What its parts share.
    pub ctx: ServiceContext,
}

impl Service {
    /// Opens the data folder and the database (migrating it), describes the models, and
    /// cleans up after an earlier process that died (files of exams never recorded, jobs of
    /// its dead workers).
    pub async fn open(config: ServerConfig, registry: &Registry) -> Result<Self, ServerError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data).map_err(|e| ServerError::io(&config.data, e))?;
        let store = Store::open(&config.database_url()).await?;
        let region = config
            .localiser
            .as_deref()
            .map(|localiser| (localiser, config.roi_margin));
        let models = Arc::new(ServedModels::open(
            &config.models,
            &config.data,
            registry,
            region,
        )?);
        let ctx = ServiceContext::new(config, store, models)?;
        sweep::after_a_crash(&ctx).await?;
        Ok(Self { ctx })
    }

    /// Its settings.
    pub fn config(&self) -> &ServerConfig {
        &self.ctx.config
    }

    /// The models it serves.
    pub fn models(&self) -> &ServedModels {
        &self.ctx.models
    }

    /// The first start's admin token (its secret, when made now) and demo exams.
    pub async fn first_start(&self) -> Result<(Option<String>, usize), ServerError> {
        let config = self.config();
        let secret = seed::ensure_admin(&self.ctx.store, &config.data).await?;
        let seeded = seed::seed_exams(
            &self.ctx.store,
            &config.data,
            &self.models().default_model().name,
            config.seed_exams,
            config.max_attempts,
        )
        .await?;
        Ok((secret, seeded))
    }

    fn workers(&self, count: usize) -> Vec<Worker> {
        let base = sweep::worker_prefix();
        (0..count)
            .map(|i| Worker {
                ctx: self.ctx.clone(),
                name: format!("{base}{}-{i}", random_hex(3)),
            })
            .collect()
    }

    /// Runs `count` workers until `shutdown` resolves; jobs in hand are finished, or put back in
    /// the queue when they outlast the grace period.
    async fn run_workers(&self, count: usize, mut stop: watch::Receiver<bool>) {
        let workers = self.workers(count);
        let names: Vec<String> = workers.iter().map(|w| w.name.clone()).collect();
        let handles: Vec<_> = workers
            .into_iter()
            .map(|w| tokio::spawn(w.run(stop.clone())))
            .collect();
        let _ = stop.wait_for(|s| *s).await;
        let grace = Duration::from_secs(self.config().job_timeout_seconds.min(60));
        let all = futures_util::future::join_all(handles);
        if tokio::time::timeout(grace, all).await.is_err() {
            for name in &names {
                match self.ctx.store.release(name).await {
                    Ok(n) if n > 0 => tracing::warn!("{n} job(s) of {name} put back in the queue"),
                    Ok(_) => {}
                    Err(e) => tracing::error!("releasing {name}'s jobs: {e}"),
                }
            }
        }
    }

    /// Serves HTTP on the configured address (and DICOM on the configured port, and runs the
    /// configured workers) until `shutdown` resolves; `ready` hears the bound addresses.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        ready: impl FnOnce(Listening),
    ) -> Result<(), ServerError> {
        let config = self.config().clone();
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| ServerError::Config(format!("cannot listen on {}: {e}", config.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::io(Path::new("listener"), e))?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let dicom = dicom::start(self.ctx.clone(), addr.ip(), stop_rx.clone()).await?;
        let ohif = ohif::bind(&config.ohif, addr.ip()).await?;
        let app = api::router(self.ctx.clone(), ohif.as_ref().map(|(_, at)| at.port()));
        let ohif_at = ohif.as_ref().map(|(_, at)| *at);
        if let (Some((listener, _)), Some(folder)) = (ohif, config.ohif.folder.as_deref()) {
            tokio::spawn(http::serve(
                listener,
                ohif::router(folder, addr.port()),
                config.http_limits(),
                stop_rx.clone(),
            ));
        }
        ready(Listening {
            http: addr,
            dicom,
            ohif: ohif_at,
        });
        let http = tokio::spawn(http::serve(
            listener,
            app,
            config.http_limits(),
            stop_rx.clone(),
        ));
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        self.run_workers(config.workers, stop_rx).await;
        http.await
            .map_err(|e| ServerError::Config(format!("HTTP server: {e}")))
    }

    /// Runs the configured workers (at least one) until `shutdown` resolves.
    pub async fn work(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        self.run_workers(self.config().workers.max(1), stop_rx)
            .await;
    }
}

/// One row of `export-reads`' manifest: an exam a radiologist read, with their grade (and, for
/// a reading, their reads of its other findings).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadExam {
    /// The exam's id.
    pub exam_id: String,
    /// Its uploaded file.
    pub path: std::path::PathBuf,
    /// The radiologist's grade.
    pub grade: u8,
    /// Their read of a meniscal tear (1 present, 0 absent), where a reading asked it.
    pub meniscus: Option<u8>,
    /// Their read of abnormality (1 abnormal, 0 normal), where a reading asked it.
    pub abnormal: Option<u8>,
    /// Its site (the manifest's patient column keeps a site's exams apart from nothing; the
    /// exam is its own patient).
    pub site: String,
}

/// The exams radiologists have read, with the files they were uploaded as.
pub async fn read_exams(config: &ServerConfig) -> Result<Vec<ReadExam>, ServerError> {
    let store = Store::open(&config.database_url()).await?;
    let rows = store.read_exams().await?;
    let findings = store.all_finding_reads().await?;
    let read_of = |exam: &str, finding: cruciate_data::Finding| {
        findings
            .iter()
            .find(|r| r.exam_id == exam && r.finding == finding)
            .map(|r| u8::from(r.present))
    };
    let mut out = Vec::new();
    for e in rows {
        let files = storage::ExamFiles::new(&config.data, &e.id);
        let Some(path) = files.upload() else {
            tracing::warn!("exam {}: its upload is gone; left out", e.id);
            continue;
        };
        out.push(ReadExam {
            meniscus: read_of(&e.id, cruciate_data::Finding::Meniscus),
            abnormal: read_of(&e.id, cruciate_data::Finding::Abnormal),
            exam_id: e.id,
            path,
            grade: e.read_grade.unwrap_or(0).clamp(0, 3) as u8,
            site: e.site,
        });
    }
    store
        .audit(store::AuditEntry {
            actor: "export-reads".into(),
            action: "export".into(),
            detail: Some(format!("{} read exams into a manifest", out.len())),
            ..store::AuditEntry::default()
        })
        .await?;
    Ok(out)
}
