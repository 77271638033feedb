//! Where a call came from: a heat map over the exam's own voxels, whatever the model looked at
//! (a crop, a resampled input), so that every consumer draws it on the original slices.

use cruciate_prep::InputGeometry;
use cruciate_volume::RoiBox;
use serde::{Deserialize, Serialize};

use crate::Prediction;

/// How an explanation is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExplainMethod {
    /// Class activation map (a linear head's weights on the last feature maps).
    Cam,
    /// Grad-CAM (gradients of the class score on the last feature maps; any head).
    GradCam,
    /// Occlusion sensitivity (how much hiding each region lowers the class probability; any
    /// model).
    Occlusion,
}

impl ExplainMethod {
    /// Every method.
    pub const ALL: [ExplainMethod; 3] = [
        ExplainMethod::Cam,
        ExplainMethod::GradCam,
        ExplainMethod::Occlusion,
    ];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            ExplainMethod::Cam => "cam",
            ExplainMethod::GradCam => "gradcam",
            ExplainMethod::Occlusion => "occlusion",
        }
    }

    /// The name people read ("Grad-CAM").
    pub fn title(self) -> &'static str {
        match self {
            ExplainMethod::Cam => "CAM",
            ExplainMethod::GradCam => "Grad-CAM",
            ExplainMethod::Occlusion => "occlusion sensitivity",
        }
    }
}

impl std::fmt::Display for ExplainMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ExplainMethod {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        ExplainMethod::ALL
            .into_iter()
            .find(|m| m.name() == text)
            .ok_or_else(|| format!("unknown method {text:?} (cam, gradcam or occlusion)"))
    }
}

/// What to explain: the method (the model's default when `None`) and the class (the called
/// one when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExplainRequest {
    /// Method, or the model's default.
    pub method: Option<ExplainMethod>,
    /// Class, or the one called.
    pub class: Option<usize>,
}

/// Heat over an exam's voxels, `[slices, rows, cols]`, 0 (cold) to 1 (the hottest voxel of the
/// exam), zero outside the region the model saw.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    /// The exam's shape.
    pub shape: [usize; 3],
    /// Heat per voxel, row-major, slice after slice.
    pub values: Vec<f32>,
    /// The part of the exam the model saw.
    pub region: RoiBox,
}

impl HeatMap {
    /// Heat scaled so that the hottest voxel is 1 (negative values become 0).
    pub fn normalised(shape: [usize; 3], mut values: Vec<f32>, region: RoiBox) -> Self {
        let top = values.iter().copied().fold(0.0f32, f32::max);
        for v in values.iter_mut() {
            *v = if top > 0.0 && v.is_finite() {
                v.max(0.0) / top
            } else {
                0.0
            };
        }
        Self {
            shape,
            values,
            region,
        }
    }

    /// Per-slice maps over a model's input (`[slices, h, w]` at any resolution; negative
    /// values count as none) as heat over the voxels of the exam of shape `exam_shape` that
    /// the input came from, by the input's `geometry`. The maps are scaled to their peak
    /// before resampling, which keeps their ratios.
    pub fn from_input_maps(
        exam_shape: [usize; 3],
        geometry: &InputGeometry,
        mut maps: Vec<f32>,
        dims: [usize; 3],
    ) -> Self {
        let top = maps.iter().copied().fold(0.0f32, f32::max);
        maps.iter_mut()
            .for_each(|v| *v = if top > 0.0 { v.max(0.0) / top } else { 0.0 });
        let values = geometry.to_source(&maps, dims);
        HeatMap::normalised(exam_shape, values, geometry.region)
    }

    /// The heat of slice `s`, `rows x cols`.
    pub fn slice(&self, s: usize) -> &[f32] {
        let per = self.shape[1] * self.shape[2];
        &self.values[s * per..(s + 1) * per]
    }

    /// The map placed inside a larger exam of shape `shape`, with this map's first voxel at
    /// `offset` (the corner of the crop the model saw).
    pub fn embedded(&self, shape: [usize; 3], offset: RoiBox) -> HeatMap {
        let [s, h, w] = self.shape;
        let [_, rows, cols] = shape;
        let mut values = vec![0.0; shape.iter().product()];
        for k in 0..s {
            for r in 0..h {
                let from = (k * h + r) * w;
                let to = ((offset.s0 + k) * rows + offset.r0 + r) * cols + offset.c0;
                values[to..to + w].copy_from_slice(&self.values[from..from + w]);
            }
        }
        let b = self.region;
        HeatMap {
            shape,
            values,
            region: RoiBox {
                s0: b.s0 + offset.s0,
                s1: b.s1 + offset.s0,
                r0: b.r0 + offset.r0,
                r1: b.r1 + offset.r0,
                c0: b.c0 + offset.c0,
                c1: b.c1 + offset.c0,
            },
        }
    }
}

/// Where a call came from, ready to draw on the exam.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The prediction explained.
    pub prediction: Prediction,
    /// How the map was computed.
    pub method: ExplainMethod,
    /// The class the map is for.
    pub target: usize,
    /// Each slice's share in the call, for the slices of `prediction.slices`; sums to 1.
    pub slice_importance: Vec<f64>,
    /// The heat over the exam.
    #[serde(skip)]
    pub heat: HeatMap,
}

impl Explanation {
    /// The source slice with the largest share in the call.
    pub fn key_slice(&self) -> usize {
        let mut best = 0;
        for (i, v) in self.slice_importance.iter().enumerate() {
            if *v > self.slice_importance[best] {
                best = i;
            }
        }
        self.prediction.slices[0] + best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_is_scaled_to_its_peak_and_embeds_at_the_crop_corner() {
        let region = RoiBox {
            s0: 0,
            s1: 1,
            r0: 0,
            r1: 2,
            c0: 0,
            c1: 2,
        };
        let map = HeatMap::normalised([1, 2, 2], vec![-1.0, 2.0, 4.0, f32::NAN], region);
        assert_eq!(map.values, vec![0.0, 0.5, 1.0, 0.0]);
        let offset = RoiBox {
            s0: 1,
            s1: 2,
            r0: 1,
            r1: 3,
            c0: 2,
            c1: 4,
        };
        let big = map.embedded([3, 4, 5], offset);
        assert_eq!(big.slice(1)[5 + 3], 0.5);
        assert_eq!(big.slice(1)[2 * 5 + 2], 1.0);
        assert_eq!(big.values.iter().filter(|&&v| v > 0.0).count(), 2);
        assert_eq!((big.region.s0, big.region.r0, big.region.c1), (1, 1, 4));
        assert_eq!("gradcam".parse(), Ok(ExplainMethod::GradCam));
        assert!("grad-cam".parse::<ExplainMethod>().is_err());
    }
}
