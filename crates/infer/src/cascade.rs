//! A localiser's crop feeding a classifier: the study's own fix for models that look in the
//! wrong place. The classifier sees only the ACL region (with a margin); its call and its heat
//! map are put back into the exam's own slices and voxels.

use std::path::Path;

use cruciate_prep::{crop_roi, margin_box};
use cruciate_volume::{RoiBox, Volume};
use serde::{Deserialize, Serialize};

use crate::{
    Classifier, ExplainRequest, Explanation, InferError, Localizer, Prediction, Registry, RunInfo,
};

/// The kind name of cascade runs.
pub const CASCADE_KIND: &str = "cascade";

/// The settings of a cascade run (`run.json`'s `settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadeSettings {
    /// The localiser's run folder, relative to the cascade's.
    pub localizer: String,
    /// The classifier's run folder, relative to the cascade's.
    pub classifier: String,
    /// Voxels added around the found box: slices, rows, columns.
    pub margin: [usize; 3],
}

/// A classifier that looks only where a localiser points.
pub struct Cascade {
    info: RunInfo,
    localizer: Box<dyn Localizer>,
    classifier: Box<dyn Classifier>,
    margin: [usize; 3],
}

impl Cascade {
    /// A cascade of `localizer` and `classifier` with `margin` voxels (slices, rows, columns)
    /// around the found box.
    pub fn new(
        localizer: Box<dyn Localizer>,
        classifier: Box<dyn Classifier>,
        margin: [usize; 3],
    ) -> Self {
        let mut info = classifier.info().clone();
        info.kind = CASCADE_KIND.into();
        info.model.name = format!(
            "{} on {}",
            classifier.info().model.name,
            localizer.info().model.name
        );
        Self {
            info,
            localizer,
            classifier,
            margin,
        }
    }

    /// Opens a cascade run folder: its two parts through `registry`.
    pub fn open(run: &Path, info: RunInfo, registry: &Registry) -> Result<Self, InferError> {
        let settings: CascadeSettings = info.settings(run)?;
        let localizer = registry.open_localizer(&run.join(&settings.localizer))?;
        let classifier = registry.open_run(&run.join(&settings.classifier))?;
        let mut cascade = Self::new(localizer, classifier, settings.margin);
        cascade.info = RunInfo {
            settings: info.settings.clone(),
            ..cascade.info
        };
        Ok(cascade)
    }

    /// The exam cut to the localiser's box with the margin, and where the cut lies in the exam;
    /// or, when the localiser finds no plausible box, why.
    fn crop(&self, exam: &Volume) -> Result<(Volume, RoiBox), String> {
        let found = self.localizer.locate(exam).map_err(|e| e.to_string())?;
        let outside = || format!("the localiser's box {found:?} lies outside the exam");
        let region = margin_box(found, self.margin, exam.shape).ok_or_else(outside)?;
        let cropped = crop_roi(exam, found, self.margin).ok_or_else(outside)?;
        Ok((cropped, region))
    }
}

/// The warning a result carries when the classifier saw the whole exam instead of the region.
fn fallback_warning(why: &str) -> String {
    format!("{why}; the whole exam was classified instead")
}

impl Classifier for Cascade {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        match self.crop(exam) {
            Ok((cropped, region)) => {
                let mut p = self.classifier.predict(&cropped)?.shifted(region.s0);
                p.region = Some(region);
                Ok(p)
            }
            Err(why) => {
                let mut p = self.classifier.predict(exam)?;
                p.warnings.push(fallback_warning(&why));
                Ok(p)
            }
        }
    }

    fn explain(&self, exam: &Volume, request: &ExplainRequest) -> Result<Explanation, InferError> {
        match self.crop(exam) {
            Ok((cropped, region)) => {
                let inner = self.classifier.explain(&cropped, request)?;
                let mut prediction = inner.prediction.shifted(region.s0);
                prediction.region = Some(region);
                Ok(Explanation {
                    prediction,
                    heat: inner.heat.embedded(exam.shape, region),
                    ..inner
                })
            }
            Err(why) => {
                let mut e = self.classifier.explain(exam, request)?;
                e.prediction.warnings.push(fallback_warning(&why));
                Ok(e)
            }
        }
    }
}
