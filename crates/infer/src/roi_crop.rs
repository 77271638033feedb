//! Cutting an exam to its ACL region before a model sees it, when training and extracting
//! features as a cascade does when predicting: from the manifest's box (ground truth, for
//! training on the region) or from a localiser (the box a cascade will find).

use std::sync::Arc;

use cruciate_prep::{crop_roi, margin_box};
use cruciate_volume::{RoiBox, Volume};

use crate::Localiser;

/// Where the region comes from.
#[derive(Clone)]
pub enum RoiSource {
    /// The box attached to the exam (the manifest's `roi` column, KneeMRI's metadata).
    Manifest,
    /// The box a localiser finds.
    Auto(Arc<dyn Localiser>),
}

impl std::fmt::Debug for RoiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoiSource::Manifest => f.write_str("Manifest"),
            RoiSource::Auto(l) => write!(f, "Auto({})", l.info().model.name),
        }
    }
}

/// A crop to the ACL region widened by a margin.
#[derive(Debug, Clone)]
pub struct RoiCrop {
    /// Where the box comes from.
    pub source: RoiSource,
    /// Voxels added around the box: slices, rows, columns.
    pub margin: [usize; 3],
}

/// An exam cut to its region, or the whole exam with the reason it could not be cut.
#[derive(Debug, Clone)]
pub struct Cropped {
    /// The exam the model is given.
    pub volume: Volume,
    /// Where the cut lies in the exam (the box widened by the margin), when it was cut.
    pub region: Option<RoiBox>,
    /// Why it is the whole exam, when it is.
    pub fallback: Option<String>,
}

/// A region in words: where its box comes from (a localiser's name, else the manifest) and
/// the margin.
pub fn region_text(localiser: Option<&str>, [s, r, c]: [usize; 3]) -> String {
    let by = match localiser {
        None => "the manifest's ACL box".to_string(),
        Some(name) => format!("the ACL box {name} finds"),
    };
    format!("{by} + {s},{r},{c} voxels")
}

impl RoiCrop {
    /// The crop in words.
    pub fn describe(&self) -> String {
        match &self.source {
            RoiSource::Manifest => region_text(None, self.margin),
            RoiSource::Auto(l) => region_text(Some(&l.info().model.name), self.margin),
        }
    }

    /// `exam` cut to its region (the box widened by the margin, the cut's ROI set to the box),
    /// and where the cut lies in the exam; or why there is no region.
    pub fn cut(&self, exam: &Volume) -> Result<(Volume, RoiBox), String> {
        self.cut_found(exam)
            .map(|(volume, region, _)| (volume, region))
    }

    /// As [`Self::cut`], with the box found too (before the margin).
    pub fn cut_found(&self, exam: &Volume) -> Result<(Volume, RoiBox, RoiBox), String> {
        let found = match &self.source {
            RoiSource::Manifest => exam
                .roi
                .ok_or_else(|| "the exam has no ACL box (roi column)".to_string())?,
            RoiSource::Auto(l) => l.locate(exam).map_err(|e| e.to_string())?,
        };
        let outside = || format!("the box {found:?} lies outside the exam");
        let region = margin_box(found, self.margin, exam.shape).ok_or_else(outside)?;
        let volume = crop_roi(exam, found, self.margin).ok_or_else(outside)?;
        Ok((volume, region, found))
    }

    /// `exam` cut to its region; the whole exam (with the reason) when there is no box, or the
    /// localiser finds none, or the box lies outside the exam.
    pub fn apply(&self, exam: Volume) -> Cropped {
        match self.cut(&exam) {
            Ok((volume, region)) => Cropped {
                volume,
                region: Some(region),
                fallback: None,
            },
            Err(why) => Cropped {
                volume: exam,
                region: None,
                fallback: Some(why),
            },
        }
    }
}
