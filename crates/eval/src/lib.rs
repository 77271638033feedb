//! Evaluation: the metrics the study reported, as pure functions over predictions.

pub mod metrics;
