//! The contract between the service and its analyser processes: a [`Request`] (one [`Job`]) goes
//! down the analyser's standard input as one JSON line, a [`Reply`] (the [`Answer`], or a
//! [`JobError`] with its [`FailureKind`]) comes back up its standard output as one JSON line.
//! What the service does next follows from the kind alone: a bad exam is failed at once, an
//! analyser killed from outside is retried, and an HTTP client gets the status the kind names.
//! No text is scraped from the analyser's error output.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use cruciate_infer::Gate;

use crate::analysis::{AnalysisResult, Probe};
use crate::deidentify::{Deidentification, Expected, ReceivedInstance};

/// What an analyser is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Read the exam at `input` under the upload limits, say what it is and, when `decoded` is
    /// given, keep the volume read there for the analysis ([`crate::decoded`]).
    Probe {
        /// The exam as stored under the data folder.
        input: PathBuf,
        /// The folder the decoded volume goes to.
        #[serde(default)]
        decoded: Option<PathBuf>,
        /// For an upload that may carry the patient's identity: its DICOM instances are first
        /// written de-identified to this folder, and the volume is read from them (an upload
        /// with none is read as it is).
        #[serde(default)]
        deidentify: Option<DeidentifyInto>,
        /// The input gate of the model the exam is for: of a study's series, the most suitable
        /// one its rules accept is read (the reader's own choice without it).
        #[serde(default)]
        gate: Option<Box<Gate>>,
        /// For a reading of several planes: each plane's series is chosen by its gate and kept
        /// under `decoded/PLANE/` (a plane the study lacks is left out; `gate` is then unused).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        plane_gates: Vec<Gate>,
    },
    /// Analyse the exam at `input` with the run folder `run` and write the analysis folder
    /// `out` (`result.json`, `volume.f32`, `heat.u8`).
    Analyse {
        /// The served model's run folder.
        run: PathBuf,
        /// The exam as stored under the data folder.
        input: PathBuf,
        /// The attempt's folder.
        out: PathBuf,
    },
    /// Check one instance the DICOM node received (a Part 10 file at `input`), de-identify it
    /// and write it to `out`.
    Receive {
        /// The instance as received.
        input: PathBuf,
        /// Where the de-identified instance goes.
        out: PathBuf,
        /// What its C-STORE request said it is.
        expected: Expected,
        /// The de-identification in force.
        deid: Deidentification,
    },
}

/// Where and how a probe de-identifies an upload's DICOM instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeidentifyInto {
    /// The folder for the de-identified instances.
    pub out: PathBuf,
    /// The de-identification in force.
    pub deid: Deidentification,
}

/// One job on the wire, numbered so that its reply can be told from anything else printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The job's number within this analyser's life.
    pub seq: u64,
    /// The job.
    #[serde(flatten)]
    pub job: Job,
}

/// What a job gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// A probe's finding.
    Probed(Probe),
    /// An analysis's result (its files are in the job's `out`).
    Analysed(Box<AnalysisResult>),
    /// A received instance, kept.
    Received(ReceivedInstance),
}

impl Answer {
    /// The error for an answer of another job's kind (a fault of the analyser).
    pub fn unexpected(&self) -> JobError {
        JobError::internal("the analyser answered another kind of job")
    }
}

/// A job's reply on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's number.
    pub seq: u64,
    /// The answer, or why there is none.
    pub outcome: Result<Answer, JobError>,
}

/// Whose fault a failed job is, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The exam cannot be read or used by the model: failed at once, 422 to a client.
    BadExam,
    /// Reading the exam took the analyser past its memory allowance or crashed its decoder
    /// (a file that expands too far, a damaged one): failed at once, 422.
    OverLimits,
    /// The job ran past its time and its analyser was stopped: failed at once, 422.
    TimedOut,
    /// The analyser was killed from outside (the kernel's out-of-memory killer, an operator):
    /// the job is retried while it has attempts left; 503 to a client.
    Interrupted,
    /// No analyser could be started or spoken to: retried; 503.
    Unavailable,
    /// The served model could not be opened (its run folder is damaged): failed; 500.
    Model,
    /// A fault in the service's own code: failed; 500.
    Internal,
}

impl FailureKind {
    /// True when another attempt may succeed (the exam is not at fault).
    pub fn retry(self) -> bool {
        matches!(self, FailureKind::Interrupted | FailureKind::Unavailable)
    }

    /// The HTTP status a client is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            FailureKind::BadExam | FailureKind::OverLimits | FailureKind::TimedOut => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            FailureKind::Interrupted | FailureKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            FailureKind::Model | FailureKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Why a job gave no answer: its kind and a one-line message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    /// Whose fault it is.
    pub kind: FailureKind,
    /// What happened, in one line.
    pub message: String,
}

impl JobError {
    /// An error of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into().replace('\n', " "),
        }
    }

    /// The exam is at fault.
    pub fn bad_exam(message: impl std::fmt::Display) -> Self {
        Self::new(FailureKind::BadExam, message.to_string())
    }

    /// The service is at fault.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(FailureKind::Internal, message.to_string())
    }

    /// The same error with every mention of the server's path `path` replaced by `name`
    /// (messages name an upload as its client knows it).
    pub fn naming(mut self, path: &std::path::Path, name: &str) -> Self {
        self.message = self.message.replace(&path.display().to_string(), name);
        self
    }
}

impl From<cruciate_infer::InferError> for JobError {
    fn from(e: cruciate_infer::InferError) -> Self {
        use cruciate_infer::ErrorKind as K;
        let kind = match e.kind() {
            K::BadInput | K::BadRequest => FailureKind::BadExam,
            K::BadRun | K::NotFound => FailureKind::Model,
            K::Internal => FailureKind::Internal,
        };
        JobError::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_cross_as_single_json_lines() {
        let request = Request {
            seq: 7,
            job: Job::Analyse {
                run: "/runs/demo".into(),
                input: "/data/exams/x/upload.zip".into(),
                out: "/data/exams/x/attempt-1".into(),
            },
        };
        let line = serde_json::to_string(&request).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""job":"analyse""#), "{line}");
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);
        let reply = Reply {
            seq: 7,
            outcome: Err(JobError::bad_exam("a.nii: truncated\nat byte 9")),
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let back: Reply = serde_json::from_str(&line).unwrap();
        let error = back.outcome.unwrap_err();
        assert_eq!(error.kind, FailureKind::BadExam);
        assert_eq!(error.message, "a.nii: truncated at byte 9");
    }

    #[test]
    fn only_faults_outside_the_exam_are_retried() {
        let retried: Vec<FailureKind> = [
            FailureKind::BadExam,
            FailureKind::OverLimits,
            FailureKind::TimedOut,
            FailureKind::Interrupted,
            FailureKind::Unavailable,
            FailureKind::Model,
            FailureKind::Internal,
        ]
        .into_iter()
        .filter(|k| k.retry())
        .collect();
        assert_eq!(
            retried,
            [FailureKind::Interrupted, FailureKind::Unavailable]
        );
        assert_eq!(FailureKind::OverLimits.status(), 422);
        assert_eq!(FailureKind::Interrupted.status(), 503);
    }

    #[test]
    fn the_servers_paths_become_the_clients_names() {
        let e = JobError::bad_exam("/data/exams/abc/upload.zip: not a format Cruciate reads")
            .naming(
                std::path::Path::new("/data/exams/abc/upload.zip"),
                "knee.zip",
            );
        assert_eq!(e.message, "knee.zip: not a format Cruciate reads");
    }
}
