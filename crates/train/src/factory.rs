//! Training as a [`ClassifierFactory`]: what cross-validation calls to make one network per
//! fold, resuming a fold whose run was interrupted and reusing one that finished.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cruciate_data::Manifest;
use cruciate_infer::{
    Cascade, Classifier, ClassifierFactory, InferError, Progress, RoiCrop, RunInfo,
};
use cruciate_models::{Compute, NetworkClassifier};

use crate::run::{RunFiles, TrainRequest, train};
use crate::{TrainConfig, TrainError};

/// Trains networks with one config.
pub struct NetworkFactory {
    /// The settings of every run.
    pub config: TrainConfig,
    /// Pretrained backbone weights.
    pub weights: Option<PathBuf>,
    /// Where to compute.
    pub compute: Compute,
    /// Where training reports its progress.
    pub progress: Arc<dyn Progress>,
    /// Cut exams to their ACL region for training and scoring (the fold's model is then a
    /// cascade of that crop and the network), or not.
    pub roi: Option<RoiCrop>,
}

impl NetworkFactory {
    fn open(&self, out: &Path) -> Result<Box<dyn Classifier>, InferError> {
        let info = RunInfo::read(out)?
            .ok_or_else(|| InferError::run(out, "finished run without run.json"))?;
        let network = NetworkClassifier::open(out, info, self.compute.device())?
            .with_engine(self.compute.engine_choice())?;
        Ok(Box::new(network))
    }

    /// Trains the run `out` on `manifest`, unless it holds a finished run of these settings
    /// (then kept; one of other settings is refused).
    fn ensure_trained(&self, manifest: &Manifest, out: &Path) -> Result<(), InferError> {
        let files = RunFiles {
            root: out.to_path_buf(),
        };
        if !files.summary().exists() {
            train(
                &TrainRequest {
                    manifest: manifest.clone(),
                    out: out.to_path_buf(),
                    weights: self.weights.clone(),
                    config: self.config.clone(),
                    compute: self.compute,
                    roi: self.roi.clone(),
                },
                self.progress.clone(),
            )
            .map_err(InferError::from)?;
        } else if !files.has_settings(&self.config).map_err(InferError::from)? {
            // A finished run is reused only when it was trained with the same settings.
            return Err(InferError::from(TrainError::run_folder(
                out,
                "holds a finished run with other settings: choose another --out",
            )));
        }
        Ok(())
    }
}

impl ClassifierFactory for NetworkFactory {
    fn describe(&self) -> String {
        format!("{}: {}", self.config.model.name, self.config.describe())
    }

    fn fit(
        &self,
        manifest: &Manifest,
        out: &Path,
        _progress: &dyn Progress,
    ) -> Result<Box<dyn Classifier>, InferError> {
        self.config
            .single_finding("fitting one classifier")
            .map_err(InferError::from)?;
        self.ensure_trained(manifest, out)?;
        let network = self.open(out)?;
        Ok(match &self.roi {
            Some(crop) => Box::new(Cascade::with_crop(crop.clone(), network)),
            None => network,
        })
    }

    /// A joint network is trained once into `out` and each of its finding runs
    /// (`out/FINDING`) opened; any other network as [`ClassifierFactory::fit`].
    fn fit_findings(
        &self,
        manifest: &Manifest,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<Vec<Box<dyn Classifier>>, InferError> {
        let Some(findings) = self.config.model.joint() else {
            return Ok(vec![self.fit(manifest, out, progress)?]);
        };
        self.ensure_trained(manifest, out)?;
        findings
            .iter()
            .map(|&finding| self.open(&crate::joint::finding_run(out, finding)))
            .collect()
    }
}
