//! Errors of training: one line each, naming the file, exam or setting at fault, and sorted by
//! cause (a bad setting, unusable data, a missing or unwritable file, a run folder in the way,
//! a failure inside training) so that a front end can tell the user what to change.

use std::path::{Path, PathBuf};

use cruciate_infer::{ErrorKind, InferError};

/// What can go wrong in a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting (config file, `--set`, flag) is invalid.
    #[error("{0}")]
    InvalidConfig(String),
    /// The manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] cruciate_data::DataError),
    /// An exam of the manifest could not be read.
    #[error(transparent)]
    Exam(#[from] cruciate_data::ExamError),
    /// An exam was read but cannot be made into the network's input.
    #[error("exam {exam_id} ({}): {source}", path.display())]
    UnusableExam {
        /// The manifest's exam id.
        exam_id: String,
        /// Its file.
        path: PathBuf,
        /// Why.
        source: cruciate_prep::InputError,
    },
    /// The data cannot be trained on (a split is empty, the training split has one class).
    #[error("{0}")]
    Untrainable(String),
    /// Pretrained weights could not be read or do not fit the model.
    #[error(transparent)]
    Weights(#[from] cruciate_models::WeightsError),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// The run folder holds something that forbids the run (a finished run, another run's
    /// settings, unrelated files).
    #[error("{}: {reason}", path.display())]
    RunFolder {
        /// The run folder.
        path: PathBuf,
        /// What is in the way and what to do.
        reason: String,
    },
    /// The loss stopped being finite; training stopped and the last good checkpoint is kept.
    #[error("training stopped: {message}; {}", match last_checkpoint {
        Some(e) => format!("the last good checkpoint is epoch {e}"),
        None => "no epoch finished, so there is no checkpoint".to_string(),
    })]
    NonFiniteLoss {
        /// Where it happened.
        message: String,
        /// The epoch of the last checkpoint.
        last_checkpoint: Option<usize>,
    },
    /// Burn's Learner stopped on an error, or a checkpoint it wrote cannot be read back.
    #[error("training failed: {0}")]
    Training(String),
    /// The trained run could not be opened as a classifier.
    #[error(transparent)]
    Model(#[from] InferError),
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A run folder in the way.
    pub fn run_folder(path: &Path, reason: impl Into<String>) -> Self {
        TrainError::RunFolder {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Whose fault the error is, in the terms a service answers with.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TrainError::InvalidConfig(_) | TrainError::RunFolder { .. } => ErrorKind::BadRequest,
            TrainError::Manifest(_)
            | TrainError::Exam(_)
            | TrainError::UnusableExam { .. }
            | TrainError::Untrainable(_)
            | TrainError::Weights(_) => ErrorKind::BadInput,
            TrainError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            TrainError::Model(e) => e.kind(),
            TrainError::Io { .. } | TrainError::NonFiniteLoss { .. } | TrainError::Training(_) => {
                ErrorKind::Internal
            }
        }
    }
}

impl From<TrainError> for InferError {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Model(inner) => inner,
            other => InferError::Fit(Box::new(other)),
        }
    }
}
