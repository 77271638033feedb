//! The PACS reached by DICOMweb (`[dicomweb] pacs`): its studies searched (QIDO-RS) and one
//! retrieved (WADO-RS) into the intake for analysis, its results then stored back (STOW-RS).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::exams::{Incoming, UploadQuery, admit_and_answer};
use super::{AppState, Caller};
use crate::destination::ResultDestination;
use crate::dicomweb::client::{ClientError, Pacs};
use crate::error::{ApiError, ErrorBody};
use crate::intake::Submission;

/// A study on the PACS, as a search lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PacsStudy {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// PatientID.
    pub patient_id: Option<String>,
    /// PatientName (its alphabetic form).
    pub patient_name: Option<String>,
    /// StudyDate, `YYYYMMDD`.
    pub study_date: Option<String>,
    /// AccessionNumber.
    pub accession_number: Option<String>,
    /// StudyDescription.
    pub description: Option<String>,
    /// ModalitiesInStudy.
    pub modalities: Vec<String>,
}

/// The first value of `tag` (`"0020000D"`) of a DICOM JSON object, as text.
fn first(study: &Value, tag: &str) -> Option<String> {
    let v = study.get(tag)?.get("Value")?.get(0)?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("Alphabetic")?.as_str().map(String::from),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl PacsStudy {
    fn of(study: &Value) -> Option<Self> {
        Some(Self {
            study_uid: first(study, "0020000D")?,
            patient_id: first(study, "00100020"),
            patient_name: first(study, "00100010"),
            study_date: first(study, "00080020"),
            accession_number: first(study, "00080050"),
            description: first(study, "00081030"),
            modalities: study
                .get("00080061")
                .and_then(|m| m.get("Value"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// The PACS client, for a caller who may see whose studies they are.
pub(super) fn client_for(state: &AppState, caller: &Caller) -> Result<Pacs, ApiError> {
    let base = state.config.dicomweb.pacs.clone().ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "no PACS DICOMweb root is configured")
    })?;
    if !state
        .config
        .identity
        .shown(&caller.token.site, caller.token.role)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the PACS lists patients by name: this role does not see identities at this site",
        ));
    }
    Ok(Pacs {
        base,
        token: state.config.dicomweb.token.clone(),
        timeout: std::time::Duration::from_secs(state.config.dicom.timeout_seconds),
    })
}

fn pacs_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Request(m) => ApiError::bad_request(m),
        ClientError::Pacs(m) | ClientError::Answer(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
    }
}

/// Searches the PACS's studies (QIDO-RS) by `PatientID`, `PatientName` (wildcards as the
/// PACS takes them), `StudyDate` (a date or range), `AccessionNumber`, `StudyInstanceUID`,
/// `ModalitiesInStudy`, with `limit` and `offset`.
#[utoipa::path(get, path = "/api/v1/pacs/studies",
    responses((status = 200, body = Vec<PacsStudy>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("token" = [])))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<PacsStudy>>, ApiError> {
    let pacs = client_for(&state, &caller)?;
    let found = tokio::task::spawn_blocking(move || pacs.search_studies(&query))
        .await
        .map_err(ApiError::internal)?
        .map_err(pacs_error)?;
    state
        .store
        .audit(caller.audit(
            "pacs-search",
            None,
            Some(format!("{} studies", found.len())),
        ))
        .await?;
    Ok(Json(found.iter().filter_map(PacsStudy::of).collect()))
}

/// Retrieves study `uid` from the PACS (WADO-RS) and has it analysed as an upload is
/// (de-identified, probed, queued; `?model=NAME` for another model); its results go back to
/// the PACS by STOW-RS once analysed. 202 with the exam, or the refusal.
#[utoipa::path(post, path = "/api/v1/pacs/studies/{uid}/analyse", params(("uid" = String, Path, description = "StudyInstanceUID"), UploadQuery),
    responses((status = 202, body = super::exams::Accepted), (status = 422, body = super::exams::Refused), (status = 502, body = ErrorBody)),
    security(("token" = [])))]
pub async fn analyse(
    State(state): State<AppState>,
    caller: Caller,
    Path(uid): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pacs = client_for(&state, &caller)?;
    let incoming = Incoming::start(&state, &headers, query.model.as_deref()).await?;
    let files = &incoming.files;
    let (into, max) = (files.dir.join("retrieving"), state.config.max_upload_bytes);
    let base = pacs.base.clone();
    let study = uid.clone();
    let parts = tokio::task::spawn_blocking(move || pacs.retrieve_study(&study, &into, max))
        .await
        .map_err(ApiError::internal)?
        .map_err(pacs_error)?;
    if parts.is_empty() {
        return Err(ApiError::not_found(&format!("study {uid} on the PACS")));
    }
    let input = files.upload_path("pacs");
    tokio::fs::rename(files.dir.join("retrieving/instances"), &input)
        .await
        .map_err(ApiError::internal)?;
    let _ = tokio::fs::remove_dir_all(files.dir.join("retrieving")).await;
    let submission = Submission {
        id: incoming.id.clone(),
        input,
        name: format!("PACS {uid}"),
        site: caller.token.site.clone(),
        submitted_by: caller.token.name.clone(),
        model: incoming.model.clone(),
        audit: caller.audit(
            "upload",
            None,
            Some(format!("retrieved from the PACS: {uid}")),
        ),
        identified: true,
        results_to: vec![ResultDestination::DicomWeb(base)],
    };
    admit_and_answer(&state, submission, incoming.guard).await
}
