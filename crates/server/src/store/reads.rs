//! A radiologist's reads of the findings of a reading beside its headline (whose read, with
//! its grade, is the exam row's): present or not, agreeing with the call or not.

use cruciate_data::Finding;
use sqlx::Row;

use super::{Store, now_ms};

/// A radiologist's read of one finding of an exam.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRead {
    /// The exam.
    pub exam_id: String,
    /// The finding.
    pub finding: Finding,
    /// Whether they read it as present.
    pub present: bool,
    /// Whether that agrees with the call.
    pub agrees: bool,
    /// Who.
    pub by: String,
    /// When.
    pub at_ms: i64,
}

fn finding_read(r: &sqlx::any::AnyRow) -> Result<FindingRead, sqlx::Error> {
    let finding: String = r.try_get("finding")?;
    Ok(FindingRead {
        exam_id: r.try_get("exam_id")?,
        finding: finding
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        present: r.try_get::<i64, _>("present")? == 1,
        agrees: r.try_get::<i64, _>("agrees")? == 1,
        by: r.try_get("read_by")?,
        at_ms: r.try_get("read_ms")?,
    })
}

impl Store {
    /// Records `who`'s read of `finding` on exam `exam_id`, replacing an earlier one.
    pub async fn record_finding_read(
        &self,
        exam_id: &str,
        finding: Finding,
        (present, agrees): (bool, bool),
        who: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO finding_reads (exam_id, finding, present, agrees, read_by, read_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (exam_id, finding) DO UPDATE SET \
             present = excluded.present, agrees = excluded.agrees, read_by = excluded.read_by, \
             read_ms = excluded.read_ms",
        )
        .bind(exam_id)
        .bind(finding.name())
        .bind(i64::from(present))
        .bind(i64::from(agrees))
        .bind(who)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The findings read on exam `exam_id`, by finding.
    pub async fn finding_reads(&self, exam_id: &str) -> Result<Vec<FindingRead>, sqlx::Error> {
        sqlx::query(
            "SELECT exam_id, finding, present, agrees, read_by, read_ms FROM finding_reads \
             WHERE exam_id = $1 ORDER BY finding",
        )
        .bind(exam_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(finding_read)
        .collect()
    }

    /// Every finding read, by exam and finding (`cruciate export-reads`).
    pub async fn all_finding_reads(&self) -> Result<Vec<FindingRead>, sqlx::Error> {
        sqlx::query(
            "SELECT exam_id, finding, present, agrees, read_by, read_ms FROM finding_reads \
             ORDER BY exam_id, finding",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(finding_read)
        .collect()
    }
}
