//! The database: one schema on SQLite (embedded default, WAL, a busy timeout) or PostgreSQL
//! (several processes sharing one queue), reached through sqlx's `Any` driver so that every
//! query is written once; the few statements that differ (claiming a job) ask [`Backend`].

mod audit;
mod dicom;
mod drift;
mod exams;
mod reads;
mod research;
mod tokens;

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, Executor};

pub use audit::{AuditEntry, AuditRow};
pub use dicom::{Arrival, Claim, DicomExam, SendRow, SeriesEntry};
pub use drift::{DriftAlert, Stream, UNKNOWN_SCANNER};
pub use exams::{
    Call, ClaimedJob, ExamFilter, ExamRow, Finished, JobStatus, NewExam, Read, ReadConflict,
};
pub use reads::FindingRead;
pub use research::{ClaimedResearch, ResearchRow};
pub use tokens::{Revoked, Role, TokenRow, random_hex};

use crate::ServerError;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The tables whose rows are jobs that workers claim under a lease.
#[derive(Debug, Clone, Copy)]
enum Leased {
    /// `exams`: each upload is its own analysis job.
    Exams,
    /// `research_jobs`: the research queue.
    Research,
}

impl Leased {
    fn table(self) -> &'static str {
        match self {
            Leased::Exams => "exams",
            Leased::Research => "research_jobs",
        }
    }
}

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Connects to `url` (`sqlite://PATH?mode=rwc` or `postgres://...`) and brings the schema
    /// up to date.
    pub async fn open(url: &str) -> Result<Self, ServerError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Readers and the writer do not block each other; a writer waits its
                        // turn instead of failing at once.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What a claim's inner `SELECT` ends with: PostgreSQL skips the rows other workers are
    /// claiming (SQLite has one writer at a time).
    fn claim_lock(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Jobs of `leased` whose worker stopped renewing its lease: queued again, or failed once
    /// they have used their attempts. Returns how many were queued again.
    async fn recover_expired_in(&self, leased: Leased) -> Result<u64, sqlx::Error> {
        let table = leased.table();
        let now = now_ms();
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET status = 'failed', finished_ms = $1, lease_until_ms = NULL, \
             error = 'its worker stopped ' || attempts || ' times; given up' \
             WHERE status = 'running' AND lease_until_ms < $1 AND attempts >= max_attempts"
        )))
        .bind(now)
        .execute(&self.pool)
        .await?;
        let requeued = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET status = 'queued', worker = NULL, lease_until_ms = NULL \
             WHERE status = 'running' AND lease_until_ms < $1"
        )))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(requeued.rows_affected())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
