//! Drift watching: after every analysis, the recent exams of its stream (its model, site and
//! scanner) are compared with the model's validation exams ([`DriftReference`]); crossing the
//! threshold raises an alert (logged, audited, listed), and a stream that looks like the
//! reference again clears it. [`ServiceContext::drift_report`] gives every stream's comparison
//! for `GET /api/v1/drift`, `/metrics` and the admin panel.

use cruciate_infer::drift::{DriftCheck, ExamSignals};
use serde::Serialize;

use crate::context::ServiceContext;
use crate::store::{AuditEntry, Stream, UNKNOWN_SCANNER};

/// One stream's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StreamDrift {
    /// The stream.
    #[serde(flatten)]
    pub stream: Stream,
    /// Its recent exams against the model's reference; `None` where the model has no
    /// reference.
    #[schema(value_type = Option<Object>)]
    pub check: Option<DriftCheck>,
    /// Whether an alert is open on it.
    pub alert: bool,
}

impl ServiceContext {
    /// Compares the stream of a just-analysed exam with its model's reference, and raises or
    /// clears its alert. Failures are logged: watching never fails an analysis.
    pub async fn watch_drift(&self, model: &str, site: &str, scanner: Option<&str>) {
        let stream = Stream {
            model: model.to_string(),
            site: site.to_string(),
            scanner: scanner.unwrap_or(UNKNOWN_SCANNER).to_string(),
        };
        if let Err(e) = self.watch(&stream).await {
            tracing::error!(?stream, "watching drift: {e}");
        }
    }

    async fn watch(&self, stream: &Stream) -> Result<(), sqlx::Error> {
        self.store.note_stream(stream).await?;
        let Some(check) = self.check(stream).await? else {
            return Ok(());
        };
        let open = self.store.open_alert(stream).await?;
        let what = format!(
            "{} at site {} on scanner {}",
            stream.model, stream.site, stream.scanner
        );
        match (check.drifting, open) {
            (true, None) => {
                let detail = check.summary();
                // The database keeps one open alert per stream: a worker (of this process or
                // another) that raised it first has logged and audited it.
                if !self.store.raise_alert(stream, &detail).await? {
                    return Ok(());
                }
                tracing::warn!(
                    "drift: the last {} exams of {what} no longer look like the model's validation exams: {detail}",
                    check.exams
                );
                self.store
                    .audit(AuditEntry {
                        actor: "drift".into(),
                        action: "drift-alert".into(),
                        detail: Some(format!("{what}: {detail}")),
                        ..AuditEntry::default()
                    })
                    .await?;
            }
            (false, Some(id)) => {
                tracing::info!("drift: {what} looks like the model's validation exams again");
                self.store.clear_alert(id).await?;
                self.store
                    .audit(AuditEntry {
                        actor: "drift".into(),
                        action: "drift-cleared".into(),
                        detail: Some(what),
                        ..AuditEntry::default()
                    })
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// `stream`'s recent exams against its model's reference; `None` when the model is not
    /// served or has no reference.
    async fn check(&self, stream: &Stream) -> Result<Option<DriftCheck>, sqlx::Error> {
        let Some(reference) = self.models.get(&stream.model).and_then(|m| m.drift.clone()) else {
            return Ok(None);
        };
        let settings = &self.config.drift;
        let window = self.store.drift_window(stream, settings.window).await?;
        let signals: Vec<ExamSignals> = window
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect();
        Ok(Some(reference.compare(&signals, settings)))
    }

    /// Every stream with analysed exams, compared with its model's reference: each stream's
    /// last `window` exams read by index, whatever the service's history.
    pub async fn drift_report(&self) -> Result<Vec<StreamDrift>, sqlx::Error> {
        let mut out = Vec::new();
        for stream in self.store.drift_streams().await? {
            let check = self.check(&stream).await?;
            let alert = self.store.open_alert(&stream).await?.is_some();
            out.push(StreamDrift {
                stream,
                check,
                alert,
            });
        }
        Ok(out)
    }
}
