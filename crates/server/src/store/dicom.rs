//! The DICOM side of the database: the pseudonym map, original study identities, studies being
//! received, exams that came by DICOM, and results to send.

use cruciate_dimse::Destination;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, now_ms};

/// A study folder being received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The folder's name under `incoming/`.
    pub folder: String,
    /// Its StudyInstanceUID (as stored).
    pub study_uid: String,
    /// Who sent it.
    pub calling_ae: String,
    /// Instances so far.
    pub instances: i64,
    /// When the last one arrived.
    pub last_ms: i64,
    /// The claim on it, while it is being made an exam.
    pub claim: Option<Claim>,
}

/// A study being made an exam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The exam it becomes.
    pub exam_id: String,
    /// The process that claimed it (a worker-name prefix, `HOST-PID-`).
    pub by: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// One series of a received study.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SeriesEntry {
    /// SeriesInstanceUID (as stored).
    pub uid: String,
    /// SeriesDescription.
    pub description: String,
    /// The acquisition plane from the image orientation.
    #[schema(value_type = String)]
    pub plane: cruciate_volume::Plane,
    /// Instances received.
    pub instances: usize,
    /// Whether it is the series analysed.
    pub chosen: bool,
}

/// Where an exam that came by DICOM came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DicomExam {
    /// The exam.
    pub exam_id: String,
    /// StudyInstanceUID (as stored).
    pub study_uid: String,
    /// The sender's AE title.
    pub calling_ae: String,
    /// The series analysed.
    pub chosen_series: Option<String>,
    /// Every series received.
    pub series: Vec<SeriesEntry>,
}

/// The state of sending one exam's results to one destination.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SendRow {
    /// The exam.
    pub exam_id: String,
    /// `AE@host:port`, or a FHIR server's `http://` base URL.
    pub destination: String,
    /// `waiting` (for the analysis, or for the next attempt), `sent` or `failed` (attempts
    /// used up).
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was sent, ms since the epoch.
    pub sent_ms: Option<i64>,
}

fn send_row(r: &AnyRow) -> Result<SendRow, sqlx::Error> {
    Ok(SendRow {
        exam_id: r.try_get("exam_id")?,
        destination: r.try_get("destination")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        sent_ms: r.try_get("sent_ms")?,
    })
}

impl Store {
    /// Records original UID -> replacement pairs (known pairs are left as they are).
    pub async fn record_uids(&self, pairs: &[(String, String)]) -> Result<(), sqlx::Error> {
        let now = now_ms();
        for (original, replacement) in pairs {
            sqlx::query(
                "INSERT INTO dicom_uids (original, replacement, created_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (original) DO NOTHING",
            )
            .bind(original)
            .bind(replacement)
            .bind(now)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// The original of a replaced UID (the UID itself when it was not replaced).
    pub async fn original_uid(&self, uid: &str) -> Result<String, sqlx::Error> {
        let row = sqlx::query("SELECT original FROM dicom_uids WHERE replacement = $1")
            .bind(uid)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("original")?,
            None => uid.to_string(),
        })
    }

    /// Keeps the original identity (JSON) of the study stored as `study_uid`.
    pub async fn record_study_identity(
        &self,
        study_uid: &str,
        identity: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO dicom_studies (study_uid, identity, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (study_uid) DO NOTHING",
        )
        .bind(study_uid)
        .bind(identity)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The original identity (JSON) of the study stored as `study_uid`.
    pub async fn study_identity(&self, study_uid: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT identity FROM dicom_studies WHERE study_uid = $1")
            .bind(study_uid)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get("identity")).transpose()
    }

    /// Notes an instance arrived into `folder`.
    pub async fn record_arrival(
        &self,
        folder: &str,
        study_uid: &str,
        calling_ae: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO dicom_arrivals (folder, study_uid, calling_ae, instances, first_ms, last_ms) \
             VALUES ($1, $2, $3, 1, $4, $4) \
             ON CONFLICT (folder) DO UPDATE SET instances = dicom_arrivals.instances + 1, last_ms = $4",
        )
        .bind(folder)
        .bind(study_uid)
        .bind(calling_ae)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Studies to make exams of: those whose last instance arrived before `quiet_before_ms`,
    /// and every claimed one (the caller decides whether its claimant is gone).
    pub async fn arrivals(&self, quiet_before_ms: i64) -> Result<Vec<Arrival>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT folder, study_uid, calling_ae, instances, last_ms, exam_id, claimed_by, claimed_ms \
             FROM dicom_arrivals WHERE last_ms < $1 OR exam_id IS NOT NULL ORDER BY first_ms",
        )
        .bind(quiet_before_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let exam_id: Option<String> = r.try_get("exam_id")?;
                let claim = match exam_id {
                    Some(exam_id) => Some(Claim {
                        exam_id,
                        by: r
                            .try_get::<Option<String>, _>("claimed_by")?
                            .unwrap_or_default(),
                        at_ms: r.try_get::<Option<i64>, _>("claimed_ms")?.unwrap_or(0),
                    }),
                    None => None,
                };
                Ok(Arrival {
                    folder: r.try_get("folder")?,
                    study_uid: r.try_get("study_uid")?,
                    calling_ae: r.try_get("calling_ae")?,
                    instances: r.try_get("instances")?,
                    last_ms: r.try_get("last_ms")?,
                    claim,
                })
            })
            .collect()
    }

    /// Claims `arrival` as read (unclaimed, or with the claim read) for `by`, for the exam
    /// `exam_id` when it had no claim (else for its claim's exam); the claim, or `None` when
    /// the row changed since it was read (another claimant, or a new instance of an unclaimed
    /// study).
    pub async fn claim_arrival(
        &self,
        arrival: &Arrival,
        exam_id: &str,
        by: &str,
    ) -> Result<Option<Claim>, sqlx::Error> {
        let now = now_ms();
        let (exam_id, done) = match &arrival.claim {
            None => (
                exam_id.to_string(),
                sqlx::query(
                    "UPDATE dicom_arrivals SET exam_id = $1, claimed_by = $2, claimed_ms = $3 \
                     WHERE folder = $4 AND last_ms = $5 AND exam_id IS NULL",
                )
                .bind(exam_id)
                .bind(by)
                .bind(now)
                .bind(&arrival.folder)
                .bind(arrival.last_ms)
                .execute(self.pool())
                .await?,
            ),
            Some(claim) => (
                claim.exam_id.clone(),
                sqlx::query(
                    "UPDATE dicom_arrivals SET claimed_by = $1, claimed_ms = $2 \
                     WHERE folder = $3 AND exam_id = $4 AND claimed_ms = $5",
                )
                .bind(by)
                .bind(now)
                .bind(&arrival.folder)
                .bind(&claim.exam_id)
                .bind(claim.at_ms)
                .execute(self.pool())
                .await?,
            ),
        };
        Ok((done.rows_affected() == 1).then(|| Claim {
            exam_id,
            by: by.to_string(),
            at_ms: now,
        }))
    }

    /// The claimed study became its exam: its row goes, unless instances arrived since it was
    /// read (their row is then left unclaimed, to become an exam of their own).
    pub async fn finish_arrival(&self, arrival: &Arrival) -> Result<(), sqlx::Error> {
        let gone = sqlx::query("DELETE FROM dicom_arrivals WHERE folder = $1 AND last_ms = $2")
            .bind(&arrival.folder)
            .bind(arrival.last_ms)
            .execute(self.pool())
            .await?;
        if gone.rows_affected() == 0 {
            sqlx::query(
                "UPDATE dicom_arrivals SET exam_id = NULL, claimed_by = NULL, claimed_ms = NULL \
                 WHERE folder = $1",
            )
            .bind(&arrival.folder)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Records where exam `exam.exam_id` came from, and a send row per destination.
    pub async fn insert_dicom_exam(
        &self,
        exam: &DicomExam,
        destinations: &[Destination],
    ) -> Result<(), sqlx::Error> {
        // Replayed after a crash, the row may be there already; its sends are queued (again).
        sqlx::query(
            "INSERT INTO dicom_exams (exam_id, study_uid, calling_ae, chosen_series, series) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (exam_id) DO NOTHING",
        )
        .bind(&exam.exam_id)
        .bind(&exam.study_uid)
        .bind(&exam.calling_ae)
        .bind(&exam.chosen_series)
        .bind(serde_json::to_string(&exam.series).map_err(|e| sqlx::Error::Encode(e.into()))?)
        .execute(self.pool())
        .await?;
        self.queue_sends(&exam.exam_id, destinations).await
    }

    /// Queues the exam's results for `destinations` (again, when already sent).
    pub async fn queue_sends(
        &self,
        exam_id: &str,
        destinations: &[Destination],
    ) -> Result<(), sqlx::Error> {
        for d in destinations {
            self.queue_send(exam_id, &d.to_string()).await?;
        }
        Ok(())
    }

    /// Queues the exam's results for one destination, `AE@host:port` or a FHIR server's
    /// `http://` base URL (again, when already sent); they leave once the exam is analysed.
    pub async fn queue_send(&self, exam_id: &str, destination: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        Self::queue_send_on(&mut conn, exam_id, destination).await
    }

    /// [`Store::queue_send`] on one connection (a transaction's).
    pub(crate) async fn queue_send_on(
        conn: &mut sqlx::AnyConnection,
        exam_id: &str,
        destination: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO dicom_sends (exam_id, destination, status, attempts, next_ms) \
             VALUES ($1, $2, 'waiting', 0, $3) \
             ON CONFLICT (exam_id, destination) DO UPDATE SET status = 'waiting', attempts = 0, next_ms = $3",
        )
        .bind(exam_id)
        .bind(destination)
        .bind(now_ms())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Where exam `id` came from, if it came by DICOM.
    pub async fn dicom_exam(&self, id: &str) -> Result<Option<DicomExam>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT exam_id, study_uid, calling_ae, chosen_series, series FROM dicom_exams WHERE exam_id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let series: String = r.try_get("series")?;
            Ok(DicomExam {
                exam_id: r.try_get("exam_id")?,
                study_uid: r.try_get("study_uid")?,
                calling_ae: r.try_get("calling_ae")?,
                chosen_series: r.try_get("chosen_series")?,
                series: serde_json::from_str(&series).unwrap_or_default(),
            })
        })
        .transpose()
    }

    /// Sends due now: waiting, their exam analysed, their next attempt's time come.
    pub async fn due_sends(&self) -> Result<Vec<SendRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT s.exam_id, s.destination, s.status, s.attempts, s.last_error, s.sent_ms \
             FROM dicom_sends s JOIN exams e ON e.id = s.exam_id \
             WHERE s.status = 'waiting' AND e.status = 'done' AND s.next_ms <= $1 \
             ORDER BY s.next_ms LIMIT 20",
        )
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(send_row).collect()
    }

    /// The sends of exam `id`.
    pub async fn sends(&self, id: &str) -> Result<Vec<SendRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT exam_id, destination, status, attempts, last_error, sent_ms FROM dicom_sends \
             WHERE exam_id = $1 ORDER BY destination",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(send_row).collect()
    }

    /// Records a send attempt: sent, or failed with `error` and retried at `retry_ms` (no
    /// retry: failed for good).
    pub async fn record_send(
        &self,
        exam_id: &str,
        destination: &str,
        outcome: Result<(), (&str, Option<i64>)>,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let (status, error, next, sent) = match outcome {
            Ok(()) => ("sent", None, now, Some(now)),
            Err((e, Some(retry))) => ("waiting", Some(e), retry, None),
            Err((e, None)) => ("failed", Some(e), now, None),
        };
        sqlx::query(
            "UPDATE dicom_sends SET status = $1, attempts = attempts + 1, last_error = $2, next_ms = $3, sent_ms = $4 \
             WHERE exam_id = $5 AND destination = $6",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(sent)
        .bind(exam_id)
        .bind(destination)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
