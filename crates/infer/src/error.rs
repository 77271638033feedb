//! Errors of using a model, sorted by whose fault they are so that a service can answer each
//! with the right status (bad input, bad request, missing run, internal failure).

use std::path::{Path, PathBuf};

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The exam cannot be used by this model (HTTP 422).
    BadInput,
    /// The request asks for something the model does not have or offer (HTTP 400).
    BadRequest,
    /// The run folder or a file it names is missing (HTTP 404).
    NotFound,
    /// The run folder exists but is damaged, of an unknown kind or inconsistent (HTTP 500 for
    /// a service, a configuration problem for its operator).
    BadRun,
    /// A failure inside the model or the machine (HTTP 500).
    Internal,
}

/// What can go wrong when a model is opened or used.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The exam cannot be used by this model (too small, no ACL box where one is needed).
    #[error("{0}")]
    Input(String),
    /// A request the model cannot answer (a class it does not have, a method it lacks).
    #[error("{0}")]
    Request(String),
    /// The run folder is incomplete, damaged or not a run folder.
    #[error("{}: {reason}", path.display())]
    Run {
        /// The run folder or the file at fault.
        path: PathBuf,
        /// What is wrong, in one line.
        reason: String,
    },
    /// `run.json` names a kind this build does not know.
    #[error("{}: run kind {kind:?} is not known to this build (known: {known})", path.display())]
    UnknownKind {
        /// The run folder.
        path: PathBuf,
        /// The kind it names.
        kind: String,
        /// The kinds this build knows, comma-separated.
        known: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// Making a model (cross-validation's training of a fold) failed.
    #[error("{0}")]
    Fit(Box<dyn std::error::Error + Send + Sync>),
    /// A failure inside the model.
    #[error("internal error: {0}")]
    Internal(String),
}

impl InferError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        InferError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A problem with the run folder (or one of its files) at `path`.
    pub fn run(path: &Path, reason: impl Into<String>) -> Self {
        InferError::Run {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InferError::Input(_) => ErrorKind::BadInput,
            InferError::Request(_) => ErrorKind::BadRequest,
            InferError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            InferError::Run { .. } | InferError::UnknownKind { .. } => ErrorKind::BadRun,
            InferError::Io { .. } | InferError::Fit(_) | InferError::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }
}

impl From<cruciate_prep::InputError> for InferError {
    fn from(e: cruciate_prep::InputError) -> Self {
        InferError::Input(e.to_string())
    }
}
