//! Resizing slices to a model's input size.
//!
//! A separable triangle filter whose support grows with the shrink factor, as Pillow's
//! `BILINEAR` resize does: plain bilinear interpolation when enlarging, an antialiasing
//! average over every covered source pixel when shrinking (no aliasing of fine texture).
//! Pixel centres are aligned (`align_corners = false`).

use cruciate_volume::Volume;

/// For each output index, the first contributing source index and the weights.
fn weights(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    (0..dst)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(src);
            let mut w: Vec<f32> = (lo..hi)
                .map(|j| {
                    let x = (j as f64 + 0.5 - centre) / filter_scale;
                    (1.0 - x.abs()).max(0.0) as f32
                })
                .collect();
            let total: f32 = w.iter().sum();
            if total > 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            (lo, w)
        })
        .collect()
}

/// Resizes one `rows x cols` slice to `out_rows x out_cols`.
///
/// # Panics
/// When `slice.len() != rows * cols` (a caller's bug, not bad input).
pub fn resize_slice(
    slice: &[f32],
    rows: usize,
    cols: usize,
    out_rows: usize,
    out_cols: usize,
) -> Vec<f32> {
    assert_eq!(slice.len(), rows * cols, "slice length must be rows * cols");
    if (rows, cols) == (out_rows, out_cols) {
        return slice.to_vec();
    }
    let wx = weights(cols, out_cols);
    let mut horizontal = vec![0.0f32; rows * out_cols];
    for r in 0..rows {
        let src = &slice[r * cols..(r + 1) * cols];
        for (c, (lo, w)) in wx.iter().enumerate() {
            horizontal[r * out_cols + c] = w.iter().zip(&src[*lo..]).map(|(a, b)| a * b).sum();
        }
    }
    let wy = weights(rows, out_rows);
    let mut out = vec![0.0f32; out_rows * out_cols];
    for (r, (lo, w)) in wy.iter().enumerate() {
        let dst = &mut out[r * out_cols..(r + 1) * out_cols];
        for (k, weight) in w.iter().enumerate() {
            let src = &horizontal[(lo + k) * out_cols..(lo + k + 1) * out_cols];
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += weight * s);
        }
    }
    out
}

/// Every slice of `volume` resized to `rows x cols`; spacing and ROI follow the new grid.
pub fn resize_volume(volume: &Volume, rows: usize, cols: usize) -> Volume {
    let (r0, c0) = (volume.rows(), volume.cols());
    let mut data = Vec::with_capacity(volume.slices() * rows * cols);
    for s in 0..volume.slices() {
        let slice = volume.slice(s).expect("s < slices");
        data.extend(resize_slice(slice, r0, c0, rows, cols));
    }
    let (fr, fc) = (r0 as f64 / rows as f64, c0 as f64 / cols as f64);
    let mut out = volume.clone();
    out.data = data;
    out.shape = [volume.slices(), rows, cols];
    out.spacing = [
        volume.spacing[0],
        volume.spacing[1] * fr,
        volume.spacing[2] * fc,
    ];
    out.roi = volume.roi.and_then(|b| {
        let scale = |v: usize, f: f64| (v as f64 / f).round() as usize;
        cruciate_volume::RoiBox {
            r0: scale(b.r0, fr),
            r1: scale(b.r1, fr).max(scale(b.r0, fr) + 1),
            c0: scale(b.c0, fc),
            c1: scale(b.c1, fc).max(scale(b.c0, fc) + 1),
            ..b
        }
        .clamp_to(out.shape)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, SourceMetadata};

    #[test]
    fn identity_size_is_a_copy_and_constants_stay_constant() {
        let s: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_slice(&s, 3, 4, 3, 4), s);
        let flat = vec![5.0; 64];
        assert!(
            resize_slice(&flat, 8, 8, 3, 5)
                .iter()
                .all(|&v| (v - 5.0).abs() < 1e-5)
        );
        assert!(
            resize_slice(&flat, 8, 8, 17, 13)
                .iter()
                .all(|&v| (v - 5.0).abs() < 1e-5)
        );
    }

    #[test]
    fn enlarging_interpolates_linearly_between_centres() {
        // [0, 10] to 4 columns: centres at 0.25, 0.75, 1.25, 1.75 source pixels.
        let out = resize_slice(&[0.0, 10.0], 1, 2, 1, 4);
        assert_eq!(out, vec![0.0, 2.5, 7.5, 10.0]);
    }

    #[test]
    fn shrinking_averages_instead_of_aliasing() {
        // A one-pixel checkerboard halved: point sampling would give all 0 or all 1.
        let board: Vec<f32> = (0..64).map(|i| ((i / 8 + i % 8) % 2) as f32).collect();
        let out = resize_slice(&board, 8, 8, 4, 4);
        // Interior pixels average exactly; border pixels see a truncated filter.
        for r in 1..3 {
            for c in 1..3 {
                assert!((out[r * 4 + c] - 0.5).abs() < 1e-5, "{out:?}");
            }
        }
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 0.02), "{out:?}");
    }

    #[test]
    fn volume_resize_rescales_spacing_and_roi() {
        let meta = SourceMetadata::new(Format::Memory, "t");
        let mut v = Volume::new(vec![1.0; 2 * 8 * 8], [2, 8, 8], meta).unwrap();
        v.spacing = [3.0, 0.5, 0.5];
        v.roi = Some(cruciate_volume::RoiBox {
            s0: 0,
            s1: 2,
            r0: 2,
            r1: 6,
            c0: 4,
            c1: 8,
        });
        let out = resize_volume(&v, 4, 4);
        assert_eq!(out.shape, [2, 4, 4]);
        assert_eq!(out.spacing, [3.0, 1.0, 1.0]);
        let roi = out.roi.unwrap();
        assert_eq!((roi.r0, roi.r1, roi.c0, roi.c1), (1, 3, 2, 4));
        // A box thinner than a pixel of the result keeps one row; each axis scales alone.
        v.roi = Some(cruciate_volume::RoiBox {
            s0: 0,
            s1: 2,
            r0: 2,
            r1: 3,
            c0: 2,
            c1: 4,
        });
        let roi = resize_volume(&v, 2, 4).roi.unwrap();
        assert_eq!((roi.r0, roi.r1, roi.c0, roi.c1), (1, 2, 1, 2));
        let roi = resize_volume(&v, 4, 2).roi.unwrap();
        assert_eq!((roi.r0, roi.r1, roi.c0, roi.c1), (1, 2, 1, 2));
    }
}
