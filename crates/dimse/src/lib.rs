//! DICOM networking for Cruciate, on dicom-ul's async associations: a storage SCP (C-ECHO and
//! C-STORE) that hands every received instance to an [`InstanceSink`] and answers with the
//! sink's status, and a storage SCU that sends data sets to a peer.
//!
//! - [`command`]: the DIMSE command sets exchanged (C-ECHO, C-STORE), their status codes.
//! - [`scp`]: the listener: AE title checks at association, presentation contexts for the MR
//!   storage classes in the transfer syntaxes the readers decode, timeouts, size caps per
//!   instance and per association, one bad instance refused without ending the association.
//! - [`scu`]: C-ECHO and C-STORE requests to a destination (AE title, host, port).
//! - [`uid`]: the syntax of UIDs (PS3.5 9.1), checked before a UID names anything.

#![warn(missing_docs)]

pub mod command;
mod error;
pub mod scp;
pub mod scu;
pub mod uid;

pub use error::DimseError;
pub use scp::{DataSet, InstanceSink, Received, Refusal, ScpConfig, SpooledFile, StorageScp};
pub use scu::{Destination, Outgoing, StoreOutcome};
