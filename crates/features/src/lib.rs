//! Deep features: the study's chosen system, a frozen backbone's features of each exam fed to a
//! support vector classifier.
//!
//! - [`FeatureSpec`]: what makes a feature vector (backbone, weights and their hash, pixel
//!   scaling, slices, input size, pooling over slices); its [`key`](FeatureSpec::key) names a
//!   cache.
//! - [`Extractor`]: a frozen backbone that turns an exam into per-slice vectors (global average
//!   pooling of the last feature map) and one pooled vector per exam, slices in batches.
//! - [`FeatureTable`]: a manifest's feature vectors on disk (`features.json` +
//!   `features.npy`), computed once per key and read back afterwards; [`reopen`](FeatureTable::reopen)ed
//!   to fit on, with the backbone that made it checked to still make its vectors.
//! - [`FeatureClassifier`]: an extractor and a fitted [`FeatureModel`](cruciate_svm::FeatureModel)
//!   as a [`Classifier`](cruciate_infer::Classifier), the `features` run kind, so that prediction,
//!   evaluation, comparison, cross-validation and the service use it like any network; its
//!   calls are explained by Grad-CAM through the backbone ([`explain`]).
//! - [`FeatureFactory`]: fits such runs on a manifest's training rows, for cross-validation and
//!   hyperparameter search, reusing one table.
//! - [`search`]: what a search of the SVM path reads (its `[features]`, each trial's model) and
//!   the feature tables of its trials, each computed once.

#![warn(missing_docs)]

mod classifier;
mod error;
pub mod explain;
mod extractor;
mod factory;
mod folds;
mod region;
mod reopen;
pub mod search;
mod spec;
mod table;

pub use classifier::{
    FEATURES_KIND, FeatureClassifier, FeatureRunSettings, FitRows, FitSummary, features_kind,
    fit_run,
};
pub use error::FeatureError;
pub use extractor::{Extractor, SliceFeatures, SliceMaps};
pub use factory::FeatureFactory;
pub use folds::{fold_scores, training_manifest};
pub use region::{FeatureRegion, RegionSource, RegionSpec};
pub use spec::{FeatureSpec, Pool, SliceChoice, WeightsSource};
pub use table::{ExamEntry, ExtractStats, FeatureTable};
