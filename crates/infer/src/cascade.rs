//! A localiser's crop feeding a classifier: the study's own fix for models that look in the
//! wrong place. The classifier sees only the ACL region (with a margin); its call and its heat
//! map are put back into the exam's own slices and voxels.

use std::path::Path;
use std::sync::Arc;

use cruciate_volume::{RoiBox, Volume};
use serde::{Deserialize, Serialize};

use crate::roi_crop::{RoiCrop, RoiSource};
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

/// A classifier that looks only at the ACL region: where a localiser points, or (for scoring
/// a classifier trained on the manifest's boxes) the box the exam comes with.
pub struct Cascade {
    info: RunInfo,
    crop: RoiCrop,
    classifier: Box<dyn Classifier>,
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
            crop: RoiCrop {
                source: RoiSource::Auto(Arc::from(localizer)),
                margin,
            },
            classifier,
        }
    }

    /// `classifier` given the region of `crop` (the manifest's boxes or a localiser's).
    pub fn with_crop(crop: RoiCrop, classifier: Box<dyn Classifier>) -> Self {
        let mut info = classifier.info().clone();
        info.kind = CASCADE_KIND.into();
        Self {
            info,
            crop,
            classifier,
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

    /// The exam cut to its region, and where the cut lies; or why there is no region.
    fn crop(&self, exam: &Volume) -> Result<(Volume, RoiBox), String> {
        self.crop.cut(exam)
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
