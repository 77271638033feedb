//! The input gate: whether an exam is one the model can read, decided before any classifier
//! answers, so that a coronal series, a seven-slice survey, a CT or a volume of noise is not
//! given a confident grade.
//!
//! Every run opened through [`Registry::open_run`](crate::Registry::open_run) is wrapped in a
//! [`Gated`] classifier: each [`Prediction`](crate::Prediction) carries the gate's [`Verdict`],
//! accepted or abstained with every reason in words. The model still runs on an abstained exam
//! (its call is kept for an audited override, `--force`, and for drift statistics), but
//! consumers show no grade for it.
//!
//! The rules ([`GateSettings`]) are read from the headers where the exam has them (DICOM
//! modality, the plane from ImageOrientationPatient or the NIfTI affine, a localiser's
//! SeriesDescription, the weighting and fat suppression a run asks for, the voxel spacing) and from the voxels for
//! every format (slice count against what the model reads, slice shape, constant volumes and
//! volumes without image structure, non-finite voxels), and from the model's own features where
//! the run holds a [`DomainReference`] (`domain.json`): an exam unlike every training exam is
//! refused with its score and the limit.

mod content;
mod domain;
mod gated;
mod rules;
mod sequence;
mod verdict;

pub use content::neighbour_correlation;
pub use domain::{DOMAIN_FILE, DomainReference};
pub use gated::Gated;
pub use rules::{Gate, GateSettings};
pub use sequence::{Weighting, fat_suppressed};
pub use verdict::{Reason, Rule, Verdict};
