//! Evaluation: how good a model is and where it looks, for any model kind.
//!
//! - [`metrics`]: the study's metrics, each as a pure function over a prediction set and in a
//!   cumulative (streaming) form (MONAI's two forms), checked against scikit-learn; and where an
//!   explanation's heat lies relative to the ACL box.
//! - [`scoring`]: a classifier's calls on a manifest split.
//! - [`domain`]: the input gate's reference of a run: its training exams' features, the limit
//!   set on its held-out exams (the calib split, else the valid one).
//! - [`calibration`]: a run's temperature and conformal scores fitted on its held-out exams,
//!   and what they do on a test split.
//! - [`drift`]: a run's drift reference, its held-out exams' signals.
//! - [`evaluate`]: every figure of a classifier on one split, with its report
//!   ([`evaluation_page`]).
//! - [`combine`]: MRNet's combiner, a logistic regression over the plane networks of one
//!   finding, fitted on held-out exams and scored beside each plane.
//! - [`reading`]: a reading of several findings on one split: per-finding AUC with intervals
//!   and the macro AUC.
//! - [`compare`]: classifiers side by side on one split.
//! - [`cv`]: patient-level stratified k-fold cross-validation over a model factory.
//! - [`tune`]: hyperparameter search over a space of settings, resumable, tabulated.
//! - [`charts`], [`report`]: SVG charts and self-contained HTML pages (the heat maps drawn on an
//!   exam's slices are `cruciate_volume::heat`'s, so that the service draws them without this
//!   crate's plotting).
//!
//! Everything here works on [`cruciate_infer::Classifier`]: a new model kind is evaluated,
//! compared and cross-validated without a line of this crate changing.

#![warn(missing_docs)]

pub mod calibration;
pub mod charts;
pub mod combine;
pub mod compare;
pub mod cv;
pub mod domain;
pub mod drift;
mod error;
pub mod evaluate;
pub mod evaluation_page;
pub mod localisation;
pub mod reading;
/// The study's metrics, a crate of their own (`cruciate-metrics`) that the libraries scoring
/// models during training use without the rest of evaluation.
pub use cruciate_metrics as metrics;
pub mod report;
pub mod scoring;
pub mod tune;

pub use error::EvalError;
