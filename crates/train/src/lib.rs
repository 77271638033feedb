//! Training Cruciate's exam models on Burn's Learner.
//!
//! - [`config`]: every hyperparameter of a run, from TOML and `--set key=value`.
//! - [`prepare`]: exams to network inputs (slice selection, resampling, MRNet scaling).
//! - [`augment`]: MRI augmentation (geometry, gamma, noise, bias field, ghosting).
//! - [`loader`]: Burn data loaders whose randomness depends on `(seed, epoch)` only.
//! - [`classifier`]: the training and validation steps Burn's Learner runs.
//! - [`optim`]: optimisers and learning-rate schedules.
//! - [`logger`], [`render`], [`checkpoint`]: `metrics.jsonl`, progress bars, checkpoints.
//! - [`run`]: a whole run into a run folder, resumable after a kill.
//! - [`predict`]: a trained run applied to one exam.
//! - [`cv`]: patient-level stratified k-fold cross-validation.

pub mod augment;
pub mod checkpoint;
pub mod classifier;
pub mod compare;
pub mod config;
pub mod cv;
mod error;
pub mod evaluate;
pub mod loader;
pub mod logger;
pub mod optim;
pub mod phantom_study;
pub mod predict;
pub mod prepare;
pub mod render;
pub mod run;

pub use config::{Task, TrainConfig};
pub use error::TrainError;
pub use predict::{LoadedRun, Prediction};
pub use run::{RunSummary, TrainRequest, train};
