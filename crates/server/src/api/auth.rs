//! Who is calling: the bearer token of every `/api` request, looked up by its SHA-256. No token
//! or an unknown one is 401; a clinician on an admin route is 403.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::AppState;
use crate::error::ApiError;
use crate::store::{AuditEntry, Role, TokenRow};

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Their token.
    pub token: TokenRow,
    /// Where the request came from.
    pub remote: Option<String>,
}

impl Caller {
    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.token.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this needs an admin token",
            ))
        }
    }

    /// The site whose exams the caller sees (`None`: every site, for admins).
    pub fn site_filter(&self) -> Option<&str> {
        (self.token.role != Role::Admin).then_some(self.token.site.as_str())
    }

    /// An audit entry of `action` by this caller.
    pub fn audit(&self, action: &str, exam_id: Option<&str>, detail: Option<String>) -> AuditEntry {
        AuditEntry {
            token_id: Some(self.token.id.clone()),
            actor: self.token.name.clone(),
            action: action.into(),
            exam_id: exam_id.map(str::to_string),
            remote: self.remote.clone(),
            detail,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorised = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorised("missing Authorization: Bearer TOKEN"))?;
        let secret = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorised("expected Authorization: Bearer TOKEN"))?
            .trim();
        let token = state
            .store
            .token_by_secret(secret)
            .await?
            .ok_or_else(|| unauthorised("unknown or revoked token"))?;
        let remote = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.to_string());
        Ok(Caller { token, remote })
    }
}
