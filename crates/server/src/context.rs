//! The one context a service process shares between its HTTP handlers, its workers and its
//! DICOM node: the database, the settings, the served models, the analyser pool and the bell
//! that wakes idle workers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::deidentify::{Deidentification, Identities};
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
    /// The secret pseudonyms derive from (`DATA/pseudonym-secret`).
    secret: Arc<String>,
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
        let secret = pseudonym_secret(&config.data)?;
        Ok(Self {
            store,
            config: Arc::new(config),
            models,
            analysers: Arc::new(analysers),
            wake: Arc::default(),
            secret: Arc::new(secret),
        })
    }

    /// The de-identification in force, for analysers' jobs.
    pub(crate) fn deidentification(&self) -> Deidentification {
        Deidentification {
            profile: self.config.dicom.deidentify,
            secret: self.secret.as_str().to_string(),
        }
    }

    /// Keeps what de-identified instances were (their pseudonyms, their studies' original
    /// identities): in the database only.
    pub(crate) async fn remember(&self, identities: &Identities) -> Result<(), sqlx::Error> {
        self.store.record_uids(&identities.uid_map).await?;
        for (study, identity) in &identities.studies {
            self.store.record_study_identity(study, identity).await?;
        }
        Ok(())
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

/// The secret pseudonyms derive from: `DATA/pseudonym-secret`, made at the first start
/// (readable by the service's user only). Losing it breaks the link between a patient's
/// studies received before and after.
fn pseudonym_secret(data: &Path) -> Result<String, ServerError> {
    let path = data.join("pseudonym-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim().to_string();
        if text.len() >= 32 {
            return Ok(text);
        }
        return Err(ServerError::Config(format!(
            "{}: too short to be a secret",
            path.display()
        )));
    }
    let secret = crate::store::random_hex(32);
    cruciate_volume::atomic::write_atomically(&path, |w| {
        use std::io::Write as _;
        w.write_all(secret.as_bytes())
    })
    .map_err(|e| ServerError::io(&path, e))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(secret)
}
