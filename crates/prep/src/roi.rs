//! Cropping to a region of interest, so that a model sees the ligament and not the whole knee.

use cruciate_volume::{RoiBox, Volume};

/// The part of `volume` inside `roi` widened by `margin` voxels on each side of each axis
/// `[slices, rows, cols]`, cut to the volume. `None` when the box misses the volume.
/// The ROI of the result is the original box in the new coordinates.
pub fn crop_roi(volume: &Volume, roi: RoiBox, margin: [usize; 3]) -> Option<Volume> {
    let inner = roi.clamp_to(volume.shape)?;
    let b = RoiBox {
        s0: inner.s0.saturating_sub(margin[0]),
        s1: inner.s1 + margin[0],
        r0: inner.r0.saturating_sub(margin[1]),
        r1: inner.r1 + margin[1],
        c0: inner.c0.saturating_sub(margin[2]),
        c1: inner.c1 + margin[2],
    }
    .clamp_to(volume.shape)?;
    let (rows, cols) = (b.r1 - b.r0, b.c1 - b.c0);
    let mut data = Vec::with_capacity((b.s1 - b.s0) * rows * cols);
    for s in b.s0..b.s1 {
        let slice = volume.slice(s)?;
        for r in b.r0..b.r1 {
            let at = r * volume.cols();
            data.extend_from_slice(&slice[at + b.c0..at + b.c1]);
        }
    }
    let mut out = volume.clone();
    out.data = data;
    out.shape = [b.s1 - b.s0, rows, cols];
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
    out.roi = Some(RoiBox {
        s0: inner.s0 - b.s0,
        s1: inner.s1 - b.s0,
        r0: inner.r0 - b.r0,
        r1: inner.r1 - b.r0,
        c0: inner.c0 - b.c0,
        c1: inner.c1 - b.c0,
    });
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
