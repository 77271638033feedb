//! Cruciate's benchmarks: how fast the models, the SVM path and the service run on this
//! machine.
//!
//! Each benchmark measures and hands its figures back as values ([`Row`], [`SvmFigures`],
//! [`ServiceRow`]); `cruciate bench` prints them as a table or as JSON lines (what
//! `bench/compare.sh` reads beside PyTorch's figures). Speed figures mean nothing without the
//! machine: [`Machine`] names the CPU, the threads and the oneDNN build they were taken on.
//!
//! - [`models`]: MRNet's forward pass and training step and VGG16's forward pass on every
//!   engine and precision, less work (central slices, the ACL region), feature extraction, the
//!   service's upload-to-result latency with the demo model, phantom generation.
//! - [`svm`]: the study's chosen system, an SVM grid on deep features, and VGG16 extraction.
//! - [`service`]: a fresh service per run and analyser count, fed zipped DICOM exams over HTTP.
//! - [`exam`]: whole-exam latency, a zipped DICOM exam to its result with the model open, on
//!   zips another pipeline can time too.

mod error;
pub mod exam;
pub mod inputs;
mod machine;
pub mod models;
pub mod service;
pub mod svm;
mod timing;

pub use error::BenchError;
pub use machine::{Machine, cpu_name};
pub use models::{ModelBench, Row};
pub use service::{Analysers, ServiceRow};
pub use svm::SvmFigures;
pub use timing::Timing;

/// How the benchmarks open a run for the compute they measure on: the CLI's registry of run
/// kinds, so that a benchmark opens whatever the service would.
pub type RegistryFor = fn(cruciate_models::Compute) -> cruciate_infer::Registry;
