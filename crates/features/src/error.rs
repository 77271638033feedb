//! Why features cannot be computed, stored or used.

use std::path::PathBuf;

/// Why features cannot be computed, stored or used.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A feature folder or run that does not hold what it should.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A request that cannot be met (an unknown backbone, weights that do not fit).
    #[error("{0}")]
    Request(String),
    /// An exam could not be read or prepared.
    #[error("{0}")]
    Exam(String),
    /// The feature model could not be fitted or used.
    #[error(transparent)]
    Model(#[from] cruciate_svm::SvmError),
    /// A run the features depend on (the localiser that cut the exams) could not be opened.
    #[error(transparent)]
    Run(#[from] cruciate_infer::InferError),
}

impl FeatureError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl From<FeatureError> for cruciate_infer::InferError {
    fn from(e: FeatureError) -> Self {
        match e {
            FeatureError::Exam(m) => cruciate_infer::InferError::Input(m),
            FeatureError::Request(m) => cruciate_infer::InferError::Request(m),
            FeatureError::Invalid { path, message } => cruciate_infer::InferError::Run {
                path,
                reason: message,
            },
            FeatureError::Io { path, source } => cruciate_infer::InferError::Io { path, source },
            FeatureError::Run(e) => e,
            other => cruciate_infer::InferError::Internal(other.to_string()),
        }
    }
}
