//! The one context a service process shares between its HTTP handlers, its workers and its
//! DICOM node: the database, the settings, the served models, the analyser pool and the bell
//! that wakes idle workers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::models::ServedModels;
use crate::pool::{AnalyserPool, PoolSettings};
use crate::store::Store;
use crate::{ServerError, storage};

/// What every part of a service process reaches (cheap to clone).
#[derive(Clone)]
pub struct ServiceContext {
    /// The database.
    pub store: Store,
    /// The settings, as loaded.
    pub config: Arc<ServerConfig>,
    /// The models served.
    pub models: Arc<ServedModels>,
    /// The analyser processes every exam is read and analysed in.
    pub analysers: Arc<AnalyserPool>,
    /// Rung when a job is queued, so that an idle worker starts at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl ServiceContext {
    /// A context over `store` and `models` with an analyser pool made from `config`.
    pub fn new(
        config: ServerConfig,
        store: Store,
        models: Arc<ServedModels>,
    ) -> Result<Self, ServerError> {
        let program = match &config.analyser {
            Some(p) => p.clone(),
            None => {
                std::env::current_exe().map_err(|e| ServerError::io(Path::new("current_exe"), e))?
            }
        };
        let analysers = AnalyserPool::new(PoolSettings {
            program,
            flags: config.analyser_flags.iter().map(Into::into).collect(),
            size: config.analysers,
            memory_bytes: config.job_memory_bytes,
            timeout: Duration::from_secs(config.job_timeout_seconds),
            jobs_per_analyser: config.jobs_per_analyser,
            restart_above_bytes: config.analyser_restart_bytes,
        });
        Ok(Self {
            store,
            config: Arc::new(config),
            models,
            analysers: Arc::new(analysers),
            wake: Arc::default(),
        })
    }

    /// The data folder.
    pub fn data(&self) -> &Path {
        &self.config.data
    }

    /// The files of exam `id`.
    pub(crate) fn exam_files(&self, id: &str) -> storage::ExamFiles {
        storage::ExamFiles::new(self.data(), id)
    }
}
