//! How well a localiser finds the ACL box: 3-D intersection over union, the distance between
//! the boxes' centres in millimetres, whether the found slice range holds the true box's central
//! slice; per exam as pure functions, and gathered exam by exam ([`LocalisationScores`]).

use cruciate_volume::RoiBox;
use serde::{Deserialize, Serialize};

fn volume(b: &RoiBox) -> f64 {
    (b.s1.saturating_sub(b.s0) * b.r1.saturating_sub(b.r0) * b.c1.saturating_sub(b.c0)) as f64
}

/// Intersection over union of two voxel boxes (0 when either is empty).
pub fn box_iou(a: &RoiBox, b: &RoiBox) -> f64 {
    let overlap =
        |a0: usize, a1: usize, b0: usize, b1: usize| a1.min(b1).saturating_sub(a0.max(b0));
    let inter = (overlap(a.s0, a.s1, b.s0, b.s1)
        * overlap(a.r0, a.r1, b.r0, b.r1)
        * overlap(a.c0, a.c1, b.c0, b.c1)) as f64;
    let union = volume(a) + volume(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// The distance between the boxes' centres in millimetres, with `spacing` the millimetres per
/// voxel `[slice, row, column]`.
pub fn centre_distance_mm(a: &RoiBox, b: &RoiBox, spacing: [f64; 3]) -> f64 {
    let centre = |lo: usize, hi: usize| (lo + hi) as f64 / 2.0;
    let d = [
        (centre(a.s0, a.s1) - centre(b.s0, b.s1)) * spacing[0],
        (centre(a.r0, a.r1) - centre(b.r0, b.r1)) * spacing[1],
        (centre(a.c0, a.c1) - centre(b.c0, b.c1)) * spacing[2],
    ];
    d.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Whether `found`'s slice range holds the central slice of `truth` (the upper of the two
/// middle slices when it has an even count).
pub fn slice_hit(found: &RoiBox, truth: &RoiBox) -> bool {
    let centre = ((truth.s0 + truth.s1) / 2)
        .min(truth.s1.saturating_sub(1))
        .max(truth.s0);
    (found.s0..found.s1).contains(&centre)
}

/// One exam's localisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisedExam {
    /// The exam.
    pub exam_id: String,
    /// The true box.
    pub truth: RoiBox,
    /// The box found, or `None` when the localiser found none.
    pub found: Option<RoiBox>,
    /// Why none was found.
    pub reason: Option<String>,
    /// 3-D IoU (0 when none was found).
    pub iou: f64,
    /// Centre distance in millimetres (`None` when none was found).
    pub centre_mm: Option<f64>,
    /// Whether the found slice range holds the true centre slice.
    pub slice_hit: bool,
}

impl LocalisedExam {
    /// Scores `found` (or the reason there is none) against `truth` on a grid of `spacing`.
    pub fn score(
        exam_id: &str,
        truth: RoiBox,
        found: Result<RoiBox, String>,
        spacing: [f64; 3],
    ) -> Self {
        match found {
            Ok(f) => Self {
                exam_id: exam_id.into(),
                iou: box_iou(&f, &truth),
                centre_mm: Some(centre_distance_mm(&f, &truth, spacing)),
                slice_hit: slice_hit(&f, &truth),
                truth,
                found: Some(f),
                reason: None,
            },
            Err(reason) => Self {
                exam_id: exam_id.into(),
                truth,
                found: None,
                reason: Some(reason),
                iou: 0.0,
                centre_mm: None,
                slice_hit: false,
            },
        }
    }
}

/// The summary of a localiser over many exams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisationSummary {
    /// Exams scored.
    pub exams: usize,
    /// Exams where no plausible box was found.
    pub not_found: usize,
    /// Mean 3-D IoU (not-found exams count as 0).
    pub mean_iou: f64,
    /// Median 3-D IoU.
    pub median_iou: f64,
    /// Share of exams whose found centre lies within `within_mm` of the true one.
    pub centre_within: f64,
    /// The distance that share is measured at, mm.
    pub within_mm: f64,
    /// Mean centre distance over the exams with a box, mm.
    pub mean_centre_mm: Option<f64>,
    /// Share of exams whose found slice range holds the true centre slice.
    pub slice_hit_rate: f64,
}

/// Localised exams gathered one by one, summarised at the end.
#[derive(Debug, Clone, Default)]
pub struct LocalisationScores {
    exams: Vec<LocalisedExam>,
}

impl LocalisationScores {
    /// Adds one exam.
    pub fn push(&mut self, exam: LocalisedExam) {
        self.exams.push(exam);
    }

    /// The exams so far.
    pub fn exams(&self) -> &[LocalisedExam] {
        &self.exams
    }

    /// The summary, with centres counted as right within `within_mm`; `None` before any exam.
    pub fn summary(&self, within_mm: f64) -> Option<LocalisationSummary> {
        let n = self.exams.len();
        if n == 0 {
            return None;
        }
        let mut ious: Vec<f64> = self.exams.iter().map(|e| e.iou).collect();
        ious.sort_by(f64::total_cmp);
        let distances: Vec<f64> = self.exams.iter().filter_map(|e| e.centre_mm).collect();
        let share = |k: usize| k as f64 / n as f64;
        Some(LocalisationSummary {
            exams: n,
            not_found: self.exams.iter().filter(|e| e.found.is_none()).count(),
            mean_iou: ious.iter().sum::<f64>() / n as f64,
            median_iou: if n % 2 == 1 {
                ious[n / 2]
            } else {
                (ious[n / 2 - 1] + ious[n / 2]) / 2.0
            },
            centre_within: share(distances.iter().filter(|&&d| d <= within_mm).count()),
            within_mm,
            mean_centre_mm: (!distances.is_empty())
                .then(|| distances.iter().sum::<f64>() / distances.len() as f64),
            slice_hit_rate: share(self.exams.iter().filter(|e| e.slice_hit).count()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s0: usize, s1: usize, r0: usize, r1: usize, c0: usize, c1: usize) -> RoiBox {
        RoiBox {
            s0,
            s1,
            r0,
            r1,
            c0,
            c1,
        }
    }

    #[test]
    fn iou_distance_and_hits_worked_by_hand() {
        let t = b(10, 14, 20, 40, 30, 50);
        assert_eq!(box_iou(&t, &t), 1.0);
        // Half the slices overlap: 2 x 20 x 20 shared of 4 x 20 x 20 + 4 x 20 x 20 - shared.
        let half = b(12, 16, 20, 40, 30, 50);
        assert!((box_iou(&half, &t) - 800.0 / 2400.0).abs() < 1e-12);
        assert_eq!(box_iou(&b(0, 2, 0, 2, 0, 2), &t), 0.0);
        assert_eq!(
            box_iou(&b(3, 3, 0, 2, 0, 2), &b(3, 3, 0, 2, 0, 2)),
            0.0,
            "empty boxes"
        );
        // Centres 2 slices of 3 mm and 4 rows of 0.5 mm apart: sqrt(36 + 4).
        let moved = b(12, 16, 24, 44, 30, 50);
        assert!((centre_distance_mm(&moved, &t, [3.0, 0.5, 0.5]) - 40f64.sqrt()).abs() < 1e-12);
        assert!(slice_hit(&half, &t), "centre slice 12 lies in 12..16");
        assert!(!slice_hit(&b(13, 16, 0, 1, 0, 1), &t));
    }

    #[test]
    fn the_summary_counts_missing_boxes_as_misses() {
        let t = b(10, 14, 20, 40, 30, 50);
        let mut s = LocalisationScores::default();
        assert!(s.summary(5.0).is_none());
        s.push(LocalisedExam::score("a", t, Ok(t), [1.0; 3]));
        s.push(LocalisedExam::score(
            "b",
            t,
            Ok(b(10, 14, 26, 46, 30, 50)),
            [1.0; 3],
        ));
        s.push(LocalisedExam::score(
            "c",
            t,
            Err("nothing".into()),
            [1.0; 3],
        ));
        let sum = s.summary(5.0).unwrap();
        assert_eq!((sum.exams, sum.not_found), (3, 1));
        let second = 14.0 * 20.0 / (2.0 * 400.0 - 14.0 * 20.0);
        assert!((sum.mean_iou - (1.0 + second) / 3.0).abs() < 1e-12);
        assert!(
            (sum.centre_within - 1.0 / 3.0).abs() < 1e-12,
            "6 mm is past 5 mm"
        );
        assert_eq!(sum.mean_centre_mm, Some(3.0));
        assert!((sum.slice_hit_rate - 2.0 / 3.0).abs() < 1e-12);
    }
}
