//! Datasets for Cruciate.
//!
//! - [`manifest`]: the `manifest.csv` that lists exams (`exam_id,path,label,split,roi[,patient]`), read and
//!   written; paths are relative to the manifest's folder.
//! - [`splits`]: class counts in set proportions, and stratified train / valid / test splits.
//! - [`phantom`]: synthetic sagittal knee exams whose ACL grade shows in the anatomy.
//! - [`synth`]: a whole phantom dataset written to disk in npy, DICOM or NIfTI.

pub mod manifest;
pub mod phantom;
pub mod splits;
pub mod synth;

pub use manifest::{DataError, Manifest, ManifestRow, Split};
