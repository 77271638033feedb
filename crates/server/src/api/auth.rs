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
        // The scheme is case-insensitive (RFC 9110, section 11.1).
        let secret = header
            .trim_start()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, secret)| secret.trim())
            .ok_or_else(|| unauthorised("expected Authorization: Bearer TOKEN"))?;
        let token = state
            .store
            .token_by_secret(secret)
            .await?
            .ok_or_else(|| unauthorised("unknown or revoked token"))?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let remote = peer.map(|p| client_address(p, &parts.headers, &state.config.trusted_proxies));
        Ok(Caller { token, remote })
    }
}

/// Where a request came from, for the audit log: the peer's address, or, when the peer is a
/// trusted reverse proxy, the client it names last in `X-Forwarded-For` ("CLIENT via PROXY").
/// Anybody else's `X-Forwarded-For` is ignored: a client could write anything there.
pub fn client_address(
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
    trusted_proxies: &[std::net::IpAddr],
) -> String {
    if !trusted_proxies.contains(&peer.ip()) {
        return peer.to_string();
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty());
    match forwarded {
        Some(client) => format!(
            "{} via {}",
            client.chars().take(64).collect::<String>(),
            peer.ip()
        ),
        None => peer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.1.2.3".parse().unwrap());
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let trusted = ["127.0.0.1".parse().unwrap()];
        assert_eq!(
            client_address(proxy, &headers, &trusted),
            "10.1.2.3 via 127.0.0.1"
        );
        let stranger: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        assert_eq!(
            client_address(stranger, &headers, &trusted),
            "192.0.2.7:4000"
        );
        assert_eq!(
            client_address(proxy, &axum::http::HeaderMap::new(), &trusted),
            "127.0.0.1:5000"
        );
    }
}
