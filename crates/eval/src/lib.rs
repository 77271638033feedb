//! Evaluation: the study's metrics, as pure functions over a prediction set and in a cumulative
//! (streaming) form.

pub mod charts;
pub mod metrics;
pub mod report;
pub mod visualize;
