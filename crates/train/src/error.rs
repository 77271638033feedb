//! Errors of training, prediction and cross-validation: one line each, naming the file, exam or
//! setting at fault.

use std::path::{Path, PathBuf};

/// What can go wrong in a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// The manifest cannot be trained on (empty split, one class, ...).
    #[error("{0}")]
    Data(String),
    /// An exam could not be read or prepared.
    #[error("exam {exam_id} ({}): {reason}", path.display())]
    Exam {
        /// The manifest's exam id.
        exam_id: String,
        /// Where it was looked for.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// Pretrained weights do not fit the model.
    #[error(transparent)]
    Weights(#[from] cruciate_models::WeightsError),
    /// The run folder does not hold what is needed, or holds something else.
    #[error("{0}")]
    Run(String),
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
    /// Burn's Learner stopped on an error.
    #[error("training failed: {0}")]
    Training(String),
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
