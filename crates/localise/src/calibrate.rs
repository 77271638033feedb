//! The decoding settings chosen on validation exams: how strong a slice's peak must be to join
//! the run, and how much the fitted box is scaled. The network's maps are smooth, so the box
//! fitted to them comes out wider than the ligament's; the pair that gives the best mean 3-D
//! IoU on the valid split is kept.

use std::path::Path;

use cruciate_data::{Manifest, Split, read_exam};
use cruciate_infer::RunInfo;
use cruciate_metrics::box_iou;
use cruciate_volume::{RoiBox, Volume};

use crate::decode::decode;
use crate::run::LocaliserSettings;
use crate::{DecodeSettings, LocaliseError};

/// The slice fractions tried.
const FRACTIONS: [f32; 9] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95];
/// The box scales tried.
const SCALES: [f64; 11] = [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1];

/// One validation exam: its maps, shape, grid and true box.
pub struct Evidence {
    /// `[slices, grid, grid]` probabilities.
    pub maps: Vec<f32>,
    /// The exam's shape.
    pub shape: [usize; 3],
    /// The true box.
    pub truth: RoiBox,
}

impl Evidence {
    /// The evidence of `exam` (with its box) given its maps.
    pub fn new(maps: Vec<f32>, exam: &Volume, truth: RoiBox) -> Self {
        Self {
            maps,
            shape: exam.shape,
            truth,
        }
    }
}

/// The settings, from `base`, whose slice fraction and box scale give the best mean IoU on
/// `evidence` (a grid of 9 x 11), and that mean.
pub fn calibrate(
    evidence: &[Evidence],
    grid: usize,
    base: &DecodeSettings,
) -> (DecodeSettings, f64) {
    let mut best = (*base, f64::MIN);
    for slice_fraction in FRACTIONS {
        for extent_scale in SCALES {
            let s = DecodeSettings {
                slice_fraction,
                extent_scale,
                ..*base
            };
            let total: f64 = evidence
                .iter()
                .map(|e| {
                    decode(&e.maps, e.shape, grid, &s).map_or(0.0, |f| box_iou(&f.roi, &e.truth))
                })
                .sum();
            let mean = total / evidence.len().max(1) as f64;
            if mean > best.1 {
                best = (s, mean);
            }
        }
    }
    best
}

/// The evidence of every exam of `split` with a box, the maps made by `maps`.
pub fn gather(
    manifest: &Manifest,
    split: Split,
    maps: impl Fn(&Volume) -> Vec<f32>,
) -> Result<Vec<Evidence>, LocaliseError> {
    let mut out = Vec::new();
    for row in manifest.split(split).filter(|r| r.roi.is_some()) {
        let exam = read_exam(manifest, row).map_err(|e| LocaliseError::Data(e.to_string()))?;
        if let Some(truth) = exam.roi.and_then(|b| b.clamp_to(exam.shape)) {
            out.push(Evidence::new(maps(&exam), &exam, truth));
        }
    }
    if out.is_empty() {
        return Err(LocaliseError::Data(format!(
            "the manifest has no {split} exams with an ACL box to choose the decoding on"
        )));
    }
    Ok(out)
}

/// Chooses the decoding settings of the localiser run `run` on the boxes of `manifest`'s
/// `split` and records them in its `run.json`; the settings and their mean IoU there.
pub fn calibrate_run(
    run: &Path,
    manifest: &Manifest,
    split: Split,
) -> Result<(DecodeSettings, f64), LocaliseError> {
    let info = RunInfo::read(run)
        .map_err(|e| LocaliseError::run(run, e.to_string()))?
        .ok_or_else(|| LocaliseError::run(run, "no run.json"))?;
    let localiser = crate::LocaliserRun::open(run, info.clone())
        .map_err(|e| LocaliseError::run(run, e.to_string()))?;
    let evidence = gather(manifest, split, |exam| localiser.maps(exam))?;
    let mut settings: LocaliserSettings = info
        .settings(run)
        .map_err(|e| LocaliseError::run(run, e.to_string()))?;
    let (chosen, mean) = calibrate(&evidence, settings.input.grid(), &settings.decode);
    settings.decode = chosen;
    let mut info = info;
    info.settings = serde_json::to_value(settings).expect("settings serialise");
    info.write(run)
        .map_err(|e| LocaliseError::run(run, e.to_string()))?;
    Ok((chosen, mean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, SourceMetadata};

    #[test]
    fn the_settings_that_fit_the_true_boxes_are_chosen() {
        // A blurred block: 1.0 inside the true box's cells, 0.6 in a ring one cell wide.
        let grid = 8;
        let mut maps = vec![0.0f32; 6 * grid * grid];
        for s in 2..4 {
            for r in 1..6 {
                for c in 1..6 {
                    let inside = (2..5).contains(&r) && (2..5).contains(&c);
                    maps[s * 64 + r * grid + c] = if inside { 1.0 } else { 0.6 };
                }
            }
        }
        let exam = Volume::new(
            vec![0.0; 6 * 64 * 64],
            [6, 64, 64],
            SourceMetadata::new(Format::Memory, "x"),
        )
        .unwrap();
        let truth = RoiBox {
            s0: 2,
            s1: 4,
            r0: 16,
            r1: 40,
            c0: 16,
            c1: 40,
        };
        let e = [Evidence::new(maps, &exam, truth)];
        let base = DecodeSettings::default();
        let unscaled = box_iou(
            &decode(&e[0].maps, e[0].shape, grid, &base).unwrap().roi,
            &truth,
        );
        let (chosen, mean) = calibrate(&e, grid, &base);
        assert!(
            unscaled < 0.8,
            "the fitted box takes some of the ring in: {unscaled}"
        );
        assert!(chosen.extent_scale < 1.0, "{chosen:?}");
        assert!(mean > 0.95 && mean > unscaled + 0.1, "{mean} vs {unscaled}");
    }
}
