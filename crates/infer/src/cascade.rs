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

    /// Abstains on a call whose region (`found` in `exam`) no ACL could fill; only a
    /// localiser's region is judged (a manifest's box is the ground truth).
    fn judge_region(&self, exam: &Volume, found: RoiBox, prediction: &mut Prediction) {
        if !matches!(self.crop.source, RoiSource::Auto(_)) {
            return;
        }
        if let Some(why) = implausible(found, exam) {
            prediction.verdict = crate::Verdict::from_reasons(vec![region_reason(&why)]);
        }
    }

    /// The exam cut to its region, where the cut lies and the box found; or why there is no
    /// region.
    fn crop(&self, exam: &Volume) -> Result<(Volume, RoiBox, RoiBox), String> {
        self.crop.cut_found(exam)
    }
}

/// The warning a result carries when the classifier saw the whole exam instead of the region.
fn fallback_warning(why: &str) -> String {
    format!("{why}; the whole exam was classified instead")
}

/// In-plane extent of a plausible ACL region, mm: the ligament is about 32 mm long and 10 mm
/// thick, seen obliquely in the sagittal plane.
const REGION_IN_PLANE_MM: (f64, f64) = (4.0, 90.0);

/// Largest extent across slices of a plausible ACL region, mm.
const REGION_ACROSS_MM: f64 = 60.0;

/// Why `found` (the localiser's box, before the margin) is no ACL region of `exam`: larger or
/// smaller than a ligament can be, where the exam's spacing is known.
fn implausible(found: RoiBox, exam: &Volume) -> Option<String> {
    if exam.meta.spacing_unknown {
        return None;
    }
    let [across, rows, cols] = exam.spacing;
    let height = (found.r1 - found.r0) as f64 * rows;
    let width = (found.c1 - found.c0) as f64 * cols;
    let depth = (found.s1 - found.s0) as f64 * across;
    let (low, high) = REGION_IN_PLANE_MM;
    let fits = |v: f64| (low..=high).contains(&v);
    (!(fits(height) && fits(width) && depth <= REGION_ACROSS_MM)).then(|| {
        format!(
            "the ACL region found is {height:.0} x {width:.0} mm over {depth:.0} mm of slices, \
             which no ACL fills"
        )
    })
}

/// The reason a cascade abstains: `why` it has no region to trust.
fn region_reason(why: &str) -> crate::Reason {
    crate::Reason::new(
        crate::Rule::Region,
        format!("{why}: the model reads ACL regions"),
    )
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
            Ok((cropped, region, found)) => {
                let mut p = self.classifier.predict(&cropped)?.shifted(region.s0);
                p.region = Some(region);
                self.judge_region(exam, found, &mut p);
                Ok(p)
            }
            Err(why) => {
                let mut p = self.classifier.predict(exam)?;
                p.warnings.push(fallback_warning(&why));
                p.verdict = crate::Verdict::from_reasons(vec![region_reason(&why)]);
                Ok(p)
            }
        }
    }

    fn explain(&self, exam: &Volume, request: &ExplainRequest) -> Result<Explanation, InferError> {
        match self.crop(exam) {
            Ok((cropped, region, found)) => {
                let inner = self.classifier.explain(&cropped, request)?;
                let mut prediction = inner.prediction.shifted(region.s0);
                prediction.region = Some(region);
                self.judge_region(exam, found, &mut prediction);
                Ok(Explanation {
                    prediction,
                    heat: inner.heat.embedded(exam.shape, region),
                    ..inner
                })
            }
            Err(why) => {
                let mut e = self.classifier.explain(exam, request)?;
                e.prediction.warnings.push(fallback_warning(&why));
                e.prediction.verdict = crate::Verdict::from_reasons(vec![region_reason(&why)]);
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
