//! What goes wrong when training or opening a localiser.

use std::path::PathBuf;

/// A localiser that could not be trained or opened.
#[derive(Debug, thiserror::Error)]
pub enum LocaliseError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The training data cannot train a localiser.
    #[error("{0}")]
    Data(String),
    /// A run folder is not a usable localiser.
    #[error("{}: {message}", path.display())]
    Run {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Training stopped.
    #[error("training: {0}")]
    Training(String),
}

impl LocaliseError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn run(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::Run {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
