//! Why a feature model cannot be fitted or used.

/// Why a feature model cannot be fitted or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SvmError {
    /// The training data cannot fit a model (too few rows, one class, a label out of range).
    #[error("cannot fit: {0}")]
    Data(String),
    /// A setting is out of its range (C or gamma not positive, ...).
    #[error("invalid setting: {0}")]
    Setting(String),
    /// Rows of the wrong width, or non-finite values.
    #[error("bad input: {0}")]
    Input(String),
}
