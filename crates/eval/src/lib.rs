//! Evaluation: how good a model is and where it looks, for any model kind.
//!
//! - [`metrics`]: the study's metrics, each as a pure function over a prediction set and in a
//!   cumulative (streaming) form (MONAI's two forms), checked against scikit-learn; and where an
//!   explanation's heat lies relative to the ACL box.
//! - [`scoring`]: a classifier's calls on a manifest split.
//! - [`evaluate`]: every figure of a classifier on one split, with its report
//!   ([`evaluation_page`]).
//! - [`compare`]: classifiers side by side on one split.
//! - [`cv`]: patient-level stratified k-fold cross-validation over a model factory.
//! - [`tune`]: hyperparameter search over a space of settings, resumable, tabulated.
//! - [`charts`], [`report`], [`visualize`]: SVG charts, self-contained HTML pages, and heat
//!   maps drawn on an exam's slices.
//!
//! Everything here works on [`cruciate_infer::Classifier`]: a new model kind is evaluated,
//! compared and cross-validated without a line of this crate changing.

#![warn(missing_docs)]

pub mod charts;
pub mod compare;
pub mod cv;
mod error;
pub mod evaluate;
pub mod evaluation_page;
pub mod localisation;
pub mod metrics;
pub mod report;
pub mod scoring;
pub mod tune;
pub mod visualize;

pub use error::EvalError;
