//! Results sent back: for each analysed exam with destinations, its SR and Secondary Capture
//! images by C-STORE, retried with a doubling pause until the attempts are used up; the state of
//! each send is in the database for the API and the viewer.

use std::time::Duration;

use cruciate_dimse::scu::{self, Outgoing};

use super::NodeContext;
use super::results::{ResultsError, result_objects};
use crate::store::{AuditEntry, SendRow, now_ms};

/// Why one exam's results did not reach one destination.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The destination is not `AE@host:port` (a row from an older setting).
    #[error("{0}")]
    Destination(String),
    /// The exam is gone.
    #[error("the exam was deleted")]
    Deleted,
    /// Its results could not be made as DICOM.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The association failed.
    #[error(transparent)]
    Network(#[from] cruciate_dimse::DimseError),
    /// The peer refused an object.
    #[error("{to} refused {uid} (status {status:04X}H)")]
    Refused {
        /// The destination.
        to: String,
        /// The object's SOP Instance UID.
        uid: String,
        /// The DIMSE status.
        status: u16,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl NodeContext {
    /// Sends whatever is due.
    pub(crate) async fn send_due(&self) {
        let due = match self.ctx.store.due_sends().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("DICOM sends: {e}");
                return;
            }
        };
        for row in due {
            let outcome = self.send_one(&row).await;
            let retry = |attempts: i64| {
                (attempts + 1 < i64::from(self.dicom().send_attempts)).then(|| {
                    now_ms()
                        + (self.dicom().retry_seconds * 1000) as i64 * (1i64 << attempts.min(10))
                })
            };
            let recorded = match &outcome {
                Ok(n) => {
                    tracing::info!(exam = %row.exam_id, "results ({n} objects) sent to {}", row.destination);
                    self.ctx
                        .store
                        .record_send(&row.exam_id, &row.destination, Ok(()))
                        .await
                }
                Err(e) => {
                    tracing::warn!(exam = %row.exam_id, "sending to {}: {e}", row.destination);
                    self.ctx
                        .store
                        .record_send(
                            &row.exam_id,
                            &row.destination,
                            Err((&e.to_string(), retry(row.attempts))),
                        )
                        .await
                }
            };
            if let Err(e) = recorded {
                tracing::error!("recording a send: {e}");
            }
            let _ = self
                .ctx
                .store
                .audit(AuditEntry {
                    actor: "dicom".into(),
                    action: "send".into(),
                    exam_id: Some(row.exam_id.clone()),
                    detail: Some(match &outcome {
                        Ok(n) => format!("{n} objects to {}", row.destination),
                        Err(e) => format!("to {}: {e}", row.destination),
                    }),
                    ..AuditEntry::default()
                })
                .await;
        }
    }

    async fn send_one(&self, row: &SendRow) -> Result<usize, SendError> {
        let to: cruciate_dimse::Destination =
            row.destination.parse().map_err(SendError::Destination)?;
        let exam = self
            .ctx
            .store
            .exam(&row.exam_id, None)
            .await?
            .ok_or(SendError::Deleted)?;
        let objects = result_objects(&self.ctx.store, self.ctx.data(), &exam).await?;
        let outgoing: Vec<Outgoing> = std::iter::once(objects.sr)
            .chain(objects.sc)
            .map(|o| Outgoing::Object(Box::new(o)))
            .collect();
        let timeout = Duration::from_secs(self.dicom().timeout_seconds);
        let outcomes = scu::store(&self.dicom().ae_title, &to, &outgoing, timeout).await?;
        match outcomes.iter().find(|o| !o.stored()) {
            Some(refused) => Err(SendError::Refused {
                to: to.to_string(),
                uid: refused.sop_instance_uid.clone(),
                status: refused.status,
            }),
            None => Ok(outcomes.len()),
        }
    }
}
