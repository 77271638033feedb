//! Evaluation: the study's metrics, as pure functions over a prediction set and in a cumulative
//! (streaming) form.

pub mod metrics;
pub mod visualize;
