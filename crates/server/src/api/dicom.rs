//! An exam's results as DICOM (the SR document, the Secondary Capture images and the
//! Segmentations), where it came from when it came by DICOM, and the state of sending its results to the PACS.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::exams::{analysed, numbered, visible_exam};
use super::{AppState, Caller};
use crate::dicom::results::{ResultObjects, ResultsError, result_objects};
use crate::error::{ApiError, ErrorBody};
use crate::store::{DicomExam, SendRow};
use dicom_object::InMemDicomObject;

/// Where an exam came from over DICOM and where its results went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DicomStatus {
    /// The sender, the series received and the one analysed (absent for uploads).
    pub source: Option<DicomExam>,
    /// The results' sends, one per destination.
    pub sends: Vec<SendRow>,
    /// The destinations results can be sent to.
    pub destinations: Vec<String>,
}

async fn status_of(state: &AppState, id: &str) -> Result<DicomStatus, ApiError> {
    Ok(DicomStatus {
        source: state.store.dicom_exam(id).await?,
        sends: state.store.sends(id).await?,
        destinations: state.config.destination_names(),
    })
}

async fn objects_of(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ResultObjects, ApiError> {
    let (exam, _) = analysed(state, caller, id).await?;
    result_objects(&state.store, state.data(), &exam)
        .await
        .map_err(|e| match e {
            ResultsError::NotDone(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            ResultsError::Damaged(_) => ApiError::internal(e),
        })
}

fn dicom_file(obj: dicom_object::InMemDicomObject, name: &str) -> Result<Response, ApiError> {
    let bytes = cruciate_dicom_results::part10_bytes(obj).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/dicom".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The exam's result as a DICOM Comprehensive SR document (TID 1500 shape), in the exam's
/// original study.
#[utoipa::path(get, path = "/api/v1/exams/{id}/sr.dcm", params(("id" = String, Path, description = "exam id")),
    responses((status = 200, content_type = "application/dicom"), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn sr(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let o = objects_of(&state, &caller, &id).await?;
    state
        .store
        .audit(caller.audit("export", Some(&id), Some("DICOM SR".into())))
        .await?;
    dicom_file(o.sr, &format!("{id}-sr.dcm"))
}

/// Object N (from 1) of `objects` of the exam, called `what` ("Secondary Capture"), as a
/// file named `ID-{short}N.dcm`; the export audited.
async fn numbered_object(
    state: &AppState,
    caller: &Caller,
    (id, file): (&str, &str),
    (what, short): (&str, &str),
    objects: impl FnOnce(ResultObjects) -> Vec<InMemDicomObject>,
) -> Result<Response, ApiError> {
    let n = numbered(file, "dcm")?;
    let all = objects(objects_of(state, caller, id).await?);
    let count = all.len();
    let obj = n
        .checked_sub(1)
        .and_then(|i| all.into_iter().nth(i))
        .ok_or_else(|| ApiError::not_found(&format!("{what} {n} (the exam has {count})")))?;
    state
        .store
        .audit(caller.audit("export", Some(id), Some(format!("DICOM {short} {n}"))))
        .await?;
    dicom_file(obj, &format!("{id}-{}{n}.dcm", short.to_ascii_lowercase()))
}

/// Secondary Capture image N (from 1) of the exam's key slices, the explanation and notices
/// burned in.
#[utoipa::path(get, path = "/api/v1/exams/{id}/sc/{n}.dcm", params(("id" = String, Path, description = "exam id"), ("n" = usize, Path, description = "image, from 1")),
    responses((status = 200, content_type = "application/dicom"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn sc(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    numbered_object(
        &state,
        &caller,
        (&id, &file),
        ("Secondary Capture", "SC"),
        |o| o.sc,
    )
    .await
}

/// Segmentation N (from 1) of the exam: the ACL region (where a cascade found one), then each
/// heat map, over the source series.
#[utoipa::path(get, path = "/api/v1/exams/{id}/seg/{n}.dcm", params(("id" = String, Path, description = "exam id"), ("n" = usize, Path, description = "segmentation, from 1")),
    responses((status = 200, content_type = "application/dicom"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn seg(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    numbered_object(
        &state,
        &caller,
        (&id, &file),
        ("Segmentation", "SEG"),
        |o| o.seg,
    )
    .await
}

/// Where the exam came from over DICOM and the state of its results' sends.
#[utoipa::path(get, path = "/api/v1/exams/{id}/dicom", params(("id" = String, Path, description = "exam id")),
    responses((status = 200, body = DicomStatus), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DicomStatus>, ApiError> {
    visible_exam(&state, &caller, &id).await?;
    Ok(Json(status_of(&state, &id).await?))
}

/// Sends the exam's results to every configured destination (again).
#[utoipa::path(post, path = "/api/v1/exams/{id}/send", params(("id" = String, Path, description = "exam id")),
    responses((status = 202, body = DicomStatus), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible_exam(&state, &caller, &id).await?;
    let destinations = state.config.destination_names();
    if destinations.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no DICOM destination or FHIR server is configured".to_string(),
        ));
    }
    for destination in &destinations {
        state.store.queue_send(&id, destination).await?;
    }
    state
        .store
        .audit(caller.audit(
            "send",
            Some(&id),
            Some(state.config.destination_names().join(", ")),
        ))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(status_of(&state, &id).await?)).into_response())
}
