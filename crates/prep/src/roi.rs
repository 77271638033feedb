//! Cropping to a region of interest, so that a model sees the ligament and not the whole knee.

use cruciate_volume::{RoiBox, Volume};

/// The box `roi` widened by `margin` voxels on each side (slices, rows, columns), cut to a
/// volume of `shape`; `None` when nothing of `roi` lies inside the volume.
pub fn margin_box(roi: RoiBox, margin: [usize; 3], shape: [usize; 3]) -> Option<RoiBox> {
    let inner = roi.clamp_to(shape)?;
    RoiBox {
        s0: inner.s0.saturating_sub(margin[0]),
        s1: inner.s1 + margin[0],
        r0: inner.r0.saturating_sub(margin[1]),
        r1: inner.r1 + margin[1],
        c0: inner.c0.saturating_sub(margin[2]),
        c1: inner.c1 + margin[2],
    }
    .clamp_to(shape)
}

/// The part of `volume` inside `region` (which must lie inside the volume), with its origin
/// moved and its ROI expressed in the cropped grid.
pub fn crop_to(volume: &Volume, region: RoiBox) -> Volume {
    let b = region;
    let (rows, cols) = (b.r1 - b.r0, b.c1 - b.c0);
    let mut data = Vec::with_capacity((b.s1 - b.s0) * rows * cols);
    for s in b.s0..b.s1 {
        let Some(slice) = volume.slice(s) else {
            break;
        };
        for r in b.r0..b.r1 {
            let at = r * volume.cols();
            data.extend_from_slice(&slice[at + b.c0..at + b.c1]);
        }
    }
    // Field by field: cloning the whole volume would copy every voxel only to drop them.
    let mut out = Volume {
        data,
        shape: [b.s1 - b.s0, rows, cols],
        spacing: volume.spacing,
        orientation: volume.orientation,
        plane: volume.plane,
        roi: None,
        meta: volume.meta.clone(),
    };
    if let Some(o) = out.orientation.as_mut() {
        let shift = [
            b.s0 as f64 * volume.spacing[0],
            b.r0 as f64 * volume.spacing[1],
            b.c0 as f64 * volume.spacing[2],
        ];
        let dirs = [o.slice_direction, o.column_direction, o.row_direction];
        for (d, k) in dirs.iter().zip(shift) {
            for (origin, step) in o.origin.iter_mut().zip(d) {
                *origin += step * k;
            }
        }
    }
    out.roi = volume
        .roi
        .and_then(|inner| in_region(inner, region, out.shape));
    out
}

/// `inner`, a box of the source grid, in the grid of `region` of shape `shape`.
fn in_region(inner: RoiBox, region: RoiBox, shape: [usize; 3]) -> Option<RoiBox> {
    let shift = |v: usize, by: usize| v.saturating_sub(by);
    RoiBox {
        s0: shift(inner.s0, region.s0),
        s1: shift(inner.s1, region.s0),
        r0: shift(inner.r0, region.r0),
        r1: shift(inner.r1, region.r0),
        c0: shift(inner.c0, region.c0),
        c1: shift(inner.c1, region.c0),
    }
    .clamp_to(shape)
}

/// The part of `volume` inside `roi` widened by `margin` (see [`margin_box`]), with the ROI set
/// to `roi` in the cropped grid; `None` when `roi` lies outside the volume.
pub fn crop_roi(volume: &Volume, roi: RoiBox, margin: [usize; 3]) -> Option<Volume> {
    let region = margin_box(roi, margin, volume.shape)?;
    let mut out = crop_to(volume, region);
    out.roi = in_region(roi, region, out.shape);
    out.meta.cut_from = Some(region);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, SourceMetadata};

    fn numbered(shape: [usize; 3]) -> Volume {
        let n = shape.iter().product::<usize>();
        Volume::new(
            (0..n).map(|v| v as f32).collect(),
            shape,
            SourceMetadata::new(Format::Memory, "t"),
        )
        .unwrap()
    }

    #[test]
    fn crop_takes_the_box_plus_margin_cut_to_the_volume() {
        let v = numbered([3, 4, 5]);
        let roi = RoiBox {
            s0: 1,
            s1: 2,
            r0: 1,
            r1: 2,
            c0: 1,
            c1: 3,
        };
        let out = crop_roi(&v, roi, [0, 1, 1]).unwrap();
        assert_eq!(out.shape, [1, 3, 4]);
        // Slice 1 starts at 20; rows 0..3, cols 0..4.
        assert_eq!(&out.data[..4], &[20.0, 21.0, 22.0, 23.0]);
        assert_eq!(&out.data[4..8], &[25.0, 26.0, 27.0, 28.0]);
        let inner = out.roi.unwrap();
        assert_eq!(
            (inner.s0, inner.r0, inner.r1, inner.c0, inner.c1),
            (0, 1, 2, 1, 3)
        );
    }

    #[test]
    fn margins_widen_every_axis_within_the_volume() {
        let roi = RoiBox {
            s0: 1,
            s1: 2,
            r0: 2,
            r1: 3,
            c0: 0,
            c1: 4,
        };
        let wide = margin_box(roi, [1, 2, 3], [5, 8, 5]).unwrap();
        assert_eq!(
            wide,
            RoiBox {
                s0: 0,
                s1: 3,
                r0: 0,
                r1: 5,
                c0: 0,
                c1: 5
            }
        );
    }

    #[test]
    fn a_crop_keeps_its_voxels_and_moves_origin_and_box_with_it() {
        let shape = [4, 5, 6];
        let mut v = numbered(shape).with_orientation(cruciate_volume::Orientation {
            row_direction: [0.0, 1.0, 0.0],
            column_direction: [0.0, 0.0, -1.0],
            slice_direction: [1.0, 0.0, 0.0],
            origin: [10.0, 20.0, 30.0],
        });
        v.spacing = [3.0, 0.5, 0.25];
        v.roi = Some(RoiBox {
            s0: 2,
            s1: 3,
            r0: 2,
            r1: 4,
            c0: 3,
            c1: 4,
        });
        let region = RoiBox {
            s0: 1,
            s1: 3,
            r0: 1,
            r1: 4,
            c0: 2,
            c1: 5,
        };
        let out = crop_to(&v, region);
        assert_eq!(out.shape, [2, 3, 3]);
        let mut expected = Vec::new();
        for s in 1..3 {
            for r in 1..4 {
                for c in 2..5 {
                    expected.push(((s * 5 + r) * 6 + c) as f32);
                }
            }
        }
        assert_eq!(out.data, expected);
        // The first voxel's position: 1 slice of 3 mm along x, 1 row of 0.5 mm down -z,
        // 2 columns of 0.25 mm along y.
        assert_eq!(out.orientation.unwrap().origin, [13.0, 20.5, 29.5]);
        assert_eq!(
            out.roi,
            Some(RoiBox {
                s0: 1,
                s1: 2,
                r0: 1,
                r1: 3,
                c0: 1,
                c1: 2
            })
        );
    }

    #[test]
    fn a_box_outside_the_volume_gives_none() {
        let v = numbered([2, 2, 2]);
        assert!(
            crop_roi(
                &v,
                RoiBox {
                    s0: 5,
                    s1: 6,
                    r0: 0,
                    r1: 1,
                    c0: 0,
                    c1: 1
                },
                [1, 1, 1]
            )
            .is_none()
        );
    }
}
