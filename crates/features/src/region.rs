//! Features of the ACL region instead of whole slices: each exam cut to the manifest's box or
//! the box a localiser finds (widened by a margin) before the backbone sees it, as a cascade
//! cuts it when predicting.

use std::path::PathBuf;
use std::sync::Arc;

use cruciate_infer::{Localiser, RoiCrop, RoiSource, region_text};
use cruciate_volume::Volume;
use serde::{Deserialize, Serialize};

use crate::FeatureError;

/// Where the region came from, as a feature spec records it (so that features of different
/// regions never share a key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "source")]
pub enum RegionSource {
    /// The manifest's `roi` column.
    Manifest,
    /// A localiser run's boxes.
    Localiser {
        /// The localiser's model name.
        name: String,
        /// The SHA-256 of its model file.
        sha256: String,
    },
}

/// How exams were cut before their features were taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionSpec {
    /// Where the box came from.
    #[serde(flatten)]
    pub source: RegionSource,
    /// Voxels added around the box: slices, rows, columns.
    pub margin: [usize; 3],
}

impl RegionSpec {
    /// The region in a few words, for reports.
    pub fn describe(&self) -> String {
        let name = match &self.source {
            RegionSource::Manifest => None,
            RegionSource::Localiser { name, .. } => Some(name.as_str()),
        };
        region_text(name, self.margin)
    }
}

/// The crop feature extraction applies, with the localiser's run folder when it has one (so
/// that the table can be checked and a cascade written later).
#[derive(Debug, Clone)]
pub struct FeatureRegion {
    /// The crop.
    pub crop: RoiCrop,
    /// The localiser's run folder, for `RoiSource::Auto`.
    pub localiser: Option<PathBuf>,
}

impl FeatureRegion {
    /// Cut to the manifest's boxes.
    pub fn manifest(margin: [usize; 3]) -> Self {
        Self {
            crop: RoiCrop {
                source: RoiSource::Manifest,
                margin,
            },
            localiser: None,
        }
    }

    /// Cut to the boxes of `localiser`, opened from the run folder `run`.
    pub fn localiser(localiser: Arc<dyn Localiser>, run: PathBuf, margin: [usize; 3]) -> Self {
        Self {
            crop: RoiCrop {
                source: RoiSource::Auto(localiser),
                margin,
            },
            localiser: Some(run),
        }
    }

    /// What a feature spec records of it.
    pub fn spec(&self) -> RegionSpec {
        let source = match &self.crop.source {
            RoiSource::Manifest => RegionSource::Manifest,
            RoiSource::Auto(l) => RegionSource::Localiser {
                name: l.info().model.name.clone(),
                sha256: l.info().model.sha256.clone().unwrap_or_default(),
            },
        };
        RegionSpec {
            source,
            margin: self.crop.margin,
        }
    }

    /// `exam` cut to its region. Without a manifest box that is an error (every exam must
    /// have one); where a localiser finds no plausible region the whole exam is used, logged,
    /// as the cascade does when predicting.
    pub fn cut(&self, exam: Volume, exam_id: &str) -> Result<Volume, FeatureError> {
        let cropped = self.crop.apply(exam);
        if let Some(why) = cropped.fallback {
            if matches!(self.crop.source, RoiSource::Manifest) {
                return Err(FeatureError::Exam(format!(
                    "exam {exam_id}: {why}; --roi manifest needs a box for every exam"
                )));
            }
            tracing::warn!("exam {exam_id}: {why}; features of the whole exam");
        }
        Ok(cropped.volume)
    }
}
