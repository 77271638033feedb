//! From a read exam to what an exam network sees: the slices (central ones, or those around the
//! ACL box cropped in-plane to a square around it), resampled to the input size and min-max
//! scaled to 0..255 bytes as MRNet's files are. The input remembers where it came from
//! ([`InputGeometry`]) so that anything computed on it, such as a heat map, can be put back on
//! the exam's own voxels.

use cruciate_volume::{RoiBox, Volume};
use serde::{Deserialize, Serialize};

use crate::PixelScale;
use crate::resample::{resize_slice, resize_volume};
use crate::roi::crop_to;
use crate::slices::{central_slices, slices_around};

/// Which part of an exam feeds the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The central `slices` slices, whole in-plane field of view.
    #[default]
    Central,
    /// The slices around the exam's ACL box, cropped in-plane to a square around it with a
    /// margin.
    Roi,
}

/// How exams become network inputs (the `[data]` section of a training config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Slices per exam (fewer when the exam has fewer).
    pub slices: usize,
    /// In-plane size after resampling (square).
    pub size: usize,
    /// Central slices or the ACL region.
    pub selection: Selection,
    /// Margin around the ROI in voxels (in-plane), for `selection = "roi"`.
    pub roi_margin: usize,
    /// How pixels are scaled for the backbone's weights; MRNet's standardisation when unset
    /// (training sets it from a weights file that records its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_scale: Option<PixelScale>,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            slices: 16,
            size: 128,
            selection: Selection::Central,
            roi_margin: 16,
            pixel_scale: None,
        }
    }
}

/// Why an exam cannot be made into an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The volume has too few voxels to resample.
    #[error("volume of shape {shape:?} is too small")]
    TooSmall {
        /// Its shape.
        shape: [usize; 3],
    },
    /// ROI selection was asked for but the exam has no ACL box inside the volume.
    #[error("selection = \"roi\" but the exam has no ACL box inside the volume")]
    NoRoi,
}

/// Where an input came from in its exam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputGeometry {
    /// Shape of the source exam, `[slices, rows, cols]`.
    pub source_shape: [usize; 3],
    /// The box of the source the input covers: its slices and its in-plane crop.
    pub region: RoiBox,
}

impl InputGeometry {
    /// The first source slice of the input.
    pub fn first_slice(&self) -> usize {
        self.region.s0
    }

    /// Per-slice maps over the input (`[slices, h, w]` at any resolution, one per input slice)
    /// resampled onto the source grid: each map stretched over the region's in-plane box of
    /// its slice, zero outside the region. Returns `[source slices, rows, cols]` values.
    pub fn to_source(&self, maps: &[f32], map_shape: [usize; 3]) -> Vec<f32> {
        let [_, rows, cols] = self.source_shape;
        let b = self.region;
        let (h, w) = (b.r1 - b.r0, b.c1 - b.c0);
        let [n, mh, mw] = map_shape;
        let mut out = vec![0.0f32; self.source_shape.iter().product()];
        for (k, map) in maps.chunks_exact((mh * mw).max(1)).take(n).enumerate() {
            let s = b.s0 + k;
            if s >= b.s1 {
                break;
            }
            let stretched = resize_slice(map, mh, mw, h, w);
            for r in 0..h {
                let at = (s * rows + b.r0 + r) * cols + b.c0;
                out[at..at + w].copy_from_slice(&stretched[r * w..(r + 1) * w]);
            }
        }
        out
    }
}

/// An exam as a network takes it, before standardisation.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedInput {
    /// Voxels `[slices, size, size]`, min-max scaled to 0..255.
    pub voxels: Vec<u8>,
    /// `[slices, size, size]`.
    pub shape: [usize; 3],
    /// Where the input came from.
    pub geometry: InputGeometry,
}

impl PreparedInput {
    /// The voxels as 0..255 floats.
    pub fn intensities(&self) -> Vec<f32> {
        self.voxels.iter().map(|&v| f32::from(v)).collect()
    }

    /// What a backbone takes: `intensities` (this input's, possibly augmented) repeated on three
    /// channels and scaled by `scale`, `[slices, 3, size, size]`.
    pub fn backbone_values(&self, intensities: &[f32], scale: PixelScale) -> Vec<f32> {
        let slices = self.shape[0];
        let mut values = crate::repeat_channels(intensities, slices, 3);
        scale.apply(&mut values, slices);
        values
    }
}

/// Selects and resamples `volume` as `config` says; ROI selection uses `volume.roi`.
pub fn prepare_input(volume: &Volume, config: &InputConfig) -> Result<PreparedInput, InputError> {
    if volume.slices() == 0 || volume.rows() < 2 || volume.cols() < 2 {
        return Err(InputError::TooSmall {
            shape: volume.shape,
        });
    }
    let [slices, rows, cols] = volume.shape;
    let region = match config.selection {
        Selection::Central => {
            let range = central_slices(slices, config.slices);
            RoiBox {
                s0: range.start,
                s1: range.end,
                r0: 0,
                r1: rows,
                c0: 0,
                c1: cols,
            }
        }
        Selection::Roi => {
            let roi = volume
                .roi
                .and_then(|r| r.clamp_to(volume.shape))
                .ok_or(InputError::NoRoi)?;
            let range = slices_around(slices, roi.centre_slice(), config.slices);
            RoiBox {
                s0: range.start,
                s1: range.end,
                ..square_box(roi, config.roi_margin, volume.shape)
            }
        }
    };
    let selected = crop_to(volume, region);
    let resized = resize_volume(&selected, config.size, config.size);
    Ok(PreparedInput {
        voxels: to_bytes(&resized.data),
        shape: resized.shape,
        geometry: InputGeometry {
            source_shape: volume.shape,
            region,
        },
    })
}

/// The ROI's in-plane box widened by `margin` and made square, within the volume.
fn square_box(roi: RoiBox, margin: usize, shape: [usize; 3]) -> RoiBox {
    let side = (roi.r1 - roi.r0).max(roi.c1 - roi.c0) + 2 * margin;
    let centred = |lo: usize, hi: usize, n: usize| {
        let side = side.min(n);
        let centre = (lo + hi) / 2;
        let start = centre.saturating_sub(side / 2).min(n - side);
        (start, start + side)
    };
    let (r0, r1) = centred(roi.r0, roi.r1, shape[1]);
    let (c0, c1) = centred(roi.c0, roi.c1, shape[2]);
    RoiBox {
        s0: roi.s0,
        s1: roi.s1,
        r0,
        r1,
        c0,
        c1,
    }
}

/// Min-max scaling to 0..255 bytes, as MRNet's first step (non-finite voxels become 0).
fn to_bytes(data: &[f32]) -> Vec<u8> {
    crate::minmax_255(data)
        .iter()
        .zip(data)
        .map(|(&s, v)| {
            if v.is_finite() {
                s.round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, SourceMetadata};

    fn ramp(shape: [usize; 3]) -> Volume {
        let n = shape.iter().product::<usize>();
        let data = (0..n).map(|i| i as f32).collect();
        Volume::new(data, shape, SourceMetadata::new(Format::Npy, "ramp")).unwrap()
    }

    #[test]
    fn central_selection_keeps_the_middle_and_scales_to_bytes() {
        let v = ramp([10, 40, 40]);
        let config = InputConfig {
            slices: 4,
            size: 32,
            ..InputConfig::default()
        };
        let input = prepare_input(&v, &config).unwrap();
        assert_eq!(input.shape, [4, 32, 32]);
        assert_eq!(input.geometry.first_slice(), 3);
        assert_eq!(input.voxels.len(), 4 * 32 * 32);
        assert_eq!(*input.voxels.iter().min().unwrap(), 0);
        assert_eq!(*input.voxels.iter().max().unwrap(), 255);
        assert_eq!(
            input.intensities(),
            input.voxels.iter().map(|&v| v as f32).collect::<Vec<_>>()
        );
        assert_eq!(
            input.geometry.region,
            RoiBox {
                s0: 3,
                s1: 7,
                r0: 0,
                r1: 40,
                c0: 0,
                c1: 40
            }
        );
    }

    #[test]
    fn roi_selection_needs_a_box_and_centres_on_it() {
        let mut v = ramp([20, 100, 100]);
        let config = InputConfig {
            slices: 5,
            size: 32,
            selection: Selection::Roi,
            roi_margin: 5,
            pixel_scale: None,
        };
        assert_eq!(prepare_input(&v, &config), Err(InputError::NoRoi));
        // Taller than wide: the square's side is the height and two margins, centred on the
        // box; the slices are the five around the box's centre slice, not the box's own three.
        let roi = RoiBox {
            s0: 12,
            s1: 15,
            r0: 40,
            r1: 70,
            c0: 60,
            c1: 80,
        };
        v.roi = Some(roi);
        let input = prepare_input(&v, &config).unwrap();
        assert_eq!(input.shape, [5, 32, 32]);
        let expected = RoiBox {
            s0: 11,
            s1: 16,
            r0: 35,
            r1: 75,
            c0: 50,
            c1: 90,
        };
        assert_eq!(input.geometry.region, expected);
        // At the edge of the image the square moves inside it rather than shrinking.
        v.roi = Some(RoiBox {
            r0: 90,
            r1: 100,
            c0: 0,
            c1: 10,
            ..roi
        });
        let b = prepare_input(&v, &config).unwrap().geometry.region;
        assert_eq!((b.r0, b.r1, b.c0, b.c1), (80, 100, 0, 20));
    }

    #[test]
    fn maps_go_back_onto_the_region_of_the_source_grid() {
        let geometry = InputGeometry {
            source_shape: [4, 6, 8],
            region: RoiBox {
                s0: 1,
                s1: 3,
                r0: 1,
                r1: 4,
                c0: 4,
                c1: 8,
            },
        };
        // Two constant 1x2 maps: 0.5 on the first input slice, 1.0 on the second.
        let out = geometry.to_source(&[0.5, 0.5, 1.0, 1.0], [2, 1, 2]);
        assert_eq!(out.len(), 4 * 6 * 8);
        let at = |s: usize, r: usize, c: usize| out[(s * 6 + r) * 8 + c];
        assert_eq!(at(1, 2, 4), 0.5);
        assert_eq!(at(1, 3, 7), 0.5);
        assert_eq!(at(2, 2, 5), 1.0);
        assert_eq!(at(1, 1, 4), 0.5);
        assert_eq!(at(1, 0, 4), 0.0, "above the region");
        assert_eq!(at(1, 4, 4), 0.0, "below the region");
        assert_eq!(at(1, 2, 3), 0.0, "left of the region");
        assert_eq!(at(0, 2, 4), 0.0, "a slice the input did not cover");
        assert_eq!(out.iter().filter(|&&v| v > 0.0).count(), 2 * 3 * 4);
    }

    #[test]
    fn an_empty_volume_is_refused_in_words() {
        let v = ramp([1, 1, 5]);
        let e = prepare_input(&v, &InputConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "volume of shape [1, 1, 5] is too small");
        for shape in [[1, 5, 1], [0, 5, 5]] {
            assert_eq!(
                prepare_input(&ramp(shape), &InputConfig::default()),
                Err(InputError::TooSmall { shape })
            );
        }
        // Two by two is the least that can be resampled.
        assert!(prepare_input(&ramp([1, 2, 2]), &InputConfig::default()).is_ok());
    }
}
