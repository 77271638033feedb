//! The classifier seam: what every model kind that grades an exam implements.

use cruciate_data::Task;
use cruciate_volume::Volume;

use crate::{
    Calibration, ExplainMethod, ExplainRequest, Explanation, InferError, Prediction, RunInfo,
};

/// A model that grades the ACL of an exam.
///
/// The exam is the whole volume as read; a classifier chooses and prepares the part it needs
/// itself (using `exam.roi` when it works on the ACL region). Implementations must be usable
/// from several threads at once: the service shares one per model among its workers.
pub trait Classifier: Send + Sync {
    /// What the model is: kind, task, class names, model file and hash, provenance.
    fn info(&self) -> &RunInfo;

    /// The model's call on `exam`.
    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError>;

    /// Where the call on `exam` came from, as a heat map over the exam's own voxels. Every
    /// model can be explained by [occlusion](crate::occlusion) sensitivity, the default; model
    /// kinds with a method of their own (CAM for networks) override it.
    fn explain(&self, exam: &Volume, request: &ExplainRequest) -> Result<Explanation, InferError> {
        match request.method {
            None | Some(ExplainMethod::Occlusion) => crate::occlusion(self, exam, request),
            Some(other) => Err(InferError::Request(format!(
                "{} runs explain by occlusion, not {other}",
                self.info().kind
            ))),
        }
    }

    /// The name of the calibration the model's probabilities already have (Platt scaling in
    /// an SVM), or `None` for a softmax of scores, which a [`Temperature`] calibrates.
    ///
    /// [`Temperature`]: crate::calibration::Temperature
    fn own_calibration(&self) -> Option<&'static str> {
        None
    }

    /// The calibration applied to every prediction (a run opened through
    /// [`Registry::open_run`](crate::Registry::open_run) that has one); `None` for a model's
    /// own probabilities.
    fn calibration(&self) -> Option<&Calibration> {
        None
    }

    /// Binary or grade.
    fn task(&self) -> Task {
        self.info().task
    }

    /// The class names, in class order.
    fn class_names(&self) -> &[String] {
        &self.info().classes
    }
}
