//! The radiologist's reads: of an analysed exam's call (its grade, and whether they agree), and
//! of each other finding of a reading (present or not, as the call says or not).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cruciate_data::Finding;
use serde::{Deserialize, Serialize};

use super::exams::called;
use super::{AppState, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::store::{FindingRead, Read};

/// Records the radiologist's read of an analysed exam: their grade, and whether they agree.
#[utoipa::path(post, path = "/api/v1/exams/{id}/read", params(("id" = String, Path, description = "exam id")), request_body = Read,
    responses((status = 204), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(read): Json<Read>,
) -> Result<StatusCode, ApiError> {
    let (_, result) = called(&state, &caller, &id).await?;
    let grade = read
        .grade_for(result.prediction.class, result.grade.is_some())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .store
        .record_read(&id, &caller.token.name, grade, read.agrees)
        .await?;
    state
        .store
        .audit(caller.audit(
            "read",
            Some(&id),
            Some(format!("grade {grade}, agrees {}", read.agrees)),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A radiologist's read of one finding of a reading.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
pub struct FindingReadBody {
    /// Whether they agree with the call: the finding is then present as called, else the
    /// other way.
    pub agrees: bool,
}

/// A radiologist's read of one finding, as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FindingReadView {
    /// The finding.
    #[schema(value_type = String)]
    pub finding: Finding,
    /// Whether they read it as present.
    pub present: bool,
    /// Whether that agrees with the call.
    pub agrees: bool,
    /// Who.
    pub by: String,
    /// When.
    pub at_ms: i64,
}

impl From<FindingRead> for FindingReadView {
    fn from(r: FindingRead) -> Self {
        Self {
            finding: r.finding,
            present: r.present,
            agrees: r.agrees,
            by: r.by,
            at_ms: r.at_ms,
        }
    }
}

/// Records the radiologist's read of one finding of a reading other than its headline (whose
/// read, with the grade, is `/read`): whether they agree with the call on it.
#[utoipa::path(post, path = "/api/v1/exams/{id}/findings/{finding}/read",
    params(("id" = String, Path, description = "exam id"), ("finding" = String, Path, description = "abnormal, acl or meniscus")),
    request_body = FindingReadBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn read_finding(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, finding)): Path<(String, String)>,
    Json(read): Json<FindingReadBody>,
) -> Result<StatusCode, ApiError> {
    let finding: Finding = finding.parse().map_err(ApiError::bad_request)?;
    let (_, result) = called(&state, &caller, &id).await?;
    if result.findings.is_empty() {
        return Err(ApiError::bad_request(format!(
            "exam {id} was read by a model of one finding: its read is /read"
        )));
    }
    if result.model.finding == finding {
        return Err(ApiError::bad_request(format!(
            "{} is this reading's headline: its read, with the grade, is /read",
            finding.describe()
        )));
    }
    let call = result
        .findings
        .iter()
        .find(|f| f.finding == finding)
        .ok_or_else(|| {
            ApiError::bad_request(format!("this reading does not read {}", finding.describe()))
        })?;
    let positive = call.call.positive().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{}: {}; nothing to agree with",
                finding.describe(),
                call.text
            ),
        )
    })?;
    let present = positive == read.agrees;
    state
        .store
        .record_finding_read(&id, finding, (present, read.agrees), &caller.token.name)
        .await?;
    state
        .store
        .audit(caller.audit(
            "read",
            Some(&id),
            Some(format!(
                "{}: {}, agrees {}",
                finding.name(),
                if present { "present" } else { "absent" },
                read.agrees
            )),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
