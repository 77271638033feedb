//! Results sent back: for each analysed exam with destinations, its SR and Secondary Capture
//! images by C-STORE to each PACS, and its FHIR DiagnosticReport by HTTP POST to the FHIR
//! server, retried with a doubling pause until the attempts are used up; the state of each
//! send is in the database for the API and the viewer.

use std::time::Duration;

use cruciate_dimse::scu::{self, Outgoing};

use super::NodeContext;
use super::results::{ResultsError, result_objects};
use crate::destination::ResultDestination;
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
    /// The FHIR server could not be reached, or did not take the report.
    #[error("{0}")]
    Fhir(String),
    /// The task sending it ended abnormally.
    #[error("sending: {0}")]
    Task(String),
    /// The DICOMweb root could not be reached, or did not store the objects.
    #[error(transparent)]
    DicomWeb(#[from] crate::dicomweb::client::ClientError),
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
        let target: ResultDestination = row.destination.parse().map_err(SendError::Destination)?;
        let exam = self
            .ctx
            .store
            .exam(&row.exam_id, None)
            .await?
            .ok_or(SendError::Deleted)?;
        let objects = match target {
            ResultDestination::Fhir(endpoint) => return self.post_fhir(&exam, &endpoint).await,
            ResultDestination::DicomWeb(base) => {
                let objects = result_objects(&self.ctx.store, self.ctx.data(), &exam).await?;
                return self.stow(objects, base).await;
            }
            ResultDestination::Dicom(to) => (
                to,
                result_objects(&self.ctx.store, self.ctx.data(), &exam).await?,
            ),
        };
        let (to, objects) = objects;
        let outgoing: Vec<Outgoing> = objects
            .into_instances()
            .into_iter()
            .map(|o| Outgoing::Object(Box::new(o)))
            .collect();
        let timeout = Duration::from_secs(self.dicom().timeout_seconds);
        let outcomes = scu::store(&self.dicom().ae_title, &to, &outgoing, timeout).await?;
        // A destination that takes no Segmentations (many archives predate them) still gets
        // the SR and the pictures; the SR's references to the SEGs then point at what Cruciate
        // offers for download.
        let segmentation = |o: &scu::StoreOutcome| {
            o.status == cruciate_dimse::command::SOP_CLASS_NOT_SUPPORTED
                && outgoing.iter().any(|g| {
                    matches!(g, Outgoing::Object(obj) if is_segmentation(obj, &o.sop_instance_uid))
                })
        };
        match outcomes.iter().find(|o| !o.stored() && !segmentation(o)) {
            Some(refused) => Err(SendError::Refused {
                to: to.to_string(),
                uid: refused.sop_instance_uid.clone(),
                status: refused.status,
            }),
            None => Ok(outcomes.iter().filter(|o| o.stored()).count()),
        }
    }
}

/// Whether `obj` is the Segmentation with SOPInstanceUID `uid`.
fn is_segmentation(obj: &dicom_object::InMemDicomObject, uid: &str) -> bool {
    let text = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
    };
    text(dicom_dictionary_std::tags::SOP_CLASS_UID).as_deref()
        == Some(cruciate_dicom_results::seg::SEGMENTATION_STORAGE)
        && text(dicom_dictionary_std::tags::SOP_INSTANCE_UID).as_deref() == Some(uid)
}

impl NodeContext {
    /// Posts the exam's FHIR DiagnosticReport to `endpoint` (a conditional create on the
    /// exam's identifier, so that a retry after a lost answer makes no second report).
    async fn post_fhir(
        &self,
        exam: &crate::store::ExamRow,
        endpoint: &crate::http_base::HttpBase,
    ) -> Result<usize, SendError> {
        let result: crate::analysis::AnalysisResult = exam
            .result
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| ResultsError::NotDone(exam.id.clone()))?;
        let report = crate::fhir::exam_report(&self.ctx.store, exam, &result).await?;
        let body = serde_json::to_vec(&cruciate_fhir::diagnostic_report(&report))
            .map_err(|e| SendError::Fhir(e.to_string()))?;
        let url = endpoint.join("DiagnosticReport");
        let condition = format!("identifier=urn:cruciate:exam|{}", exam.id);
        let token = self.ctx.config.fhir.token.clone();
        let timeout = Duration::from_secs(self.dicom().timeout_seconds);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .build()
                .into();
            let mut request = agent
                .post(&url)
                .header("Content-Type", cruciate_fhir::FHIR_JSON)
                .header("Accept", cruciate_fhir::FHIR_JSON)
                .header("If-None-Exist", &condition);
            if let Some(token) = &token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            crate::http_base::answered_2xx(&url, request.send(&body[..]))
                .map(|_| 1)
                .map_err(SendError::Fhir)
        })
        .await
        .map_err(|e| SendError::Task(e.to_string()))?
    }
}

impl NodeContext {
    /// Stores the SR and Secondary Captures at DICOMweb root `base` by STOW-RS.
    async fn stow(
        &self,
        objects: super::results::ResultObjects,
        base: crate::http_base::HttpBase,
    ) -> Result<usize, SendError> {
        let instances = objects
            .into_instances()
            .into_iter()
            .map(cruciate_dicom_results::part10_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Results(ResultsError::Damaged(e.to_string())))?;
        let pacs = crate::dicomweb::client::Pacs {
            base,
            token: self.ctx.config.dicomweb.token.clone(),
            timeout: Duration::from_secs(self.dicom().timeout_seconds),
        };
        let count = instances.len();
        tokio::task::spawn_blocking(move || pacs.store(&instances))
            .await
            .map_err(|e| SendError::Task(e.to_string()))??;
        Ok(count)
    }
}
