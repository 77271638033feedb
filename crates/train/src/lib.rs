//! Training Cruciate's exam networks on Burn's Learner: the learning only. Input preparation and
//! augmentation come from `cruciate-prep`, the trained network is opened as a classifier by
//! `cruciate-models`, and evaluation is `cruciate-eval`'s.
//!
//! - [`config`]: every hyperparameter of a run, from TOML and `--set key=value`.
//! - [`exams`]: the run's exams read and prepared once.
//! - [`loader`]: Burn data loaders whose randomness depends on `(seed, epoch)` only.
//! - [`step`]: the training and validation steps Burn's Learner runs.
//! - [`optim`]: optimisers and learning-rate schedules.
//! - [`logger`], [`checkpoint`]: `metrics.jsonl`, atomic checkpoints, early stopping.
//! - [`events`]: Burn's training events as [`Progress`](cruciate_infer::Progress) stages.
//! - [`run`]: a whole run into a run folder (`run.json`, `model.bpk`), resumable after a kill.
//! - [`factory`]: training as a `ClassifierFactory`, for cross-validation.
//! - [`phantom_study`]: train on phantoms, score separately generated ones.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod config;
mod error;
pub mod events;
pub mod exams;
pub mod factory;
pub mod joint;
pub mod loader;
pub mod logger;
pub mod optim;
pub mod phantom_study;
pub mod run;
pub mod step;

pub use config::TrainConfig;
pub use error::TrainError;
pub use factory::NetworkFactory;
pub use run::{RunSummary, TrainRequest, train};
