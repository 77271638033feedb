//! What the research queue reads and writes: jobs keyed by what they compute, claimed under a
//! lease as the exams' jobs are (one `UPDATE ... RETURNING`, with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so that two workers never hold one job), their results kept as JSON text.

use sqlx::{AssertSqlSafe, Row};

use super::{JobStatus, Store, now_ms};

/// A research job as a worker claims it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedResearch {
    /// What it computes.
    pub key: String,
    /// Its kind (which code runs it).
    pub kind: String,
    /// Its settings, JSON.
    pub payload: String,
    /// 1 for the first try.
    pub attempt: i64,
}

/// Where a research job stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ResearchRow {
    /// What it computes.
    pub key: String,
    /// Queued, running, done or failed.
    pub status: JobStatus,
    /// The worker that holds it or last held it.
    pub worker: Option<String>,
    /// Tries so far.
    pub attempts: i64,
    /// Its result (JSON), once done.
    pub result: Option<String>,
    /// Why it failed, once failed.
    pub error: Option<String>,
}

impl Store {
    /// Queues a job unless one with its key is there already, queued, running or done (a
    /// resumed search finds its jobs instead of running them again); a failed one is queued
    /// again with its tries reset. True when queued now.
    pub async fn enqueue_research(
        &self,
        key: &str,
        kind: &str,
        payload: &str,
        max_attempts: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO research_jobs (key, kind, payload, status, max_attempts, created_ms) \
             VALUES ($1, $2, $3, 'queued', $4, $5) ON CONFLICT (key) DO UPDATE SET \
             status = 'queued', payload = excluded.payload, attempts = 0, worker = NULL, \
             error = NULL, created_ms = excluded.created_ms WHERE research_jobs.status = 'failed'",
        )
        .bind(key)
        .bind(kind)
        .bind(payload)
        .bind(max_attempts)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands the oldest queued job whose key starts with `prefix` (any job for `""`) to
    /// `worker` until `lease_until_ms`.
    pub async fn claim_research(
        &self,
        worker: &str,
        lease_until_ms: i64,
        prefix: &str,
    ) -> Result<Option<ClaimedResearch>, sqlx::Error> {
        let lock = self.claim_lock();
        let sql = format!(
            "UPDATE research_jobs SET status = 'running', attempts = attempts + 1, \
             lease_until_ms = $1, worker = $2, started_ms = $3 \
             WHERE status = 'queued' AND key = (SELECT key FROM research_jobs \
             WHERE status = 'queued' AND key LIKE $4 ORDER BY created_ms, key LIMIT 1{lock}) \
             RETURNING key, kind, payload, attempts"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until_ms)
            .bind(worker)
            .bind(now_ms())
            .bind(format!("{}%", like_escaped(prefix)))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(ClaimedResearch {
                key: r.try_get("key")?,
                kind: r.try_get("kind")?,
                payload: r.try_get("payload")?,
                attempt: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Extends `worker`'s lease on job `key`; false when the worker no longer holds it.
    pub async fn renew_research(
        &self,
        key: &str,
        worker: &str,
        lease_until_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE research_jobs SET lease_until_ms = $1 \
             WHERE key = $2 AND worker = $3 AND status = 'running'",
        )
        .bind(lease_until_ms)
        .bind(key)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends `worker`'s job `key`: done with `result`, or failed with `error`. False when the
    /// worker no longer held it (its lease ran out and another took it), and nothing changed.
    pub async fn end_research(
        &self,
        key: &str,
        worker: &str,
        outcome: Result<&str, &str>,
    ) -> Result<bool, sqlx::Error> {
        let (status, result, error) = match outcome {
            Ok(result) => ("done", Some(result), None),
            Err(error) => ("failed", None, Some(error)),
        };
        let done = sqlx::query(
            "UPDATE research_jobs SET status = $1, result = $2, error = $3, finished_ms = $4, \
             lease_until_ms = NULL WHERE key = $5 AND worker = $6 AND status = 'running'",
        )
        .bind(status)
        .bind(result)
        .bind(error)
        .bind(now_ms())
        .bind(key)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Jobs whose worker stopped renewing its lease: queued again, or failed once they have
    /// used their attempts. Returns how many were queued again.
    pub async fn recover_expired_research(&self) -> Result<u64, sqlx::Error> {
        self.recover_expired_in(super::Leased::Research).await
    }

    /// Every job whose key starts with `prefix`, by key.
    pub async fn research_jobs(&self, prefix: &str) -> Result<Vec<ResearchRow>, sqlx::Error> {
        sqlx::query(
            "SELECT key, status, worker, attempts, result, error FROM research_jobs \
             WHERE key LIKE $1 ORDER BY key",
        )
        .bind(format!("{}%", like_escaped(prefix)))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(ResearchRow {
                key: r.try_get("key")?,
                status: JobStatus::parse(&r.try_get::<String, _>("status")?)?,
                worker: r.try_get("worker")?,
                attempts: r.try_get("attempts")?,
                result: r.try_get("result")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
    }
}

/// `prefix` as the start of a LIKE pattern: a `%` in it matches one character as `_` does
/// (job keys hold neither; this keeps a caller's `%` from matching every key).
fn like_escaped(prefix: &str) -> String {
    prefix.replace('%', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_job_is_queued_once_claimed_once_and_ends_once() {
        let (_dir, store) = store().await;
        assert!(store.enqueue_research("s1/a", "k", "{}", 2).await.unwrap());
        assert!(
            !store.enqueue_research("s1/a", "k", "{}", 2).await.unwrap(),
            "a key already queued is not queued again"
        );
        store.enqueue_research("s2/a", "k", "{}", 2).await.unwrap();
        let far = now_ms() + 60_000;
        let job = store
            .claim_research("w1", far, "s1/")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((job.key.as_str(), job.attempt), ("s1/a", 1));
        assert_eq!(
            store.claim_research("w2", far, "s1/").await.unwrap(),
            None,
            "the only job of s1 is held"
        );
        assert!(!store.end_research("s1/a", "w2", Ok("1")).await.unwrap());
        assert!(store.end_research("s1/a", "w1", Ok("[1]")).await.unwrap());
        assert!(!store.end_research("s1/a", "w1", Ok("[2]")).await.unwrap());
        let rows = store.research_jobs("s1/").await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, JobStatus::Done);
        assert_eq!(rows[0].result.as_deref(), Some("[1]"));
        assert!(
            !store.enqueue_research("s1/a", "k", "{}", 2).await.unwrap(),
            "a done job is found, not run again"
        );
    }

    #[tokio::test]
    async fn a_job_whose_worker_stopped_is_queued_again_then_given_up() {
        let (_dir, store) = store().await;
        store.enqueue_research("s/a", "k", "{}", 2).await.unwrap();
        let past = now_ms() - 1;
        store.claim_research("w1", past, "").await.unwrap().unwrap();
        assert_eq!(store.recover_expired_research().await.unwrap(), 1);
        let again = store.claim_research("w2", past, "").await.unwrap().unwrap();
        assert_eq!(again.attempt, 2);
        assert_eq!(store.recover_expired_research().await.unwrap(), 0);
        let rows = store.research_jobs("s/").await.unwrap();
        assert_eq!(rows[0].status, JobStatus::Failed);
        assert!(
            rows[0]
                .error
                .as_deref()
                .unwrap()
                .contains("stopped 2 times")
        );
        assert!(
            store.enqueue_research("s/a", "k", "{}", 2).await.unwrap(),
            "a failed job is queued again when asked for again"
        );
        let rows = store.research_jobs("s/").await.unwrap();
        assert_eq!((rows[0].status, rows[0].attempts), (JobStatus::Queued, 0));
        assert_eq!(rows[0].error, None);
    }

    #[test]
    fn a_percent_in_a_prefix_matches_one_character_not_every_key() {
        assert_eq!(like_escaped("tune/ab%"), "tune/ab_");
    }
}
