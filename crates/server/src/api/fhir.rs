//! An exam's result as HL7 FHIR R4, for the RIS or EHR.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::exams::analysed;
use super::{AppState, Caller};
use crate::error::{ApiError, ErrorBody};

/// The exam's result as a FHIR R4 DiagnosticReport: an Observation per finding (the call, its
/// probability and grade set, the body site; "not performed" with the reasons where the input
/// gate abstained) and the model as a Device, contained.
#[utoipa::path(get, path = "/api/v1/exams/{id}/fhir", params(("id" = String, Path, description = "exam id")),
    responses((status = 200, content_type = "application/fhir+json"), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (exam, result) = analysed(&state, &caller, &id).await?;
    let report = crate::fhir::exam_report(&state.store, &exam, &result).await?;
    let body = serde_json::to_vec_pretty(&cruciate_fhir::diagnostic_report(&report))
        .map_err(ApiError::internal)?;
    state
        .store
        .audit(caller.audit("export", Some(&id), Some("FHIR DiagnosticReport".into())))
        .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, cruciate_fhir::FHIR_JSON)],
        body,
    )
        .into_response())
}
