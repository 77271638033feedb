//! Choosing the slices that carry the ACL: only a few central sagittal slices show it.

use std::ops::Range;

use cruciate_volume::Volume;

/// A half-open range of slice indices.
pub type SliceRange = Range<usize>;

/// The `n` slices around the centre of a stack of `total` (all of them when `n >= total`).
/// With an even excess the extra slice goes after the centre.
pub fn central_slices(total: usize, n: usize) -> SliceRange {
    let n = n.min(total);
    let start = (total - n) / 2;
    start..start + n
}

/// The `n` slices around slice `centre`, shifted to stay inside `0..total`.
pub fn slices_around(total: usize, centre: usize, n: usize) -> SliceRange {
    let n = n.min(total);
    let start = centre
        .saturating_sub(n.saturating_sub(1) / 2)
        .min(total - n);
    start..start + n
}

/// A volume holding only the slices in `range` (cut to the volume); the ROI and origin follow.
pub fn select_slices(volume: &Volume, range: SliceRange) -> Volume {
    let end = range.end.min(volume.slices());
    let start = range.start.min(end);
    let per = volume.rows() * volume.cols();
    let mut out = volume.clone();
    out.data = volume.data[start * per..end * per].to_vec();
    out.shape[0] = end - start;
    if let Some(o) = out.orientation.as_mut() {
        let step = volume.spacing[0] * start as f64;
        for (axis, d) in o.origin.iter_mut().zip(o.slice_direction) {
            *axis += d * step;
        }
    }
    out.roi = volume.roi.and_then(|b| {
        let shift = |v: usize| v.saturating_sub(start);
        cruciate_volume::RoiBox {
            s0: shift(b.s0),
            s1: shift(b.s1),
            ..b
        }
        .clamp_to(out.shape)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, RoiBox, SourceMetadata};

    #[test]
    fn central_slices_are_centred() {
        assert_eq!(central_slices(10, 4), 3..7);
        assert_eq!(central_slices(9, 3), 3..6);
        assert_eq!(central_slices(3, 8), 0..3);
        assert_eq!(central_slices(0, 2), 0..0);
    }

    #[test]
    fn slices_around_stay_inside_the_stack() {
        assert_eq!(slices_around(20, 10, 5), 8..13);
        assert_eq!(slices_around(20, 0, 5), 0..5);
        assert_eq!(slices_around(20, 19, 5), 15..20);
        assert_eq!(slices_around(4, 2, 9), 0..4);
    }

    #[test]
    fn selection_keeps_data_roi_and_origin_consistent() {
        let meta = SourceMetadata::new(Format::Memory, "t");
        let mut v = Volume::new((0..6 * 6).map(|x| x as f32).collect(), [6, 2, 3], meta).unwrap();
        v.roi = Some(RoiBox {
            s0: 3,
            s1: 5,
            r0: 0,
            r1: 1,
            c0: 0,
            c1: 2,
        });
        let o = cruciate_volume::Orientation {
            row_direction: [0., 1., 0.],
            column_direction: [0., 0., -1.],
            slice_direction: [1., 0., 0.],
            origin: [0.; 3],
        };
        v = v.with_orientation(o);
        v.spacing[0] = 3.0;
        let out = select_slices(&v, 2..6);
        assert_eq!(out.shape, [4, 2, 3]);
        assert_eq!(out.data, (12..36).map(|x| x as f32).collect::<Vec<_>>());
        let roi = out.roi.unwrap();
        assert_eq!((roi.s0, roi.s1), (1, 3));
        assert_eq!(out.orientation.unwrap().origin, [6.0, 0.0, 0.0]);
    }
}
