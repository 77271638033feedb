//! Datasets for Cruciate: what an exam is labelled, how exams are split and folded, and
//! synthetic knees to work with when no real data is at hand.
//!
//! - [`manifest`]: the `manifest.csv` that lists exams (`exam_id,path,label,split,roi[,patient]`),
//!   read and written; paths are relative to the manifest's folder.
//! - [`exam`]: a manifest row's exam read from disk with its ACL box.
//! - [`finding`]: the ACL, a meniscal tear or any abnormality, and the manifest as a model of
//!   one finding on one plane sees it.
//! - [`task`]: binary or grade, the class of each ACL grade and the class names.
//! - [`splits`]: class counts in set proportions, and stratified train / valid / test splits.
//! - [`folds`]: patient-level stratified k-fold assignment for cross-validation.
//! - [`seeds`]: deterministic seeds derived from a run's seed and a position.
//! - [`provenance`]: `dataset.json`, which says whether a dataset is synthetic.
//! - [`phantom`]: synthetic sagittal knee exams whose ACL grade shows in the anatomy.
//! - [`synth`]: a whole phantom dataset written to disk in npy, DICOM or NIfTI.

#![warn(missing_docs)]

pub mod exam;
pub mod finding;
pub mod folds;
pub mod import;
pub mod manifest;
pub mod phantom;
pub mod provenance;
pub mod seeds;
pub mod splits;
pub mod synth;
pub mod task;

pub use exam::{ExamError, read_exam, read_exam_study};
pub use finding::{Finding, parse_plane};
pub use manifest::{DataError, Manifest, ManifestRow, Split};
pub use provenance::DatasetInfo;
pub use task::Task;
