//! Exams: upload (probed in a contained child, then queued), the worklist, one exam with its
//! result, its slices and heat maps as PNG, deletion (the radiologist's reads: [`super::reads`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::identity::{PatientView, patient};
use super::{AppState, Caller};
use crate::analysis::{AnalysisResult, NOT_FOR_DIAGNOSIS};
use crate::error::{ApiError, ErrorBody};
use crate::images::{ImageError, View, load_slice};
use crate::intake::{Admission, AdmitError, Submission, bounded_name};
use crate::models::Served;
use crate::store::{ExamFilter, ExamRow, JobStatus, random_hex};

/// Upload options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The file's name (for messages and the worklist).
    pub filename: Option<String>,
    /// The model to analyse with (the default model when absent).
    pub model: Option<String>,
}

/// An upload accepted for analysis.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The exam's id.
    pub id: String,
    /// `queued`.
    pub status: JobStatus,
    /// The format found.
    pub format: String,
    /// `[slices, rows, cols]`.
    pub shape: [usize; 3],
}

/// An upload refused: why, and the id under which it is listed as failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Refused {
    /// The reader's one-line reason.
    pub error: String,
    /// The failed exam's id.
    pub id: String,
}

/// Removes a folder when dropped, unless emptied first: an upload's folder until its exam is
/// recorded, so that an upload that ends in any other way (a client gone mid-way included)
/// leaves nothing behind.
pub(super) struct RemoveOnDrop(pub(super) Option<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", dir.display());
        }
    }
}

/// Streams the request body into `path`, refusing more than `max` bytes.
pub(super) async fn save_body(
    body: Body,
    path: &std::path::Path,
    max: u64,
) -> Result<u64, ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match crate::http::is_body_timeout(&e) {
            true => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the upload stalled: no bytes arrived for too long".to_string(),
            ),
            false => ApiError::bad_request(format!("the upload broke off: {e}")),
        })?;
        total += chunk.len() as u64;
        if total > max {
            return Err(too_large(max));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(total)
}

pub(super) fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the upload is larger than {} MiB", max >> 20),
    )
}

/// An exam on its way in: the model asked for (the default when none), its new id, and its
/// folder, made and removed again unless the exam is recorded.
pub(super) struct Incoming {
    /// The served model that will analyse it.
    pub model: String,
    /// Its id.
    pub id: String,
    /// Its files.
    pub files: crate::storage::ExamFiles,
    /// Removes its folder unless emptied (once the exam is recorded).
    pub guard: RemoveOnDrop,
}

impl Incoming {
    /// Refuses a body declared larger than the upload limit, the model asked for when it is
    /// not served; else makes the exam's folder.
    pub async fn start(
        state: &AppState,
        headers: &HeaderMap,
        model: Option<&str>,
    ) -> Result<Self, ApiError> {
        let max = state.config.max_upload_bytes;
        if headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > max)
        {
            return Err(too_large(max));
        }
        let model = match model {
            Some(name) => state.models.get(name).ok_or_else(|| {
                ApiError::bad_request(format!("no model named {name:?} is served"))
            })?,
            None => state.models.default_model(),
        };
        let id = random_hex(12);
        let files = state.exam_files(&id);
        tokio::fs::create_dir_all(&files.dir)
            .await
            .map_err(ApiError::internal)?;
        Ok(Self {
            model: model.name.clone(),
            guard: RemoveOnDrop(Some(files.dir.clone())),
            id,
            files,
        })
    }
}

/// Uploads an exam: a zip of DICOM files, a DICOM file, a NIfTI file or an MRNet `.npy`.
#[utoipa::path(post, path = "/api/v1/exams", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 202, body = Accepted), (status = 413, body = ErrorBody), (status = 422, body = Refused),
        (status = 503, body = ErrorBody)),
    security(("token" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Whatever ends this request before the exam is recorded (a refusal, a client gone
    // mid-upload, an error) leaves nothing under the data folder.
    let incoming = Incoming::start(&state, &headers, query.model.as_deref()).await?;
    let name = bounded_name(query.filename.as_deref().unwrap_or("upload"));
    let input = incoming.files.upload_path(&name);
    let submission = Submission {
        id: incoming.id.clone(),
        input: input.clone(),
        name,
        site: caller.token.site.clone(),
        submitted_by: caller.token.name.clone(),
        model: incoming.model.clone(),
        audit: caller.audit("upload", None, None),
        identified: true,
        results_to: Vec::new(),
    };
    save_body(body, &input, state.config.max_upload_bytes).await?;
    admit_and_answer(&state, submission, incoming.guard).await
}

/// Admits `submission`; an analyser that is busy or starting is a 503 to try again later.
pub(super) async fn admitted(
    state: &AppState,
    submission: Submission,
) -> Result<Admission, ApiError> {
    match state.admit(submission).await {
        Ok(a) => Ok(a),
        Err(AdmitError::Analyser(e)) if e.kind.retry() => Err(ApiError::new(
            e.kind.status(),
            format!("{e}; try again later"),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Admits `submission` (its files in a folder `guard` removes unless the exam is recorded):
/// 202 with the exam queued, or its refusal with the id it is listed under.
pub(super) async fn admit_and_answer(
    state: &AppState,
    submission: Submission,
    mut guard: RemoveOnDrop,
) -> Result<Response, ApiError> {
    let id = submission.id.clone();
    let admitted = admitted(state, submission).await?;
    // Queued: its files are the exam's now. Refused: `admit` removed them already.
    guard.0 = None;
    Ok(match admitted {
        Admission::Queued(probe) => (
            StatusCode::ACCEPTED,
            Json(Accepted {
                id,
                status: JobStatus::Queued,
                format: probe.format.to_string(),
                shape: probe.shape,
            }),
        )
            .into_response(),
        Admission::Refused(e) => (
            e.kind.status(),
            Json(Refused {
                error: e.message,
                id,
            }),
        )
            .into_response(),
    })
}

/// One line of the worklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExamItem {
    /// The exam's id.
    pub id: String,
    /// Where the exam is as a job.
    pub status: JobStatus,
    /// The uploaded file's name.
    pub filename: String,
    /// The format it was read as (`dicom`, `nifti`, `npy`...), once probed.
    pub format: Option<String>,
    /// Its site.
    pub site: String,
    /// When it was uploaded, ms since the epoch.
    pub created_ms: i64,
    /// The model analysing it.
    pub model: String,
    /// The call's class and name.
    pub call_class: Option<i64>,
    /// The call's name.
    pub call_label: Option<String>,
    /// The probability of any injury.
    pub injured_probability: Option<f64>,
    /// Whether the model was trained on synthetic data.
    pub synthetic_model: Option<bool>,
    /// The radiologist's grade, once read.
    pub read_grade: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The series read's description.
    pub series_description: Option<String>,
    /// Whose knee it is, for roles allowed to see it at the exam's site.
    pub patient: Option<PatientView>,
    /// Why the exam was not analysed, when the input gate abstained ("coronal plane
    /// (ImageOrientationPatient); the model reads sagittal"): the exam is done, with no call
    /// shown unless an admin had it shown.
    pub not_analysed: Option<String>,
    /// True when an admin had the call on a not-analysed exam shown: it lies outside the
    /// model's domain.
    pub outside_domain: bool,
    /// A reading's calls, one per finding (the worklist's columns per finding), where its
    /// call is shown; empty for one model's result.
    pub findings: Vec<FindingItem>,
}

/// One finding's call on the worklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FindingItem {
    /// The finding.
    #[schema(value_type = String)]
    pub finding: cruciate_data::Finding,
    /// The probability that it is present; none where it was not analysed.
    pub probability: Option<f64>,
    /// The call in words ("meniscal tear 0.912", "not analysed (axial: no axial series)").
    pub text: String,
    /// The planes the probability comes from.
    #[schema(value_type = Vec<String>)]
    pub planes: Vec<cruciate_volume::Plane>,
}

/// The findings of `exam`'s reading, where it has one and its call is shown.
fn finding_items(exam: &ExamRow) -> Vec<FindingItem> {
    if !exam.call_shown() {
        return Vec::new();
    }
    let Ok(Some(result)) = result_of(exam) else {
        return Vec::new();
    };
    result
        .findings
        .into_iter()
        .map(|f| FindingItem {
            finding: f.finding,
            probability: f.call.probability,
            planes: f.call.planes_used,
            text: f.text,
        })
        .collect()
}

impl From<&ExamRow> for ExamItem {
    fn from(e: &ExamRow) -> Self {
        Self {
            id: e.id.clone(),
            status: e.status,
            filename: e.filename.clone(),
            format: e.format.clone(),
            site: e.site.clone(),
            created_ms: e.created_ms,
            model: e.model.clone(),
            call_class: e.call_class,
            call_label: e.call_label.clone(),
            injured_probability: e.injured_probability,
            synthetic_model: e.synthetic_model,
            read_grade: e.read_grade,
            error: e.error.clone(),
            series_description: e.series_description.clone(),
            patient: None,
            not_analysed: e.not_analysed.clone(),
            outside_domain: e.not_analysed.is_some() && e.shown_by.is_some(),
            findings: finding_items(e),
        }
    }
}

impl ExamItem {
    /// The line of `exam` as `caller` sees it.
    async fn of(state: &AppState, caller: &Caller, exam: &ExamRow) -> Result<Self, ApiError> {
        Ok(Self {
            patient: patient(state, caller, exam).await?,
            ..Self::from(exam)
        })
    }
}

/// A page of the worklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Worklist {
    /// The exams of this page.
    pub exams: Vec<ExamItem>,
    /// Exams matching the filters.
    pub total: i64,
}

/// The worklist, filtered, sorted and paged on the server.
#[utoipa::path(get, path = "/api/v1/exams", params(ExamFilter),
    responses((status = 200, body = Worklist)), security(("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<ExamFilter>,
) -> Result<Json<Worklist>, ApiError> {
    let (rows, total) = state.store.exams(&filter, caller.site_filter()).await?;
    let mut exams = Vec::with_capacity(rows.len());
    for row in &rows {
        exams.push(ExamItem::of(&state, &caller, row).await?);
    }
    Ok(Json(Worklist { exams, total }))
}

/// A radiologist's read as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadView {
    /// The grade they gave.
    pub grade: i64,
    /// Whether they agreed with the call.
    pub agrees: bool,
    /// Who.
    pub by: Option<String>,
    /// When.
    pub at_ms: Option<i64>,
}

/// One exam with its result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExamView {
    /// The worklist's fields.
    #[serde(flatten)]
    pub item: ExamItem,
    /// Attempts so far.
    pub attempts: i64,
    /// When the analysis ended.
    pub finished_ms: Option<i64>,
    /// The exam's voxels once analysed (also when no call is shown): what the viewer needs
    /// to show its slices.
    pub volume: Option<VolumeView>,
    /// The result, once done.
    pub result: Option<ResultView>,
    /// The radiologist's read (of a reading: of its headline finding, with the grade).
    pub read: Option<ReadView>,
    /// A reading's other findings as the radiologist read them.
    pub finding_reads: Vec<super::reads::FindingReadView>,
    /// "Not for diagnostic use", and the synthetic-model notice when it applies.
    pub notices: Vec<String>,
}

/// An analysed exam's voxels, as the viewer needs them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VolumeView {
    /// `[slices, rows, cols]`.
    pub shape: [usize; 3],
    /// The 1st and 99th intensity percentiles (the default window).
    pub intensity_range: [f32; 2],
}

/// An analysis's result, as the API gives it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultView {
    /// The grade called, for models of the four grades.
    pub grade: Option<u8>,
    /// The call's name.
    pub label: String,
    /// The class names.
    pub classes: Vec<String>,
    /// Each class's probability.
    pub probabilities: Vec<f64>,
    /// The probability of any injury.
    pub injured_probability: f64,
    /// For each class, the slice (an index from 0) whose own score argues most for it; the
    /// key slice is the explanation's (the largest share of the heat map).
    pub strongest_slices: Vec<usize>,
    /// The slices the model saw, `[first, end)`.
    pub slices: [usize; 2],
    /// The model's name.
    pub model: String,
    /// What the model reads: `acl`, `meniscus` (a meniscal tear) or `abnormal`; the call,
    /// its classes and `injured_probability` (the positive class's) are about it.
    #[schema(value_type = String)]
    pub finding: cruciate_data::Finding,
    /// Its file's SHA-256.
    pub model_hash: Option<String>,
    /// Whether it was trained on synthetic data.
    pub synthetic_model: bool,
    /// The software that ran it.
    pub software: String,
    /// The exam's `[slices, rows, cols]`.
    pub shape: [usize; 3],
    /// Its 1st and 99th intensity percentiles (the default window).
    pub intensity_range: [f32; 2],
    /// The explanation's method, key slice and per-slice shares.
    pub explanation: Option<crate::analysis::ExplanationSummary>,
    /// The ACL region the classifier was given (cascade runs), `[s0, s1, r0, r1, c0, c1]`.
    pub region: Option<[usize; 6]>,
    /// What the reader should know (a region not found and the whole exam classified).
    pub warnings: Vec<String>,
    /// The input gate's verdict: accepted, or abstained with its reasons (a result shown for
    /// an abstained exam was shown by an admin, outside the model's domain).
    #[schema(value_type = Object)]
    pub verdict: cruciate_infer::Verdict,
    /// The grades that hold the true one for the run's chosen share of exams (conformal
    /// prediction), where the model is calibrated.
    #[schema(value_type = Option<Object>)]
    pub grade_set: Option<cruciate_infer::GradeSet>,
    /// The same in words ("partial or complete, 90 %").
    pub grade_set_text: Option<String>,
    /// A reading's findings: each call, its planes and explanations (empty for one model's
    /// result, whose call the fields above are; a reading's headline finding fills those).
    pub findings: Vec<crate::analysis::FindingResult>,
    /// A reading's planes, each series as read (`?plane=` of the slice and heat images).
    pub planes: Vec<crate::analysis::PlaneSummary>,
    /// The model's own probabilities, where a temperature calibrated `probabilities`.
    pub uncalibrated_probabilities: Option<Vec<f64>>,
    /// False when the exam's file gave no voxel spacing (MRNet's `.npy`).
    pub spacing_known: bool,
    /// What the reader decided on the way, and what it could not know (the spacing).
    pub exam_notes: Vec<String>,
}

impl From<AnalysisResult> for ResultView {
    fn from(r: AnalysisResult) -> Self {
        Self {
            grade: r.grade,
            label: r.prediction.label,
            classes: r.prediction.classes,
            probabilities: r.prediction.probabilities,
            injured_probability: r.prediction.injured_probability,
            strongest_slices: r.prediction.strongest_slices,
            slices: r.prediction.slices,
            region: r
                .prediction
                .region
                .map(|b| [b.s0, b.s1, b.r0, b.r1, b.c0, b.c1]),
            warnings: r.prediction.warnings,
            verdict: r.prediction.verdict,
            grade_set_text: r.prediction.grade_set.as_ref().map(|s| s.to_string()),
            grade_set: r.prediction.grade_set,
            uncalibrated_probabilities: r.prediction.uncalibrated,
            spacing_known: r.exam.spacing_known,
            exam_notes: r.exam.notes.clone(),
            model: r.model.name,
            finding: r.model.finding,
            model_hash: r.model.hash,
            synthetic_model: r.model.synthetic,
            software: r.software,
            shape: r.exam.shape,
            intensity_range: r.exam.intensity_range,
            explanation: r.explanation,
            findings: r.findings,
            planes: r.planes,
        }
    }
}

pub(super) async fn visible_exam(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ExamRow, ApiError> {
    state
        .store
        .exam(id, caller.site_filter())
        .await?
        .ok_or_else(|| ApiError::not_found("exam"))
}

fn result_of(exam: &ExamRow) -> Result<Option<AnalysisResult>, ApiError> {
    exam.result
        .as_deref()
        .map(serde_json::from_str::<AnalysisResult>)
        .transpose()
        .map_err(ApiError::internal)
}

/// One exam: its state, result, read and notices.
#[utoipa::path(get, path = "/api/v1/exams/{id}", params(("id" = String, Path, description = "exam id")),
    responses((status = 200, body = ExamView), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExamView>, ApiError> {
    let exam = visible_exam(&state, &caller, &id).await?;
    state
        .store
        .audit(caller.audit("view", Some(&id), None))
        .await?;
    let result = result_of(&exam)?;
    let mut notices = vec![NOT_FOR_DIAGNOSIS.to_string()];
    if let Some(synthetic) = exam.synthetic_model {
        notices.push(cruciate_infer::run::model_notice(synthetic).to_string());
    }
    Ok(Json(ExamView {
        item: ExamItem::of(&state, &caller, &exam).await?,
        attempts: exam.attempts,
        finished_ms: exam.finished_ms,
        volume: result.as_ref().map(|r| VolumeView {
            shape: r.exam.shape,
            intensity_range: r.exam.intensity_range,
        }),
        // No call is shown for an exam the gate refused, unless an admin had it shown.
        result: result.filter(|_| exam.call_shown()).map(ResultView::from),
        read: exam.read_grade.map(|grade| ReadView {
            grade,
            agrees: exam.read_agrees.unwrap_or(false),
            by: exam.read_by.clone(),
            at_ms: exam.read_ms,
        }),
        finding_reads: state
            .store
            .finding_reads(&id)
            .await?
            .into_iter()
            .map(super::reads::FindingReadView::from)
            .collect(),
        notices,
    }))
}

/// Deletes an exam's files and rows (admins only); its audit rows stay.
#[utoipa::path(delete, path = "/api/v1/exams/{id}", params(("id" = String, Path, description = "exam id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let exam = visible_exam(&state, &caller, &id).await?;
    if exam.status == JobStatus::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the exam is being analysed: delete it when it is done",
        ));
    }
    let files = state.exam_files(&id);
    if files.dir.exists() {
        tokio::fs::remove_dir_all(&files.dir)
            .await
            .map_err(ApiError::internal)?;
    }
    state.store.delete_exam(&id).await?;
    state
        .store
        .audit(caller.audit("delete", Some(&id), Some(exam.filename)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Image options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImageQuery {
    /// Display window `CENTRE,WIDTH` (the exam's 1st to 99th percentile when absent).
    pub window: Option<String>,
    /// For heat maps: the slice with the heat burned in and the notices written on it
    /// (an export, audited) instead of the translucent layer.
    pub burned: Option<bool>,
    /// A reading's plane to show (`sagittal`, `coronal`, `axial`; the headline's plane by
    /// default).
    pub plane: Option<String>,
    /// A reading's finding whose heat to show (`acl`, `meniscus`, `abnormal`; the headline's
    /// by default).
    pub finding: Option<String>,
}

impl ImageQuery {
    /// The plane and finding asked for.
    fn view(&self) -> Result<View, ApiError> {
        let plane = self
            .plane
            .as_deref()
            .map(|p| {
                cruciate_volume::Plane::ACQUIRED
                    .into_iter()
                    .find(|a| a.as_str() == p)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "plane {p:?}: expected sagittal, coronal or axial"
                        ))
                    })
            })
            .transpose()?;
        let finding = self
            .finding
            .as_deref()
            .map(|f| {
                f.parse::<cruciate_data::Finding>()
                    .map_err(|e| ApiError::bad_request(format!("finding: {e}")))
            })
            .transpose()?;
        Ok(View { plane, finding })
    }
}

fn slice_number(file: &str) -> Result<usize, ApiError> {
    numbered(file, "png")
}

/// The N of a file named `N.EXT`.
pub(super) fn numbered(file: &str, ext: &str) -> Result<usize, ApiError> {
    file.strip_suffix(&format!(".{ext}"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("{file:?}: expected N.{ext}")))
}

pub(super) async fn analysed(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(ExamRow, AnalysisResult), ApiError> {
    let exam = visible_exam(state, caller, id).await?;
    let result = result_of(&exam)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("the exam is {}, not analysed", exam.status),
        )
    })?;
    Ok((exam, result))
}

/// An analysed exam whose call may be shown: refused (409) for an exam the input gate
/// abstained on, until an admin has the call shown.
pub(super) async fn called(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(ExamRow, AnalysisResult), ApiError> {
    let (exam, result) = analysed(state, caller, id).await?;
    if let (false, Some(reasons)) = (exam.call_shown(), &exam.not_analysed) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("not analysed: {reasons}; no call is shown (an admin may have it shown)"),
        ));
    }
    Ok((exam, result))
}

/// Shows the model's call on an exam the input gate abstained on, outside the model's domain
/// (admins only; audited). The exam then shows its call, marked outside the model's domain.
#[utoipa::path(post, path = "/api/v1/exams/{id}/show-call", params(("id" = String, Path, description = "exam id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn show_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let (exam, result) = analysed(&state, &caller, &id).await?;
    let Some(reasons) = &exam.not_analysed else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the exam was analysed: its call is shown already",
        ));
    };
    if !state
        .store
        .show_call(&id, &caller.token.name, &result.call())
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the exam changed meanwhile: try again",
        ));
    }
    state
        .store
        .audit(caller.audit(
            "show-call",
            Some(&id),
            Some(format!("outside the model's domain: {reasons}")),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs file reading and image encoding on the blocking pool, so that slow disks and large
/// slices never stall the async runtime (and `/healthz` with it).
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

fn png(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

fn image_error(e: ImageError) -> ApiError {
    match e {
        ImageError::NoSlice(..) | ImageError::NoView(_) => ApiError::not_found(&e.to_string()),
        ImageError::NoHeat => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        ImageError::Damaged(_) => ApiError::internal(e),
    }
}

fn window(query: &ImageQuery) -> Result<Option<cruciate_volume::export::Window>, ApiError> {
    query
        .window
        .as_deref()
        .map(cruciate_volume::export::Window::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("window: {e}")))
}

/// Slice N of an analysed exam as 8-bit grey PNG.
#[utoipa::path(get, path = "/api/v1/exams/{id}/slices/{n}.png", params(("id" = String, Path, description = "exam id"), ("n" = usize, Path, description = "slice"), ImageQuery),
    responses((status = 200, content_type = "image/png")), security(("token" = [])))]
pub async fn slice(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, file)): Path<(String, String)>,
    Query(query): Query<ImageQuery>,
) -> Result<Response, ApiError> {
    let n = slice_number(&file)?;
    let window = window(&query)?;
    let view = query.view()?;
    let (_, result) = analysed(&state, &caller, &id).await?;
    let dir = state.exam_files(&id).result();
    let bytes = off_the_runtime(move || {
        let data = load_slice(&dir, &result, view, n).map_err(image_error)?;
        Ok(data.slice_png(window))
    })
    .await?;
    Ok(png(bytes))
}

/// The heat map of slice N: a translucent RGBA layer, or with `burned=true` the slice with the
/// heat and the notices burned in.
#[utoipa::path(get, path = "/api/v1/exams/{id}/cam/{n}.png", params(("id" = String, Path, description = "exam id"), ("n" = usize, Path, description = "slice"), ImageQuery),
    responses((status = 200, content_type = "image/png")), security(("token" = [])))]
pub async fn cam(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, file)): Path<(String, String)>,
    Query(query): Query<ImageQuery>,
) -> Result<Response, ApiError> {
    let n = slice_number(&file)?;
    let window = window(&query)?;
    let view = query.view()?;
    let (exam, result) = called(&state, &caller, &id).await?;
    let dir = state.exam_files(&id).result();
    let burned = query.burned == Some(true);
    let bytes = off_the_runtime(move || {
        let data = load_slice(&dir, &result, view, n).map_err(image_error)?;
        if !burned {
            return data.heat_png().map_err(image_error);
        }
        let caption = format!(
            "{} slice {}: {}",
            bounded_name(&exam.filename),
            n + 1,
            result.call_text(view.finding)
        );
        data.burned_png(window, &caption, result.model.synthetic)
            .map_err(image_error)
    })
    .await?;
    if burned {
        state
            .store
            .audit(caller.audit(
                "export",
                Some(&id),
                Some(format!("heat map of slice {}", n + 1)),
            ))
            .await?;
    }
    Ok(png(bytes))
}

/// A model the service runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    /// Its name (for `?model=`).
    pub name: String,
    /// Its run kind (`reading` for a reading of several findings).
    pub kind: String,
    /// Binary or grade (a reading: its first run's).
    pub task: String,
    /// Its class names (a reading: its first run's).
    pub classes: Vec<String>,
    /// What it reads: one finding, or a reading's several.
    #[schema(value_type = Vec<String>)]
    pub findings: Vec<cruciate_data::Finding>,
    /// Its file's SHA-256.
    pub hash: Option<String>,
    /// Whether it was trained on synthetic data.
    pub synthetic: bool,
    /// Whether uploads go to it by default.
    pub default: bool,
}

/// The models the service runs.
#[utoipa::path(get, path = "/api/v1/models", responses((status = 200, body = Vec<ModelView>)), security(("token" = [])))]
pub async fn models(State(state): State<AppState>, _caller: Caller) -> Json<Vec<ModelView>> {
    let default = state.models.default_model().name.clone();
    Json(
        state
            .models
            .all()
            .iter()
            .map(|m| {
                let runs = m.what.runs(&m.run);
                let first = runs[0].1;
                ModelView {
                    name: m.name.clone(),
                    kind: m.what.kind().to_string(),
                    task: first.task.to_string(),
                    classes: first.classes.clone(),
                    findings: match &m.what {
                        Served::Run(info) => vec![info.finding],
                        Served::Reading(r) => r.findings.clone(),
                    },
                    hash: match &m.what {
                        Served::Run(info) => info.model.sha256.clone(),
                        Served::Reading(_) => None,
                    },
                    synthetic: m.what.synthetic(),
                    default: m.name == default,
                }
            })
            .collect(),
    )
}
