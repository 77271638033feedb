//! From a read volume to what the network sees: slice selection (central or ACL region),
//! in-plane resampling, and MRNet's intensity scaling, kept as bytes until a batch is made.

use cruciate_prep::resample::resize_volume;
use cruciate_prep::slices::{central_slices, select_slices, slices_around};
use cruciate_volume::{RoiBox, Volume};

use crate::config::{DataConfig, Selection};

/// One exam ready for the network: `[slices, size, size]` intensities scaled to 0..255.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedExam {
    /// The exam's identifier.
    pub exam_id: String,
    /// Its class for the task at hand.
    pub class: usize,
    /// Its ACL grade 0..3.
    pub grade: u8,
    /// Voxels, `[slices, size, size]`, 0..255.
    pub data: Vec<u8>,
    /// `[slices, size, size]`.
    pub shape: [usize; 3],
    /// Index in the source volume of the first selected slice.
    pub first_slice: usize,
}

impl PreparedExam {
    /// The network input before augmentation: the voxels as 0..255 floats.
    pub fn intensities(&self) -> Vec<f32> {
        self.data.iter().map(|&v| f32::from(v)).collect()
    }
}

/// Selects and resamples `volume` as `config` says. `roi` (the manifest's box, else the
/// volume's) is needed for ROI selection. Errors are one-line reasons.
pub fn prepare_volume(
    volume: &Volume,
    roi: Option<RoiBox>,
    config: &DataConfig,
) -> Result<(Vec<u8>, [usize; 3], usize), String> {
    if volume.slices() == 0 || volume.rows() < 2 || volume.cols() < 2 {
        return Err(format!("volume of shape {:?} is too small", volume.shape));
    }
    let (range, cropped) = match config.selection {
        Selection::Central => (central_slices(volume.slices(), config.slices), None),
        Selection::Roi => {
            let roi = roi
                .or(volume.roi)
                .and_then(|r| r.clamp_to(volume.shape))
                .ok_or("selection = \"roi\" but the exam has no ACL box inside the volume")?;
            let range = slices_around(volume.slices(), roi.centre_slice(), config.slices);
            (
                range,
                Some(square_box(roi, config.roi_margin, volume.shape)),
            )
        }
    };
    let first = range.start;
    let mut selected = select_slices(volume, range);
    if let Some(b) = cropped {
        let b = RoiBox {
            s0: 0,
            s1: selected.slices(),
            ..b
        };
        selected = cruciate_prep::roi::crop_roi(&selected, b, [0, 0, 0])
            .ok_or("the ACL box lies outside the volume")?;
    }
    let resized = resize_volume(&selected, config.size, config.size);
    Ok((to_bytes(&resized.data), resized.shape, first))
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
    cruciate_prep::minmax_255(data)
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
        let config = DataConfig {
            slices: 4,
            size: 32,
            ..DataConfig::default()
        };
        let (data, shape, first) = prepare_volume(&v, None, &config).unwrap();
        assert_eq!(shape, [4, 32, 32]);
        assert_eq!(first, 3);
        assert_eq!(data.len(), 4 * 32 * 32);
        assert_eq!(*data.iter().min().unwrap(), 0);
        assert_eq!(*data.iter().max().unwrap(), 255);
    }

    #[test]
    fn roi_selection_needs_a_box_and_centres_on_it() {
        let v = ramp([20, 100, 100]);
        let config = DataConfig {
            slices: 3,
            size: 32,
            selection: Selection::Roi,
            roi_margin: 5,
        };
        assert!(prepare_volume(&v, None, &config).is_err());
        let roi = RoiBox {
            s0: 12,
            s1: 15,
            r0: 40,
            r1: 50,
            c0: 60,
            c1: 80,
        };
        let (_, shape, first) = prepare_volume(&v, Some(roi), &config).unwrap();
        assert_eq!(shape, [3, 32, 32]);
        assert_eq!(first, 12);
        let b = square_box(roi, 5, v.shape);
        assert_eq!((b.r1 - b.r0, b.c1 - b.c0), (30, 30));
        assert!(b.r0 <= 40 && b.r1 >= 50 && b.c0 <= 60 && b.c1 >= 80);
    }
}
