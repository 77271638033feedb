//! DICOMweb under `/dicomweb`, with the API's tokens and sites: STOW-RS stores a study
//! through the service's one intake (de-identified, probed and queued as an upload is).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::exams::{RemoveOnDrop, UploadQuery, save_body, too_large};
use super::{AppState, Caller};
use crate::dicomweb::multipart::MultipartError;
use crate::dicomweb::{CANNOT_UNDERSTAND, Outcome, PROCESSING_FAILURE};
use crate::error::{ApiError, ErrorBody};
use crate::intake::{Admission, AdmitError, Submission};
use crate::store::random_hex;

/// Instances one request may carry, at most.
const MAX_INSTANCES: usize = 5_000;

/// The media type of DICOM JSON.
const DICOM_JSON: &str = "application/dicom+json";

/// A part's SOP Class, SOP Instance and Study Instance UIDs, where it is a DICOM instance.
fn uids_of(path: &std::path::Path) -> Option<(String, String, String)> {
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(path)
        .ok()?;
    let text = |tag| {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches('\0').trim().to_string())
            .filter(|s| !s.is_empty())
    };
    use dicom_dictionary_std::tags;
    Some((
        text(tags::SOP_CLASS_UID)?,
        text(tags::SOP_INSTANCE_UID)?,
        text(tags::STUDY_INSTANCE_UID)?,
    ))
}

/// The store response with `status`, a `Warning` saying why where given (PS3.18 8.7).
fn answer(
    status: StatusCode,
    outcomes: &[Outcome],
    warning: Option<&str>,
    exam: Option<&str>,
) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, DICOM_JSON)],
        crate::dicomweb::response(outcomes).to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(w) = warning {
        let text: String = w
            .chars()
            .filter(|c| !c.is_control() && *c != '"')
            .take(300)
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("299 cruciate \"{text}\"")) {
            headers.insert(header::WARNING, v);
        }
    }
    if let Some(id) = exam.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert("x-cruciate-exam", id);
    }
    response
}

/// STOW-RS: stores the instances of one study (`multipart/related;
/// type="application/dicom"`), which become one exam, analysed by the default model (or
/// `?model=NAME`). 200 when every instance was taken, 202 when some were not (listed with
/// their reasons), 409 when none was (the `Warning` header says why); the exam's id is in
/// `X-Cruciate-Exam`.
#[utoipa::path(post, path = "/dicomweb/studies", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "multipart/related"),
    responses((status = 200, content_type = "application/dicom+json"), (status = 202, content_type = "application/dicom+json"),
        (status = 409, content_type = "application/dicom+json"), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("token" = [])))]
pub async fn store(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = crate::dicomweb::multipart::boundary(content_type)
        .map_err(|e| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?;
    let max = state.config.max_upload_bytes;
    if headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max)
    {
        return Err(too_large(max));
    }
    let model = match &query.model {
        Some(name) => state
            .models
            .get(name)
            .ok_or_else(|| ApiError::bad_request(format!("no model named {name:?} is served")))?,
        None => state.models.default_model(),
    };
    let id = random_hex(12);
    let files = state.exam_files(&id);
    tokio::fs::create_dir_all(&files.dir)
        .await
        .map_err(ApiError::internal)?;
    let mut guard = RemoveOnDrop(Some(files.dir.clone()));
    let received = files.dir.join("stow.body");
    save_body(body, &received, max).await?;
    let input = files.upload_path("stow");
    let (parts_at, body_at) = (input.clone(), received.clone());
    let parts = tokio::task::spawn_blocking(move || {
        let parts =
            crate::dicomweb::multipart::split(&body_at, &boundary, &parts_at, MAX_INSTANCES);
        let _ = std::fs::remove_file(&body_at);
        // Each part read for its UIDs; what is not a DICOM instance is left out.
        parts.map(|parts| {
            parts
                .into_iter()
                .map(|part| {
                    let dicom =
                        part.content_type.is_empty() || part.content_type == "application/dicom";
                    let uids = dicom.then(|| uids_of(&part.path)).flatten();
                    if uids.is_none() {
                        let _ = std::fs::remove_file(&part.path);
                    }
                    uids
                })
                .collect::<Vec<_>>()
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        MultipartError::Request(m) => ApiError::bad_request(m),
        MultipartError::Io(m) => ApiError::internal(m),
    })?;
    let mut outcomes: Vec<Outcome> = parts
        .iter()
        .map(|uids| Outcome {
            class_uid: uids.as_ref().map(|u| u.0.clone()),
            instance_uid: uids.as_ref().map(|u| u.1.clone()),
            failure: uids.is_none().then_some(CANNOT_UNDERSTAND),
        })
        .collect();
    let mut studies: Vec<&str> = parts.iter().flatten().map(|u| u.2.as_str()).collect();
    studies.sort_unstable();
    studies.dedup();
    match studies.len() {
        0 => {
            return Ok(answer(
                StatusCode::CONFLICT,
                &outcomes,
                Some("no DICOM instance in the request"),
                None,
            ));
        }
        1 => {}
        n => {
            return Ok(answer(
                StatusCode::CONFLICT,
                &outcomes
                    .iter()
                    .map(|o| Outcome {
                        failure: Some(PROCESSING_FAILURE),
                        ..o.clone()
                    })
                    .collect::<Vec<_>>(),
                Some(&format!(
                    "{n} studies in one request: store one study per request"
                )),
                None,
            ));
        }
    }
    let submission = Submission {
        id: id.clone(),
        input,
        name: "STOW-RS".into(),
        site: caller.token.site.clone(),
        submitted_by: caller.token.name.clone(),
        model: model.name.clone(),
        audit: caller.audit("upload", None, Some("STOW-RS".into())),
        identified: true,
        results_to: Vec::new(),
    };
    let admitted = match state.admit(submission).await {
        Ok(a) => a,
        Err(AdmitError::Analyser(e)) if e.kind.retry() => {
            return Err(ApiError::new(
                e.kind.status(),
                format!("{e}; try again later"),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    guard.0 = None;
    Ok(match admitted {
        Admission::Queued(_) if outcomes.iter().all(|o| o.failure.is_none()) => {
            answer(StatusCode::OK, &outcomes, None, Some(&id))
        }
        Admission::Queued(_) => answer(
            StatusCode::ACCEPTED,
            &outcomes,
            Some("some parts were not DICOM instances"),
            Some(&id),
        ),
        Admission::Refused(e) => {
            for o in &mut outcomes {
                o.failure.get_or_insert(PROCESSING_FAILURE);
            }
            answer(StatusCode::CONFLICT, &outcomes, Some(&e.message), Some(&id))
        }
    })
}
