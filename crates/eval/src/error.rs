//! Errors of evaluation: a model that fails, exams that cannot be read, a split with nothing
//! to score, outputs that cannot be written.

use std::path::{Path, PathBuf};

use cruciate_data::Split;
use cruciate_infer::{ErrorKind, InferError};

/// What can go wrong when models are scored.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A model could not be opened, fitted or applied.
    #[error(transparent)]
    Model(#[from] InferError),
    /// An exam of the manifest could not be read.
    #[error(transparent)]
    Exam(#[from] cruciate_data::ExamError),
    /// A model failed on one exam.
    #[error("exam {exam_id}: {source}")]
    OnExam {
        /// The exam.
        exam_id: String,
        /// What the model said.
        source: InferError,
    },
    /// The manifest has no exams in the split asked for.
    #[error("the manifest has no {0} exams")]
    EmptySplit(Split),
    /// A request that cannot be carried out (too few folds, a threshold outside 0..1).
    #[error("{0}")]
    Request(String),
    /// A chart could not be drawn.
    #[error("chart {title:?}: {message}")]
    Chart {
        /// The chart.
        title: String,
        /// Why.
        message: String,
    },
    /// A trial of a hyperparameter search failed.
    #[error("trial {trial}: {message}")]
    Trial {
        /// The trial (1-based).
        trial: usize,
        /// Why it failed.
        message: String,
    },
    /// An output could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
}

impl EvalError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whose fault the error is, in the terms a service answers with.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EvalError::Model(e) | EvalError::OnExam { source: e, .. } => e.kind(),
            EvalError::Exam(_) | EvalError::EmptySplit(_) => ErrorKind::BadInput,
            EvalError::Request(_) | EvalError::Trial { .. } => ErrorKind::BadRequest,
            EvalError::Chart { .. } | EvalError::Io { .. } => ErrorKind::Internal,
        }
    }
}
