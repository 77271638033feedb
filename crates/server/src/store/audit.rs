//! The audit log: who did what to which exam, when and from where. Rows are never deleted,
//! not even with the exam they name.

use sqlx::Row;

use super::{Store, now_ms};

/// One action to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// The token used, if any.
    pub token_id: Option<String>,
    /// Its name (or the process that acted: `worker`, `seed`).
    pub actor: String,
    /// What was done: `upload`, `view`, `export`, `delete`, `read`, `token.create`, ...
    pub action: String,
    /// The exam acted on.
    pub exam_id: Option<String>,
    /// Where the request came from.
    pub remote: Option<String>,
    /// Anything else worth keeping, in words.
    pub detail: Option<String>,
}

/// An audit-log row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    /// Its number.
    pub id: i64,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// The token used.
    pub token_id: Option<String>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which exam.
    pub exam_id: Option<String>,
    /// From where.
    pub remote: Option<String>,
    /// Details.
    pub detail: Option<String>,
}

impl Store {
    /// Records `entry`.
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit (at_ms, token_id, actor, action, exam_id, remote, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_ms())
        .bind(entry.token_id)
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.exam_id)
        .bind(entry.remote)
        .bind(entry.detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Audit rows, newest first, `limit` of them after skipping `offset`.
    pub async fn audit_rows(&self, limit: i64, offset: i64) -> Result<Vec<AuditRow>, sqlx::Error> {
        sqlx::query(
            "SELECT id, at_ms, token_id, actor, action, exam_id, remote, detail FROM audit ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(AuditRow {
                id: r.try_get("id")?,
                at_ms: r.try_get("at_ms")?,
                token_id: r.try_get("token_id")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                exam_id: r.try_get("exam_id")?,
                remote: r.try_get("remote")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
    }
}
