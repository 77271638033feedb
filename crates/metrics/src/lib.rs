//! Metrics of the study's tables and figures, each a pure function over a whole prediction set;
//! [`Cumulative`] gathers predictions batch by batch and gives them all at the end (MONAI's
//! two forms).
//!
//! Written here rather than taken from a crate: no Rust crate offers scikit-learn's definitions
//! (tie handling of ROC AUC, step-wise average precision, weighted F1) that the study's numbers
//! use; the tests hold these functions to scikit-learn's values.

#![warn(missing_docs)]

mod calibration;
mod classification;
mod cumulative;
mod explanation;
mod localisation;
mod metric;
mod ranking;

pub use calibration::{brier_score, expected_calibration_error, log_loss};
pub use classification::{
    ClassReport, PerClass, accuracy, argmax, balanced_accuracy, class_report, confusion_matrix,
};
pub use cumulative::{Cumulative, Summary};
pub use explanation::{HeatInBox, heat_in_box};
pub use localisation::{
    LocalisationScores, LocalisationSummary, LocalisedExam, box_iou, centre_distance_mm, slice_hit,
};
pub use metric::Metric;
pub use ranking::{
    OperatingPoint, average_precision, bootstrap_auc_interval, operating_point, roc_auc,
    roc_auc_ovr_macro, roc_curve, youden_point,
};
