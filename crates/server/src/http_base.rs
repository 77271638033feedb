//! A peer's HTTP base URL (a FHIR server's, a PACS's DICOMweb root), parsed once when the
//! settings are read.

use std::fmt;
use std::str::FromStr;

/// A base URL (`http://host:port/fhir`), without a trailing slash. Plain HTTP only: this build
/// carries no TLS stack, so an `https` peer is reached through a TLS-terminating proxy on the
/// service's host or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpBase(String);

impl HttpBase {
    /// The base URL.
    pub fn base(&self) -> &str {
        &self.0
    }

    /// `BASE/path`.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.0, path.trim_start_matches('/'))
    }
}

impl FromStr for HttpBase {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("https://") {
            return Err(format!(
                "{text}: this build speaks plain HTTP only; reach an https server through a TLS-terminating proxy (an http:// URL on a trusted network)"
            ));
        }
        let Some(rest) = text.strip_prefix("http://") else {
            return Err(format!(
                "{text:?}: expected a base URL, http://host[:port]/path"
            ));
        };
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty()
            || text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        {
            return Err(format!(
                "{text:?}: expected a base URL, http://host[:port]/path (no query, no spaces)"
            ));
        }
        Ok(Self(text.trim_end_matches('/').to_string()))
    }
}

impl fmt::Display for HttpBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `response` where the peer at `url` answered 2xx; else the peer's answer in one line
/// (`URL answered 503: its first line`), or why it could not be reached.
pub fn answered_2xx(
    url: &str,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut response = response.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    let first = text.lines().next().unwrap_or("").trim().to_string();
    Err(format!("{url} answered {status}: {first}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_parsed_once_and_https_is_refused_with_the_way_round_it() {
        let e: HttpBase = "http://127.0.0.1:8090/fhir/".parse().unwrap();
        assert_eq!(e.base(), "http://127.0.0.1:8090/fhir");
        assert_eq!(
            e.join("/DiagnosticReport"),
            "http://127.0.0.1:8090/fhir/DiagnosticReport"
        );
        assert_eq!(e.to_string().parse::<HttpBase>().unwrap(), e);
        let err = "https://ehr.example/fhir".parse::<HttpBase>().unwrap_err();
        assert!(err.contains("TLS-terminating proxy"), "{err}");
        for bad in [
            "ehr.example/fhir",
            "http:///fhir",
            "http://a b/fhir",
            "http://h/f?x=1",
        ] {
            assert!(bad.parse::<HttpBase>().is_err(), "{bad}");
        }
    }
}
