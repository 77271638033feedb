//! DICOMweb under `/dicomweb`, with the API's tokens and sites: STOW-RS stores a study
//! through the service's one intake (de-identified, probed and queued as an upload is);
//! QIDO-RS and WADO-RS show the studies held, as they were kept (de-identified).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::exams::{Incoming, UploadQuery, admitted, save_body};
use super::{AppState, Caller};
use crate::dicomweb::matching::{Key, Level, Search};
use crate::dicomweb::multipart::MultipartError;
use crate::dicomweb::{CANNOT_UNDERSTAND, Outcome, PROCESSING_FAILURE};
use crate::error::{ApiError, ErrorBody};
use crate::intake::{Admission, Submission};
use crate::store::random_hex;

/// Instances one request may carry, at most.
const MAX_INSTANCES: usize = 5_000;

/// The media type of DICOM JSON.
const DICOM_JSON: &str = "application/dicom+json";

/// A part's SOP Class, SOP Instance and Study Instance UIDs, where it is a DICOM instance.
fn uids_of(path: &std::path::Path) -> Option<(String, String, String)> {
    use dicom_dictionary_std::tags;
    let instance = crate::dicomweb::archive::Stored::read(path)?;
    Some((
        instance.text(tags::SOP_CLASS_UID)?,
        instance.text(tags::SOP_INSTANCE_UID)?,
        instance.text(tags::STUDY_INSTANCE_UID)?,
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
    let incoming = Incoming::start(&state, &headers, query.model.as_deref()).await?;
    let files = &incoming.files;
    let received = files.dir.join("stow.body");
    save_body(body, &received, state.config.max_upload_bytes).await?;
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
    let id = incoming.id.clone();
    let submission = Submission {
        id: id.clone(),
        input,
        name: "STOW-RS".into(),
        site: caller.token.site.clone(),
        submitted_by: caller.token.name.clone(),
        model: incoming.model.clone(),
        audit: caller.audit("upload", None, Some("STOW-RS".into())),
        identified: true,
        results_to: Vec::new(),
    };
    let admitted = admitted(&state, submission).await?;
    let mut guard = incoming.guard;
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

/// `http://HOST/dicomweb`, as the caller reached it.
fn root(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}/dicomweb")
}

fn dicom_json(values: Vec<serde_json::Value>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, DICOM_JSON)],
        serde_json::Value::Array(values).to_string(),
    )
        .into_response()
}

/// The stored instances of study `uid` and the results made in it, for a caller who may see
/// its exam.
async fn held_study(
    state: &AppState,
    caller: &Caller,
    uid: &str,
) -> Result<Vec<crate::dicomweb::archive::Stored>, ApiError> {
    let exam = state
        .store
        .dicom_studies(Some(uid), caller.site_filter(), (1, 0))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(&format!("study {uid}")))?;
    let dir = state.exam_files(&exam.id).dir;
    // The study is shown without results that cannot be made (said in the log).
    let results = crate::dicomweb::held::held_results(&state.store, state.data(), &exam, &dir)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(exam = %exam.id, "results in the held study: {e}");
            Vec::new()
        });
    tokio::task::spawn_blocking(move || {
        let mut held = crate::dicomweb::archive::stored(&dir.join("upload"));
        held.extend(
            results
                .iter()
                .filter_map(|p| crate::dicomweb::archive::Stored::read(p)),
        );
        held
    })
    .await
    .map_err(ApiError::internal)
}

/// QIDO-RS: the studies the caller may see (their exams' stored, de-identified instances),
/// matched on StudyInstanceUID (a list), PatientID, PatientName, AccessionNumber (wildcards),
/// StudyDate (ranges) and ModalitiesInStudy, `fuzzymatching` of names, `limit` and `offset`;
/// other keys are ignored and named in a `Warning`.
#[utoipa::path(get, path = "/dicomweb/studies",
    responses((status = 200, content_type = "application/dicom+json"), (status = 400, body = ErrorBody)), security(("token" = [])))]
pub async fn search_studies(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Search::parse(&pairs, Level::Study).map_err(ApiError::bad_request)?;
    let uid = query
        .keys
        .iter()
        .find(|(k, v)| *k == Key::StudyUid && !v.contains(','))
        .map(|(_, v)| v.clone());
    // The newest studies first, matched here on what their headers say.
    let exams = state
        .store
        .dicom_studies(uid.as_deref(), caller.site_filter(), (1000, 0))
        .await?;
    // Each analysed study's results, made where the analysis has not made them yet (exams
    // analysed before they were kept); one that cannot be made is listed without them.
    for exam in &exams {
        let dir = state.exam_files(&exam.id).dir;
        if let Err(e) =
            crate::dicomweb::held::held_results(&state.store, state.data(), exam, &dir).await
        {
            tracing::warn!(exam = %exam.id, "results in the held study: {e}");
        }
    }
    let root = root(&headers);
    let data = state.data().to_path_buf();
    let wanted = query.clone();
    let studies = tokio::task::spawn_blocking(move || {
        exams
            .iter()
            .filter_map(|e| {
                // The results made in the study.
                let dir = crate::storage::ExamFiles::new(&data, &e.id).dir;
                let mut held = crate::dicomweb::archive::stored(&dir.join("upload"));
                held.extend(
                    crate::dicomweb::held::existing(&dir.join(crate::dicomweb::held::FOLDER))
                        .iter()
                        .filter_map(|p| crate::dicomweb::archive::Stored::read(p)),
                );
                let uid = e.study_uid.as_deref()?;
                crate::dicomweb::archive::study(&held, &format!("{root}/studies/{uid}"))
            })
            // Lazily: reading stops at the page's last study.
            .filter(|s| wanted.matches(s))
            .skip(wanted.offset)
            .take(wanted.limit)
            .collect::<Vec<_>>()
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(searched(studies, &query))
}

/// A search's answer: `found` in DICOM JSON, with a `Warning` naming the keys not matched on.
fn searched(found: Vec<serde_json::Value>, query: &Search) -> Response {
    let mut response = dicom_json(found);
    if !query.ignored.is_empty()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "299 cruciate \"not matched on: {}\"",
            query.ignored.join(", ")
        ))
    {
        response.headers_mut().insert(header::WARNING, v);
    }
    response
}

/// `found` matched by `query`, paged.
fn matched(found: Vec<serde_json::Value>, query: &Search) -> Vec<serde_json::Value> {
    found
        .into_iter()
        .filter(|f| query.matches(f))
        .skip(query.offset)
        .take(query.limit)
        .collect()
}

/// QIDO-RS: the series of study `study`, matched on SeriesInstanceUID (a list), Modality,
/// SeriesNumber and SeriesDescription (wildcards), `limit` and `offset`.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series", params(("study" = String, Path, description = "StudyInstanceUID")),
    responses((status = 200, content_type = "application/dicom+json"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn search_series(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Search::parse(&pairs, Level::Series).map_err(ApiError::bad_request)?;
    let held = held_study(&state, &caller, &study).await?;
    let root = root(&headers);
    let series =
        crate::dicomweb::archive::series(&held, |s| format!("{root}/studies/{study}/series/{s}"));
    Ok(searched(matched(series, &query), &query))
}

/// QIDO-RS: the instances of series `series` of study `study`, matched on SOPInstanceUID and
/// SOPClassUID (lists) and InstanceNumber, `limit` and `offset`.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}/instances",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID")),
    responses((status = 200, content_type = "application/dicom+json"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn search_instances(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Search::parse(&pairs, Level::Instance).map_err(ApiError::bad_request)?;
    let held = held_study(&state, &caller, &study).await?;
    let members = of_series(&held, &series)?;
    let root = root(&headers);
    let instances = crate::dicomweb::archive::instances(&members, |i| {
        format!(
            "{root}/studies/{study}/series/{series}/instances/{}",
            i.instance_uid().unwrap_or_default()
        )
    });
    Ok(searched(matched(instances, &query), &query))
}

fn of_series<'a>(
    held: &'a [crate::dicomweb::archive::Stored],
    series: &str,
) -> Result<Vec<&'a crate::dicomweb::archive::Stored>, ApiError> {
    let members: Vec<_> = held
        .iter()
        .filter(|i| i.series_uid().as_deref() == Some(series))
        .collect();
    if members.is_empty() {
        return Err(ApiError::not_found(&format!("series {series}")));
    }
    Ok(members)
}

/// Instance `instance` of series `series` among `held`.
fn of_instance<'a>(
    held: &'a [crate::dicomweb::archive::Stored],
    series: &str,
    instance: &str,
) -> Result<&'a crate::dicomweb::archive::Stored, ApiError> {
    of_series(held, series)?
        .into_iter()
        .find(|i| i.instance_uid().as_deref() == Some(instance))
        .ok_or_else(|| ApiError::not_found(&format!("instance {instance}")))
}

/// `instances` as a `multipart/related; type="application/dicom"` answer.
async fn multipart_answer(
    instances: Vec<&crate::dicomweb::archive::Stored>,
) -> Result<Response, ApiError> {
    use crate::dicomweb::multipart;
    use futures_util::StreamExt;
    // Streamed, one instance read at a time: a study never sits whole in memory.
    let paths: Vec<std::path::PathBuf> = instances.iter().map(|i| i.path.clone()).collect();
    let boundary = format!("cruciate-{}", random_hex(16));
    let closing = multipart::closing(&boundary);
    let content_type = multipart::content_type(&boundary);
    let parts = futures_util::stream::iter(paths).then(move |path| {
        let boundary = boundary.clone();
        async move {
            let bytes = tokio::fs::read(&path).await?;
            Ok::<_, std::io::Error>(axum::body::Bytes::from(multipart::part(&bytes, &boundary)))
        }
    });
    let end = futures_util::stream::once(async move { Ok(axum::body::Bytes::from(closing)) });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(parts.chain(end)),
    )
        .into_response())
}

/// WADO-RS: every instance of study `study`.
#[utoipa::path(get, path = "/dicomweb/studies/{study}", params(("study" = String, Path, description = "StudyInstanceUID")),
    responses((status = 200, content_type = "multipart/related"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn retrieve_study(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    state
        .store
        .audit(caller.audit("export", None, Some(format!("WADO-RS study {study}"))))
        .await?;
    multipart_answer(held.iter().collect()).await
}

/// WADO-RS: every instance of series `series`.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID")),
    responses((status = 200, content_type = "multipart/related"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn retrieve_series(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    multipart_answer(of_series(&held, &series)?).await
}

/// WADO-RS: one instance.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}/instances/{instance}",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID"),
        ("instance" = String, Path, description = "SOPInstanceUID")),
    responses((status = 200, content_type = "multipart/related"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn retrieve_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series, instance)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    multipart_answer(vec![of_instance(&held, &series, &instance)?]).await
}

/// WADO-RS metadata: every instance's header of study `study` in DICOM JSON.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/metadata", params(("study" = String, Path, description = "StudyInstanceUID")),
    responses((status = 200, content_type = "application/dicom+json"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn study_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    Ok(dicom_json(crate::dicomweb::archive::metadata(
        &held.iter().collect::<Vec<_>>(),
    )))
}

/// The frame numbers of a WADO-RS frame list (`1,3,5`, from 1).
fn frame_list(list: &str) -> Result<Vec<usize>, ApiError> {
    list.split(',')
        .map(|f| {
            f.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "frame list {list:?}: expected frame numbers from 1, comma-separated"
                    ))
                })
        })
        .collect()
}

/// WADO-RS frames: frames `frames` (a list, from 1) of one instance, each its uncompressed
/// pixel bytes as a part of `multipart/related; type="application/octet-stream"`; 406 for an
/// instance whose pixel data is compressed.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID"),
        ("instance" = String, Path, description = "SOPInstanceUID"), ("frames" = String, Path, description = "frame numbers from 1, comma-separated")),
    responses((status = 200, content_type = "multipart/related"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 406, body = ErrorBody)), security(("token" = [])))]
pub async fn retrieve_frames(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series, instance, frames)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    use crate::dicomweb::archive::FrameError;
    use crate::dicomweb::multipart;
    let wanted = frame_list(&frames)?;
    let held = held_study(&state, &caller, &study).await?;
    let path = of_instance(&held, &series, &instance)?.path.clone();
    let pixels =
        tokio::task::spawn_blocking(move || crate::dicomweb::archive::frames(&path, &wanted))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| match e {
                FrameError::NoFrame(..) => ApiError::not_found(&e.to_string()),
                FrameError::Compressed(_) => {
                    ApiError::new(StatusCode::NOT_ACCEPTABLE, e.to_string())
                }
                FrameError::Unreadable(_) => {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                }
            })?;
    let media = "application/octet-stream";
    let boundary = format!("cruciate-{}", random_hex(16));
    let mut body: Vec<u8> = pixels
        .iter()
        .flat_map(|p| multipart::part_of(p, &boundary, media))
        .collect();
    body.extend(multipart::closing(&boundary));
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            multipart::content_type_of(&boundary, media),
        )],
        body,
    )
        .into_response())
}

/// WADO-RS metadata: every instance's header of series `series` in DICOM JSON.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}/metadata",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID")),
    responses((status = 200, content_type = "application/dicom+json"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn series_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    Ok(dicom_json(crate::dicomweb::archive::metadata(&of_series(
        &held, &series,
    )?)))
}

/// WADO-RS metadata: one instance's header in DICOM JSON.
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}/instances/{instance}/metadata",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID"),
        ("instance" = String, Path, description = "SOPInstanceUID")),
    responses((status = 200, content_type = "application/dicom+json"), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn instance_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series, instance)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    let one = of_instance(&held, &series, &instance)?;
    Ok(dicom_json(crate::dicomweb::archive::metadata(&[one])))
}

/// WADO-RS rendered: one instance's first frame as a PNG, windowed on its own 1st to 99th
/// percentiles (PNG whatever the `Accept`: the one rendered form this service makes).
#[utoipa::path(get, path = "/dicomweb/studies/{study}/series/{series}/instances/{instance}/rendered",
    params(("study" = String, Path, description = "StudyInstanceUID"), ("series" = String, Path, description = "SeriesInstanceUID"),
        ("instance" = String, Path, description = "SOPInstanceUID")),
    responses((status = 200, content_type = "image/png"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("token" = [])))]
pub async fn rendered_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path((study, series, instance)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let held = held_study(&state, &caller, &study).await?;
    let path = of_instance(&held, &series, &instance)?.path.clone();
    let png = tokio::task::spawn_blocking(move || {
        let volume = cruciate_volume::read_path(&path, &cruciate_volume::ReadOptions::default())
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        let window = cruciate_volume::export::Window::from_percentiles(&volume.data);
        let grey = cruciate_volume::export::slice_image(&volume, 0, window).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the instance has no frame",
            )
        })?;
        let mut out = Vec::new();
        cruciate_volume::export::encode_png(
            &mut out,
            grey.width,
            grey.height,
            cruciate_volume::export::PngColour::Grey,
            &grey.pixels,
        )
        .map_err(ApiError::internal)?;
        Ok::<_, ApiError>(out)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], png).into_response())
}
