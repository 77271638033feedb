//! The HTTP API (`/api/v1`, JSON, bearer tokens), the operations endpoints (`/healthz`,
//! `/readyz`, `/metrics`) and the web UI (`/`), with security headers on every response.

mod admin;
mod auth;
mod dicom;
mod dicomweb;
mod exams;
mod fhir;
mod identity;
mod openapi;
mod ops;
mod pacs;
mod reads;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::Caller;
pub use openapi::ApiDoc;

/// What every handler can reach: the service's one shared context.
pub type AppState = crate::context::ServiceContext;

/// The largest JSON body a route other than the upload reads: a read, a token request.
pub const MAX_JSON_BYTES: usize = 64 << 10;

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
    // JSON of any kind: the API's errors, DICOMweb's `application/dicom+json` answers.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let media = v.split(';').next().unwrap_or("").trim();
            media == "application/json" || media.ends_with("+json")
        });
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

/// The whole application; with `ohif_port`, `/dicomweb` also answers OHIF served there.
pub fn router(state: AppState, ohif_port: Option<u16>) -> Router {
    let api = Router::new()
        .route("/exams", post(exams::upload).get(exams::list))
        .route("/exams/{id}", get(exams::detail).delete(exams::remove))
        .route("/exams/{id}/slices/{file}", get(exams::slice))
        .route("/exams/{id}/cam/{file}", get(exams::cam))
        .route("/exams/{id}/read", post(reads::read))
        .route(
            "/exams/{id}/findings/{finding}/read",
            post(reads::read_finding),
        )
        .route("/exams/{id}/show-call", post(exams::show_call))
        .route("/exams/{id}/sr.dcm", get(dicom::sr))
        .route("/exams/{id}/sc/{file}", get(dicom::sc))
        .route("/exams/{id}/seg/{file}", get(dicom::seg))
        .route("/exams/{id}/dicom", get(dicom::status))
        .route("/exams/{id}/fhir", get(fhir::report))
        .route("/exams/{id}/send", post(dicom::send))
        .route("/models", get(exams::models))
        .route("/pacs/studies", get(pacs::search))
        .route("/pacs/studies/{uid}/analyse", post(pacs::analyse))
        .route("/me", get(admin::me))
        .route("/tokens", post(admin::create_token).get(admin::tokens))
        .route("/tokens/{id}", delete(admin::revoke_token))
        .route("/audit", get(admin::audit))
        .route("/drift", get(admin::drift))
        .route("/openapi.json", get(openapi::document))
        .fallback(unknown_route)
        // The upload streams its body under its own limit; everything else is small JSON.
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(axum::middleware::map_response(errors_as_json));
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    // DICOMweb streams its bodies under the upload's limit, as the upload does.
    let dicomweb = Router::new()
        .route(
            "/studies",
            post(dicomweb::store).get(dicomweb::search_studies),
        )
        .route("/studies/{study}", get(dicomweb::retrieve_study))
        .route("/studies/{study}/metadata", get(dicomweb::study_metadata))
        .route("/studies/{study}/series", get(dicomweb::search_series))
        .route(
            "/studies/{study}/series/{series}",
            get(dicomweb::retrieve_series),
        )
        .route(
            "/studies/{study}/series/{series}/instances",
            get(dicomweb::search_instances),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}",
            get(dicomweb::retrieve_instance),
        )
        .route(
            "/studies/{study}/series/{series}/metadata",
            get(dicomweb::series_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/metadata",
            get(dicomweb::instance_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/rendered",
            get(dicomweb::rendered_instance),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            get(dicomweb::retrieve_frames),
        )
        .fallback(unknown_route)
        .layer(axum::middleware::map_response(errors_as_json));
    let dicomweb = match ohif_port {
        Some(port) => dicomweb.layer(crate::ohif::cors(port)),
        None => dicomweb,
    };
    Router::new()
        .nest("/api/v1", api)
        .nest("/dicomweb", dicomweb)
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
