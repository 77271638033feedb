//! The HTTP API (`/api/v1`, JSON, bearer tokens), the operations endpoints (`/healthz`,
//! `/readyz`, `/metrics`) and the web UI (`/`), with security headers on every response.

mod admin;
mod auth;
mod dicom;
mod exams;
mod openapi;
mod ops;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::Caller;
pub use openapi::ApiDoc;

use crate::contained::Containment;
use crate::models::ServedModels;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The data folder.
    pub data: PathBuf,
    /// The models served.
    pub models: Arc<ServedModels>,
    /// How uploads are probed.
    pub containment: Containment,
    /// Largest upload, bytes.
    pub max_upload_bytes: u64,
    /// Attempts a job gets.
    pub max_attempts: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client in the audit log.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Wakes this process's idle workers when a job is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// Where results are sent over DICOM (`AE@host:port`).
    pub dicom_destinations: Vec<String>,
}

/// The policy that keeps the UI to its own files: no scripts, styles, fonts or frames from
/// elsewhere, images only from this origin (and the blob URLs the viewer makes).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Any `/api` path with no route: a JSON 404.
async fn unknown_route() -> crate::ApiError {
    crate::ApiError::not_found("route")
}

/// The error answers axum writes itself (a JSON body or query it cannot parse, a method the
/// route lacks) as the API's JSON error, so that a client sees one error shape everywhere.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (_, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        t => t.to_string(),
    };
    crate::ApiError::new(status, message).into_response()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let limit = state.max_upload_bytes as usize;
    let api = Router::new()
        .route("/exams", post(exams::upload).get(exams::list))
        .route("/exams/{id}", get(exams::detail).delete(exams::remove))
        .route("/exams/{id}/slices/{file}", get(exams::slice))
        .route("/exams/{id}/cam/{file}", get(exams::cam))
        .route("/exams/{id}/read", post(exams::read))
        .route("/exams/{id}/sr.dcm", get(dicom::sr))
        .route("/exams/{id}/sc/{file}", get(dicom::sc))
        .route("/exams/{id}/dicom", get(dicom::status))
        .route("/exams/{id}/send", post(dicom::send))
        .route("/models", get(exams::models))
        .route("/me", get(admin::me))
        .route("/tokens", post(admin::create_token).get(admin::tokens))
        .route("/tokens/{id}", delete(admin::revoke_token))
        .route("/audit", get(admin::audit))
        .route("/openapi.json", get(openapi::document))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(limit.saturating_add(1)))
        .layer(axum::middleware::map_response(errors_as_json));
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(crate::ui::routes())
        .with_state(state)
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::CACHE_CONTROL, "no-store"))
}
