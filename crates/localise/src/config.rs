//! What training a localiser is asked to do, and what it produced (`summary.json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::DecodeSettings;
use crate::input::LocaliserInput;

/// How a localiser is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocaliserTraining {
    /// The input.
    pub input: LocaliserInput,
    /// Epochs.
    pub epochs: usize,
    /// Slices per optimiser step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Slices drawn outside the box (and its neighbours) per exam.
    pub negatives: usize,
    /// The seed of every draw.
    pub seed: u64,
}

impl Default for LocaliserTraining {
    fn default() -> Self {
        Self {
            input: LocaliserInput::default(),
            epochs: 8,
            batch_size: 16,
            learning_rate: 2e-3,
            negatives: 6,
            seed: 0,
        }
    }
}

/// What training produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedLocaliser {
    /// The run folder.
    pub run: PathBuf,
    /// Exams with a box in the train and valid splits.
    pub exams: [usize; 2],
    /// Slices seen per epoch.
    pub slices_per_epoch: usize,
    /// The settings.
    pub settings: LocaliserTraining,
    /// How the maps are read (slice fraction and box scale chosen on the valid split).
    pub decode: DecodeSettings,
    /// The mean 3-D IoU on the valid split with those settings.
    pub valid_mean_iou: f64,
    /// Seconds spent.
    pub seconds: f64,
}
