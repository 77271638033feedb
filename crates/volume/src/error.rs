//! Errors of the readers: one line that names the file and says what is wrong with it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A file (or folder, or archive) that could not be read as a volume, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct ReadError {
    /// The file, folder or archive entry the problem was found in.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: ErrorKind,
}

impl ReadError {
    /// An error about `path`.
    pub fn new(path: impl AsRef<Path>, kind: ErrorKind) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            kind,
        }
    }
}

/// What a reader found wrong with its input.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The operating system refused to read it.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// Its content matches no format Cruciate reads.
    #[error("not a format Cruciate reads ({0})")]
    UnknownFormat(String),
    /// It ends before its own header says it should.
    #[error("truncated: {0}")]
    Truncated(String),
    /// It is well-formed but holds no image to read (DICOMDIR, SR document, RT plan, header-only file).
    #[error("{0}")]
    NotAnImage(String),
    /// Its pixels are compressed with a transfer syntax no enabled decoder handles.
    #[error("unsupported transfer syntax {name} ({uid})")]
    UnsupportedTransferSyntax {
        /// The transfer syntax's name.
        name: String,
        /// Its UID.
        uid: String,
    },
    /// Its header or content breaks the format's rules.
    #[error("{0}")]
    Invalid(String),
    /// It would expand past a safety limit (archive size, entry count, voxel count).
    #[error("exceeds a limit: {0}")]
    Limit(String),
    /// The slices of one series do not fit together.
    #[error("inconsistent series: {0}")]
    Inconsistent(String),
    /// Nothing to read was found where something was expected.
    #[error("{0}")]
    Empty(String),
}

impl ErrorKind {
    /// Shorthand for [`ErrorKind::Invalid`] from anything printable.
    pub fn invalid(message: impl fmt::Display) -> Self {
        Self::Invalid(message.to_string())
    }
}

/// The readers' result type.
pub type Result<T> = std::result::Result<T, ReadError>;
