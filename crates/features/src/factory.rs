//! Feature-model runs fitted on a manifest's training rows from one feature table, for
//! cross-validation (and anything else that refits): the backbone never runs again for exams the
//! table holds.

use std::path::Path;
use std::sync::Arc;

use cruciate_data::{Manifest, Split, Task};
use cruciate_infer::{Classifier, ClassifierFactory, InferError, Progress, RunInfo};
use cruciate_models::Compute;
use cruciate_svm::ModelSettings;

use crate::{
    Extractor, FeatureClassifier, FeatureError, FeatureRunSettings, FeatureTable, FitRows, fit_run,
};

/// Fits one model setting on the rows of a feature table.
pub struct FeatureFactory {
    table: Arc<FeatureTable>,
    extractor: Arc<Extractor>,
    task: Task,
    settings: ModelSettings,
    compute: Compute,
}

impl FeatureFactory {
    /// Fits `settings` for `task` on rows of `table`, made by `extractor`.
    pub fn new(
        table: Arc<FeatureTable>,
        extractor: Arc<Extractor>,
        task: Task,
        settings: ModelSettings,
        compute: Compute,
    ) -> Self {
        Self {
            table,
            extractor,
            task,
            settings,
            compute,
        }
    }

    /// The table rows of `manifest`'s `split` rows; every one must be in the table.
    pub fn rows(&self, manifest: &Manifest, split: Split) -> Result<Vec<usize>, FeatureError> {
        let ids: Vec<&str> = manifest.split(split).map(|r| r.exam_id.as_str()).collect();
        let rows = self.table.with_ids(ids.iter().copied());
        if rows.len() != ids.len() {
            let missing = ids
                .iter()
                .find(|id| !self.table.exams.iter().any(|e| e.row.exam_id == **id))
                .copied()
                .unwrap_or_default();
            return Err(FeatureError::Request(format!(
                "the features hold no vector for exam {missing:?}: compute them for this manifest"
            )));
        }
        Ok(rows)
    }

    fn finished(&self, out: &Path) -> bool {
        RunInfo::read(out)
            .ok()
            .flatten()
            .and_then(|info| info.settings::<FeatureRunSettings>(out).ok())
            .is_some_and(|s| s.model == self.settings && s.spec == self.table.spec)
    }
}

impl ClassifierFactory for FeatureFactory {
    fn describe(&self) -> String {
        format!(
            "{}; {}",
            self.settings.describe(),
            self.table.spec.describe()
        )
    }

    fn fit(
        &self,
        manifest: &Manifest,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<Box<dyn Classifier>, InferError> {
        if !self.finished(out) {
            progress.start("fit", None);
            let fit = self.rows(manifest, Split::Train)?;
            let valid = self.rows(manifest, Split::Valid)?;
            let calib = self.rows(manifest, Split::Calib)?;
            fit_run(
                &self.table,
                FitRows {
                    fit: &fit,
                    valid: &valid,
                    calib: &calib,
                },
                self.task,
                &self.settings,
                &self.extractor,
                out,
            )?;
            progress.finish();
        }
        let info =
            RunInfo::read(out)?.ok_or_else(|| InferError::run(out, "the fit wrote no run.json"))?;
        Ok(Box::new(FeatureClassifier::open(out, info, self.compute)?))
    }
}
