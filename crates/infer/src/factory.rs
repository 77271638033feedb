//! How cross-validation (and any other procedure that refits) makes a fresh model per fold,
//! whatever the model kind.

use std::path::Path;

use cruciate_data::Manifest;

use crate::{Classifier, InferError, Progress};

/// Makes classifiers from data: trains (or fits) one on a manifest's train and valid rows into
/// a run folder, and opens it.
pub trait ClassifierFactory: Send + Sync {
    /// A one-line description of what is fitted (model and main settings), for reports.
    fn describe(&self) -> String;

    /// Fits a classifier on `manifest` into the run folder `out` and returns it. A folder that
    /// already holds a finished run of the same settings is opened instead of refitted, so that
    /// an interrupted procedure resumes.
    fn fit(
        &self,
        manifest: &Manifest,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<Box<dyn Classifier>, InferError>;

    /// As [`ClassifierFactory::fit`], giving every finding's classifier: one for a model of one
    /// finding (the default), one per finding for a model answering several at once (a joint
    /// network's finding runs), each telling its finding by its [`crate::RunInfo`].
    fn fit_findings(
        &self,
        manifest: &Manifest,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<Vec<Box<dyn Classifier>>, InferError> {
        Ok(vec![self.fit(manifest, out, progress)?])
    }
}
