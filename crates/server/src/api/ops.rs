//! Operations: liveness, readiness and Prometheus metrics (queue depth per state, upload-to-
//! result latency of recent jobs).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// 200 while the process runs.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the database answers and the models' files are in place; 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if !state.store.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n".into(),
        );
    }
    for m in state.models.all() {
        for (run, info) in m.what.runs(&m.run) {
            if let Err(e) = info.model_path(run) {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("model {}: {e}\n", m.name),
                );
            }
        }
    }
    (StatusCode::OK, "ready\n".into())
}

/// A Prometheus label value: backslashes, quotes and line breaks escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Per stream (model, site, scanner): the open alert and each signal's p-value.
async fn drift_metrics(state: &AppState) -> String {
    let mut out = String::new();
    out += "# HELP cruciate_drift_alert 1 while a stream's recent exams no longer look like the \
            model's validation exams.\n";
    out += "# TYPE cruciate_drift_alert gauge\n";
    let streams = state.drift_report().await.unwrap_or_default();
    let key = |s: &crate::store::Stream| {
        format!(
            "model=\"{}\",site=\"{}\",scanner=\"{}\"",
            label(&s.model),
            label(&s.site),
            label(&s.scanner)
        )
    };
    for s in &streams {
        out += &format!(
            "cruciate_drift_alert{{{}}} {}\n",
            key(&s.stream),
            u8::from(s.alert)
        );
    }
    out += "# HELP cruciate_drift_p_value Kolmogorov-Smirnov p-value of a signal of a stream's \
            recent exams against the model's validation exams.\n";
    out += "# TYPE cruciate_drift_p_value gauge\n";
    for s in &streams {
        for signal in s.check.iter().flat_map(|c| &c.signals) {
            out += &format!(
                "cruciate_drift_p_value{{{},signal=\"{}\"}} {}\n",
                key(&s.stream),
                signal.signal.as_str(),
                signal.p_value
            );
        }
    }
    out
}

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 9] = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    out += "# HELP cruciate_exams Exams per state (the queue's depth is the queued ones).\n";
    out += "# TYPE cruciate_exams gauge\n";
    let counts = state.store.status_counts().await.unwrap_or_default();
    for status in crate::store::JobStatus::ALL {
        let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |c| c.1);
        out += &format!("cruciate_exams{{status=\"{status}\"}} {n}\n");
    }
    let (not_analysed, shown) = state.store.not_analysed_counts().await.unwrap_or_default();
    out += "# HELP cruciate_not_analysed Done exams the input gate found outside the model's \
            domain (shown: those whose call an admin had shown).\n";
    out += "# TYPE cruciate_not_analysed gauge\n";
    out += &format!("cruciate_not_analysed {not_analysed}\n");
    out += &format!("cruciate_not_analysed_shown {shown}\n");
    out += &drift_metrics(&state).await;
    let latencies = state.store.latencies(1000).await.unwrap_or_default();
    out +=
        "# HELP cruciate_job_latency_seconds Upload to result, the latest 1000 analysed exams.\n";
    out += "# TYPE cruciate_job_latency_seconds histogram\n";
    for le in BUCKETS {
        let n = latencies.iter().filter(|&&s| s <= le).count();
        out += &format!("cruciate_job_latency_seconds_bucket{{le=\"{le}\"}} {n}\n");
    }
    out += &format!(
        "cruciate_job_latency_seconds_bucket{{le=\"+Inf\"}} {}\n",
        latencies.len()
    );
    out += &format!(
        "cruciate_job_latency_seconds_sum {}\n",
        latencies.iter().sum::<f64>()
    );
    out += &format!("cruciate_job_latency_seconds_count {}\n", latencies.len());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
