//! The client of a PACS's DICOMweb root: studies found by QIDO-RS, retrieved by WADO-RS (the
//! answer streamed to disk and split into instances for the intake), results stored back by
//! STOW-RS. Blocking (ureq, plain HTTP): callers run it on the blocking pool.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::multipart::{self, Part};
use crate::http_base::HttpBase;

/// The study-level attributes a search may match on (PS3.18 Table 10.6.1-5), and the paging.
pub const SEARCH_KEYS: [&str; 8] = [
    "PatientID",
    "PatientName",
    "StudyDate",
    "AccessionNumber",
    "StudyInstanceUID",
    "ModalitiesInStudy",
    "limit",
    "offset",
];

/// Why the PACS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A request the PACS should not be sent (an unknown key, a malformed UID).
    #[error("{0}")]
    Request(String),
    /// The PACS could not be reached or answered with an error.
    #[error("{0}")]
    Pacs(String),
    /// Its answer could not be read or kept.
    #[error("{0}")]
    Answer(String),
}

/// A PACS's DICOMweb root and how to reach it.
#[derive(Debug, Clone)]
pub struct Pacs {
    /// `http://pacs:8042/dicom-web`.
    pub base: HttpBase,
    /// A bearer token, where it wants one.
    pub token: Option<String>,
    /// How long one request may take.
    pub timeout: Duration,
}

/// Whether `uid` is a DICOM UID (digits and dots, at most 64 characters).
pub fn is_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !uid.starts_with('.')
        && !uid.ends_with('.')
        && !uid.contains("..")
}

impl Pacs {
    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn authorised<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => request.header("Authorization", &format!("Bearer {t}")),
            None => request,
        }
    }

    /// Fails with the PACS's own words where it did not answer 2xx.
    fn checked(
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        crate::http_base::answered_2xx(url, response).map_err(ClientError::Pacs)
    }

    /// The studies matching `query` (keys of [`SEARCH_KEYS`]), as DICOM JSON objects.
    pub fn search_studies(&self, query: &[(String, String)]) -> Result<Vec<Value>, ClientError> {
        let url = self.base.join("studies");
        let mut request = self
            .authorised(self.agent().get(&url))
            .header("Accept", "application/dicom+json");
        for (key, value) in query {
            if !SEARCH_KEYS.contains(&key.as_str()) {
                return Err(ClientError::Request(format!(
                    "{key}: a study search takes {}",
                    SEARCH_KEYS.join(", ")
                )));
            }
            request = request.query(key, value);
        }
        let mut response = Self::checked(&url, request.call())?;
        // No match: 204 and no body.
        if response.status().as_u16() == 204 {
            return Ok(Vec::new());
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .map_err(|e| ClientError::Answer(format!("{url}: {e}")))?;
        let found: Value = serde_json::from_str(&text)
            .map_err(|e| ClientError::Answer(format!("{url}: not DICOM JSON: {e}")))?;
        match found {
            Value::Array(studies) => Ok(studies),
            _ => Err(ClientError::Answer(format!("{url}: not a list of studies"))),
        }
    }

    /// Retrieves study `uid`'s instances into folder `into` (at most `max_bytes` of answer),
    /// one file per instance; the answer is streamed to disk, then split there.
    pub fn retrieve_study(
        &self,
        uid: &str,
        into: &Path,
        max_bytes: u64,
    ) -> Result<Vec<Part>, ClientError> {
        if !is_uid(uid) {
            return Err(ClientError::Request(format!("{uid:?} is not a DICOM UID")));
        }
        let url = self.base.join(&format!("studies/{uid}"));
        let request = self
            .authorised(self.agent().get(&url))
            .header("Accept", "multipart/related; type=\"application/dicom\"");
        let mut response = Self::checked(&url, request.call())?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let boundary = multipart::boundary(&content_type)
            .map_err(|e| ClientError::Answer(format!("{url}: {e}")))?;
        let kept = |e: std::io::Error| ClientError::Answer(format!("{}: {e}", into.display()));
        std::fs::create_dir_all(into).map_err(kept)?;
        let body_path = into.join("retrieved.body");
        {
            let mut file = std::fs::File::create(&body_path).map_err(kept)?;
            let mut reader = response.body_mut().with_config().limit(max_bytes).reader();
            std::io::copy(&mut reader, &mut file)
                .map_err(|e| ClientError::Answer(format!("{url}: {e}")))?;
            file.flush().map_err(kept)?;
        }
        let parts = multipart::split(&body_path, &boundary, &into.join("instances"), 5_000)
            .map_err(|e| ClientError::Answer(format!("{url}: {e}")));
        let _ = std::fs::remove_file(&body_path);
        parts
    }

    /// Stores `instances` (Part 10 bytes) by STOW-RS.
    pub fn store(&self, instances: &[Vec<u8>]) -> Result<(), ClientError> {
        let url = self.base.join("studies");
        let boundary = format!("cruciate-{}", crate::store::random_hex(16));
        let (body, content_type) = multipart::body(instances, &boundary);
        let request = self
            .authorised(self.agent().post(&url))
            .header("Content-Type", &content_type)
            .header("Accept", "application/dicom+json");
        Self::checked(&url, request.send(&body[..]))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_dicom_uids_reach_a_url() {
        assert!(super::is_uid("1.2.840.10008.5.1.4.1.1.4"));
        for bad in ["", "1..2", ".1", "1.", "1/../2", "1.2a", &"1".repeat(65)] {
            assert!(!super::is_uid(bad), "{bad}");
        }
    }
}
