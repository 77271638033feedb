//! Cruciate's results as HL7 FHIR R4 resources, for the RIS or EHR beside the PACS: one
//! `DiagnosticReport` per exam holding (as contained resources) an `Observation` per finding
//! and the model as a `Device`.
//!
//! - [`types`]: the FHIR data types used (CodeableConcept, Reference, Quantity, ...), typed so
//!   that a report cannot hold a field R4 lacks.
//! - [`resources`]: the three resources.
//! - [`report`]: a report built from what the service knows of an exam ([`ExamReport`]).
//!
//! Written here rather than taken from a crate: Rust's FHIR model crates generate every R4
//! resource (over a million lines, minutes of build) where Cruciate writes three; the tests
//! hold the output to an independent validator (the Python `fhir.resources` R4 models).
//!
//! Codes: FHIR's own code systems for status, category and data-absent reasons; SNOMED CT for
//! the body sites DICOM PS3.16 lists (knee joint 49076000, meniscus 74135004, the same as the
//! SR); Cruciate's own system ([`CRUCIATE_SYSTEM`]) for the findings and calls, as the SR's
//! local codes.

#![warn(missing_docs)]

pub mod report;
pub mod resources;
pub mod types;

pub use report::{ExamReport, FindingReport, ModelDevice, ShownCall, diagnostic_report};
pub use resources::{Contained, Device, DiagnosticReport, Observation};

/// The code system of Cruciate's findings, calls and components.
pub const CRUCIATE_SYSTEM: &str = "urn:cruciate:codes";

/// The media type of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";
