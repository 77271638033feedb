//! A localiser's crop feeding a classifier: the study's own fix for models that look in the
//! wrong place. The classifier sees only the ACL region (with a margin); its call and its heat
//! map are put back into the exam's own slices and voxels.

use std::path::Path;
use std::sync::Arc;

use cruciate_volume::{RoiBox, Volume};
use serde::{Deserialize, Serialize};

use crate::roi_crop::{RoiCrop, RoiSource};
use crate::{
    Classifier, ExplainRequest, Explanation, InferError, Localiser, Prediction, Registry, RunInfo,
};

/// The kind name of cascade runs.
pub const CASCADE_KIND: &str = "cascade";

/// The settings of a cascade run (`run.json`'s `settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadeSettings {
    /// The localiser's run folder, relative to the cascade's (`localizer` in runs written before
    /// the project settled on one spelling).
    #[serde(alias = "localizer")]
    pub localiser: String,
    /// The classifier's run folder, relative to the cascade's.
    pub classifier: String,
    /// Voxels added around the found box: slices, rows, columns.
    pub margin: [usize; 3],
}

/// Writes the cascade run folder `out` of the localiser run `localiser` and the classifier run
/// `classifier` with `margin` (their absolute folders recorded), and checks that it opens
/// through `registry`; its description.
pub fn write_cascade(
    registry: &Registry,
    (localiser, classifier): (&Path, &Path),
    margin: [usize; 3],
    out: &Path,
) -> Result<String, InferError> {
    let found_by = registry.open_localiser(localiser)?;
    let classifier_run = registry.open_model(classifier)?;
    let mut info = RunInfo::new(CASCADE_KIND, classifier_run.info().task, "cascade");
    info.classes = classifier_run.info().classes.clone();
    info.training = classifier_run.info().training.clone();
    info.training.synthetic |= found_by.info().synthetic();
    info.model.description = format!(
        "{} on the ACL region found by {} (margin {:?} voxels)",
        classifier_run.info().model.name,
        found_by.info().model.name,
        margin
    );
    let absolute = |p: &Path| {
        std::fs::canonicalize(p)
            .map(|p| p.display().to_string())
            .map_err(|e| InferError::io(p, e))
    };
    info.settings = serde_json::to_value(CascadeSettings {
        localiser: absolute(localiser)?,
        classifier: absolute(classifier)?,
        margin,
    })
    .map_err(|e| InferError::Internal(e.to_string()))?;
    std::fs::create_dir_all(out).map_err(|e| InferError::io(out, e))?;
    info.write(out)?;
    registry.open_run(out)?;
    Ok(info.model.description)
}

/// A classifier that looks only at the ACL region: where a localiser points, or (for scoring
/// a classifier trained on the manifest's boxes) the box the exam comes with.
pub struct Cascade {
    info: RunInfo,
    crop: RoiCrop,
    classifier: Box<dyn Classifier>,
}

impl Cascade {
    /// A cascade of `localiser` and `classifier` with `margin` voxels (slices, rows, columns)
    /// around the found box.
    pub fn new(
        localiser: Box<dyn Localiser>,
        classifier: Box<dyn Classifier>,
        margin: [usize; 3],
    ) -> Self {
        let mut info = classifier.info().clone();
        info.kind = CASCADE_KIND.into();
        info.model.name = format!(
            "{} on {}",
            classifier.info().model.name,
            localiser.info().model.name
        );
        Self {
            info,
            crop: RoiCrop {
                source: RoiSource::Auto(Arc::from(localiser)),
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
        let localiser = registry.open_localiser(&run.join(&settings.localiser))?;
        let classifier = registry.open_model(&run.join(&settings.classifier))?;
        let mut cascade = Self::new(localiser, classifier, settings.margin);
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

    fn own_calibration(&self) -> Option<&'static str> {
        self.classifier.own_calibration()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_settings_written_with_the_old_spelling_still_read() {
        let old: CascadeSettings = serde_json::from_str(
            r#"{"localizer": "loc", "classifier": "cls", "margin": [1, 8, 8]}"#,
        )
        .unwrap();
        assert_eq!(old.localiser, "loc");
        let now = serde_json::to_string(&old).unwrap();
        assert!(now.contains(r#""localiser":"loc""#), "{now}");
    }
}
