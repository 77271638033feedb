//! Admin routes: tokens (made, listed, revoked), the audit log and drift; and `me`, who the
//! caller is.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{AppState, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::store::{AuditRow, Revoked, Role, TokenRow};

/// Who the caller is, and what the service offers them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// Their token.
    #[serde(flatten)]
    pub token: TokenRow,
    /// Whether they may search the PACS by DICOMweb and have its studies analysed (a PACS
    /// is configured, and their role sees identities at their site).
    pub pacs_search: bool,
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me)), security(("token" = [])))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Json<Me> {
    let pacs_search = super::pacs::client_for(&state, &caller).is_ok();
    Json(Me {
        token: caller.token,
        pacs_search,
    })
}

/// A token to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// Who or what will use it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The site whose exams it sees.
    pub site: String,
}

/// A token just made: its secret is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MadeToken {
    /// The token as stored.
    #[serde(flatten)]
    pub token: TokenRow,
    /// The secret to send as `Authorization: Bearer SECRET`.
    pub secret: String,
}

/// Makes a token (admins only).
#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken,
    responses((status = 201, body = MadeToken), (status = 403, body = ErrorBody)), security(("token" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<NewToken>,
) -> Result<(StatusCode, Json<MadeToken>), ApiError> {
    caller.require_admin()?;
    let clean = |s: &str| !s.trim().is_empty() && s.len() <= 100 && !s.contains(char::is_control);
    if !clean(&new.name) || !clean(&new.site) {
        return Err(ApiError::bad_request(
            "name and site must be 1 to 100 printable characters",
        ));
    }
    let (token, secret) = state
        .store
        .create_token(new.name.trim(), new.role, new.site.trim())
        .await?;
    state
        .store
        .audit(caller.audit(
            "token.create",
            None,
            Some(format!(
                "{} ({}, site {})",
                token.name,
                token.role.name(),
                token.site
            )),
        ))
        .await?;
    Ok((StatusCode::CREATED, Json(MadeToken { token, secret })))
}

/// Every token, without secrets (admins only).
#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = Vec<TokenRow>), (status = 403, body = ErrorBody)), security(("token" = [])))]
pub async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenRow>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.store.tokens().await?))
}

/// Revokes a token (admins only).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path, description = "token id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("token" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    match state.store.revoke_token(&id).await? {
        Revoked::Done => {}
        Revoked::NoSuchToken => return Err(ApiError::not_found("live token")),
        Revoked::LastAdmin => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "this is the last live admin token: create another admin token before revoking it",
            ));
        }
    }
    state
        .store
        .audit(caller.audit("token.revoke", None, Some(id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// Rows (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Rows skipped, newest first.
    pub offset: Option<i64>,
}

/// The audit log, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/audit", params(Page), responses((status = 200, body = Vec<AuditRow>), (status = 403, body = ErrorBody)), security(("token" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Vec<AuditRow>>, ApiError> {
    caller.require_admin()?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let offset = page.offset.unwrap_or(0).max(0);
    Ok(Json(state.store.audit_rows(limit, offset).await?))
}

/// Every stream's drift and the recent alerts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DriftView {
    /// Per model, site and scanner: its recent exams against the model's validation exams.
    pub streams: Vec<crate::drift::StreamDrift>,
    /// The last 100 alerts, newest first (open ones have no `cleared_ms`).
    pub alerts: Vec<crate::store::DriftAlert>,
    /// The settings compared with.
    #[schema(value_type = Object)]
    pub settings: cruciate_infer::drift::DriftSettings,
}

/// Whether each site's recent exams still look like the model's validation exams (admins
/// only).
#[utoipa::path(get, path = "/api/v1/drift", responses((status = 200, body = DriftView), (status = 403, body = ErrorBody)), security(("token" = [])))]
pub async fn drift(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DriftView>, ApiError> {
    caller.require_admin()?;
    Ok(Json(DriftView {
        streams: state.drift_report().await?,
        alerts: state.store.alerts(100).await?,
        settings: state.config.drift,
    }))
}
