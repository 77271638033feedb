//! Results sent back: for each analysed exam with destinations, its SR and Secondary Capture
//! images by C-STORE, retried with a doubling pause until the attempts are used up; the state of
//! each send is in the database for the API and the viewer.

use std::time::Duration;

use cruciate_dimse::scu::{self, Outgoing};

use super::NodeContext;
use super::results::result_objects;
use crate::store::{AuditEntry, SendRow, now_ms};

impl NodeContext {
    /// Sends whatever is due.
    pub(crate) async fn send_due(&self) {
        let due = match self.store.due_sends().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("DICOM sends: {e}");
                return;
            }
        };
        for row in due {
            let outcome = self.send_one(&row).await;
            let retry = |attempts: i64| {
                (attempts + 1 < i64::from(self.config.send_attempts)).then(|| {
                    now_ms()
                        + (self.config.retry_seconds * 1000) as i64 * (1i64 << attempts.min(10))
                })
            };
            let recorded = match &outcome {
                Ok(n) => {
                    tracing::info!(exam = %row.exam_id, "results ({n} objects) sent to {}", row.destination);
                    self.store
                        .record_send(&row.exam_id, &row.destination, Ok(()))
                        .await
                }
                Err(e) => {
                    tracing::warn!(exam = %row.exam_id, "sending to {}: {e}", row.destination);
                    self.store
                        .record_send(
                            &row.exam_id,
                            &row.destination,
                            Err((e, retry(row.attempts))),
                        )
                        .await
                }
            };
            if let Err(e) = recorded {
                tracing::error!("recording a send: {e}");
            }
            let _ = self
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

    async fn send_one(&self, row: &SendRow) -> Result<usize, String> {
        let to = row.destination.parse().map_err(|e: String| e)?;
        let exam = self
            .store
            .exam(&row.exam_id, None)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the exam was deleted")?;
        let objects = result_objects(&self.store, &self.data, &exam)
            .await
            .map_err(|e| e.to_string())?;
        let outgoing: Vec<Outgoing> = std::iter::once(objects.sr)
            .chain(objects.sc)
            .map(|o| Outgoing::Object(Box::new(o)))
            .collect();
        let timeout = Duration::from_secs(self.config.timeout_seconds);
        let outcomes = scu::store(&self.config.ae_title, &to, &outgoing, timeout)
            .await
            .map_err(|e| e.to_string())?;
        match outcomes.iter().find(|o| !o.stored()) {
            Some(refused) => Err(format!(
                "{} refused {} (status {:04X}H)",
                to, refused.sop_instance_uid, refused.status
            )),
            None => Ok(outcomes.len()),
        }
    }
}
