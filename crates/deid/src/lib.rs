//! De-identification of DICOM data sets before they are stored: the DICOM PS3.15 Annex E Basic
//! Application Level Confidentiality Profile, optionally with the Retain Longitudinal Temporal
//! Information with Full Dates Option.
//!
//! The profile is table-driven ([`table`], the standard's Table E.1-1 row by row): every
//! attribute the table names gets its action, at any depth of nesting; private attributes are
//! removed (the Retain Safe Private Option is not offered); UIDs are replaced by pseudonyms
//! derived from a secret, so that the same original UID gets the same replacement in every
//! instance, association and restart; the patient gets a pseudonym the same way. The series
//! description is kept cleaned (the Clean Descriptors Option applied to it alone): only words
//! that name the sequence survive, because choosing the series to analyse goes by them. The original
//! identity of the study is returned, so that the caller can keep the pseudonym map (the
//! service keeps it in its database and re-links results to the original study).
//!
//! Written here rather than taken from the `dicom-anonymization` crate: that crate depends on an
//! older `dicom-object` than the rest of the workspace, and its profile is not the standard's
//! whole table.

#![warn(missing_docs)]

mod actions;
mod profile;
mod pseudonyms;
pub mod table;

pub use actions::{Action, Rule};
pub use profile::{Deidentified, OriginalIdentity, Profile, clean_descriptor, deidentify};
pub use pseudonyms::Pseudonyms;
pub use table::rule_for;
