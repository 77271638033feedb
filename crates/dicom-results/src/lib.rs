//! Cruciate's results as DICOM objects, for the PACS where the radiologist reads:
//!
//! - [`sr`]: a Comprehensive SR document in the shape of TID 1500 (Measurement Report): for
//!   each finding reported (one model's, or each of a reading's), the call as a coded finding
//!   (the anterior cruciate ligament's grade, a meniscal tear, an abnormal knee), its
//!   probability as a numeric measurement, references to the key slices and to the Secondary
//!   Capture images, the algorithm's name and version, the notices.
//! - [`sc`]: Secondary Capture images (RGB) of the key slices with the explanation and the
//!   notices already burned in by the caller.
//! - [`seg`]: DICOM Segmentations of the ACL region (binary) and of the heat map (fractional),
//!   frame by frame derived from the source slices; the SR references their segments.
//! - [`context`]: what every object shares: the patient and study they belong to (the
//!   original study, re-linked after de-identification), new series UIDs made from the exam.
//!
//! Codes the standard's code sets do not offer (the four ACL grades, the probability of injury,
//! an abnormal knee) use the local coding scheme `99CRUCIATE`; the structures (the ACL, the
//! menisci, the knee joint) and the two disorders (an ACL injury, a meniscal tear) are SNOMED CT
//! (`sr`'s module documentation says where each code was checked).

#![warn(missing_docs)]

pub mod context;
mod items;
pub mod sc;
pub mod seg;
pub mod sr;

pub use context::{Algorithm, Finding, OutsideDomain, ResultContext, StudyIdentity, part10_bytes};
pub use sc::secondary_capture;
pub use sr::{Evidence, read_finding, read_findings, structured_report, structured_report_of};

/// Why an object could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The inputs do not describe an image.
    #[error("{0}")]
    Invalid(String),
    /// The object could not be encoded or decoded.
    #[error("DICOM encoding: {0}")]
    Encoding(String),
}
