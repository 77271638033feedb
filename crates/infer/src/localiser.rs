//! The localiser seam: a model that finds the ACL's region in an exam, so that a classifier can
//! look at the ligament rather than the whole knee.

use cruciate_volume::{RoiBox, Volume};

use crate::{InferError, RunInfo};

/// A model that finds the ACL region of a sagittal exam.
pub trait Localiser: Send + Sync {
    /// What the model is.
    fn info(&self) -> &RunInfo;

    /// The ACL's voxel box in `exam` (slice range and in-plane box).
    fn locate(&self, exam: &Volume) -> Result<RoiBox, InferError>;
}
