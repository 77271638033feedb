//! What a user can choose about reading an exam.

use crate::limits::Limits;

/// Choices a user can make about what to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Read this DICOM series (SeriesInstanceUID) instead of choosing one.
    pub series_uid: Option<String>,
    /// How far archives and folders may expand.
    pub limits: Limits,
}
