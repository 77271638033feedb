//! The seam between Cruciate's models and everything that uses them.
//!
//! Every consumer of a trained model (prediction, explanation, evaluation, comparison,
//! cross-validation, the service) works on the traits here, never on a concrete model, so that a
//! new kind of model plugs in by implementing one trait, as dicom-rs's codecs plug into its
//! transfer-syntax registry and MONAI's networks into its `Inferer`.
//!
//! - [`Classifier`]: an exam in, a [`Prediction`] out, and optionally an [`Explanation`] (a heat
//!   map in the exam's own voxel grid).
//! - [`combined`]: MRNet's exam-level model of one finding, a network per plane combined by
//!   logistic regression (`combined.json`).
//! - [`reading`]: the whole knee read at once, a model per finding over one study
//!   (`reading.json`).
//! - [`gate`]: the input gate every opened run stands behind: each prediction says whether the
//!   exam is one the model reads, or why not.
//! - [`calibration`]: the temperature and the conformal grade sets a run learns from its
//!   held-out exams, applied to every prediction of an opened run.
//! - [`drift`]: the numbers watched of every exam, and a run's reference to compare a site's
//!   recent exams with.
//! - [`occlusion`]: occlusion sensitivity, the explanation every classifier gets unless it
//!   offers its own.
//! - [`Localiser`]: an exam in, the ACL's region out; a [`Cascade`] crops with one before
//!   classifying.
//! - [`RunInfo`]: `run.json`, the one file that says what a run folder holds (kind, task, input
//!   preparation, model file and hash, software version, whether its data was synthetic).
//! - [`Registry`]: the run kinds a build knows; [`Registry::open_run`] reads `run.json` and
//!   hands the folder to the implementation of its kind.
//! - [`ClassifierFactory`]: how cross-validation makes a fresh model for each fold.
//! - [`Progress`]: how long jobs report what they are doing, without drawing anything.

#![warn(missing_docs)]

pub mod calibration;
mod cascade;
mod classifier;
pub mod combined;
pub mod drift;
mod error;
mod explanation;
mod factory;
pub mod gate;
mod json_file;
mod localiser;
mod occlusion;
mod prediction;
pub mod progress;
pub mod reading;
mod registry;
pub mod roi_crop;
pub mod run;

pub use calibration::{Calibration, GradeSet};
pub use cascade::{CASCADE_KIND, Cascade, CascadeSettings, write_cascade};
pub use classifier::Classifier;
pub use combined::{COMBINED_FILE, CombinedRun, PlaneRun, PlaneWeights};
pub use error::{ErrorKind, InferError};
pub use explanation::{ExplainMethod, ExplainRequest, Explanation, HeatMap};
pub use factory::ClassifierFactory;
pub use gate::{DomainReference, Gate, GateSettings, Gated, Reason, Rule, Verdict};
pub use localiser::Localiser;
pub use occlusion::{OCCLUSION_GRID, occlusion};
pub use prediction::Prediction;
pub use progress::{Progress, Silent};
pub use reading::{
    AcrossFindings, ExamReading, FindingCall, FindingModel, PlaneCall, PlaneReading, ReadingModel,
    ReadingRun,
};
pub use registry::{ClassifierOpener, LegacyReader, LocaliserOpener, Registry, RunKind};
pub use roi_crop::{Cropped, RoiCrop, RoiSource, region_text};
pub use run::{EpochRecord, RunInfo};
