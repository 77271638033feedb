//! From the network's maps to a box: the run of slices around the strongest peak, then the box
//! whose coverage best explains their mean map ([`crate::fit`]); or the reason there is no
//! plausible box.

use cruciate_volume::RoiBox;
use serde::{Deserialize, Serialize};

use crate::fit::fit_box;

/// How maps are read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecodeSettings {
    /// Below this peak probability nothing is found.
    pub min_peak: f32,
    /// Slices whose peak reaches this fraction of the strongest peak join its run.
    pub slice_fraction: f32,
    /// The box fitted to the mean map is scaled by this about its centre (the network's maps
    /// are smoother than the boxes it learnt, so the fitted box comes out a little large).
    pub extent_scale: f64,
    /// A box side under this fraction of the slice's side is implausibly small.
    pub min_side: f64,
    /// A box over this fraction of the slice's area is implausibly large.
    pub max_area: f64,
    /// A run over this fraction of the exam's slices is implausibly long.
    pub max_slices: f64,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        Self {
            min_peak: 0.3,
            slice_fraction: 0.5,
            extent_scale: 1.0,
            min_side: 0.03,
            max_area: 0.5,
            max_slices: 0.6,
        }
    }
}

/// A box found, with how sure the maps were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// The box in the exam's voxels.
    pub roi: RoiBox,
    /// The strongest cell probability.
    pub peak: f32,
    /// Each slice's strongest cell probability.
    pub slice_peaks: Vec<f32>,
}

/// The cells of the 4-connected region of cells `>= threshold` that holds cell `seed`.
fn region(map: &[f32], n: usize, seed: usize, threshold: f32) -> Vec<usize> {
    let mut seen = vec![false; map.len()];
    let mut stack = vec![seed];
    let mut cells = Vec::new();
    seen[seed] = true;
    while let Some(k) = stack.pop() {
        cells.push(k);
        let (r, c) = (k / n, k % n);
        let neighbours = [
            (r > 0).then(|| k - n),
            (r + 1 < n).then(|| k + n),
            (c > 0).then(|| k - 1),
            (c + 1 < n).then(|| k + 1),
        ];
        for m in neighbours.into_iter().flatten() {
            if !seen[m] && map[m] >= threshold {
                seen[m] = true;
                stack.push(m);
            }
        }
    }
    cells
}

/// The bounding box `[r0, r1, c0, c1]` of `cells` on an `n`-wide map.
fn bounds(cells: &[usize], n: usize) -> [usize; 4] {
    cells.iter().fold([usize::MAX, 0, usize::MAX, 0], |b, &k| {
        let (r, c) = (k / n, k % n);
        [b[0].min(r), b[1].max(r + 1), b[2].min(c), b[3].max(c + 1)]
    })
}

/// The ACL box of an exam of `shape` from its maps (`[slices, grid, grid]` probabilities), or
/// why there is no plausible one (nothing found, a tiny or huge box, too many slices).
pub fn decode(
    maps: &[f32],
    shape: [usize; 3],
    grid: usize,
    settings: &DecodeSettings,
) -> Result<Found, String> {
    let cells = grid * grid;
    if grid == 0 || maps.len() != shape[0] * cells || shape[0] == 0 {
        return Err("maps do not match the exam".into());
    }
    let slice_peaks: Vec<f32> = maps
        .chunks_exact(cells)
        .map(|m| m.iter().copied().fold(0.0, f32::max))
        .collect();
    let (best, peak) = slice_peaks
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |a, (s, p)| if p > a.1 { (s, p) } else { a });
    // NaN maps count as nothing found.
    if peak.is_nan() || peak < settings.min_peak {
        return Err(format!(
            "no ACL region found: the strongest cell is {peak:.2}, below {:.2}",
            settings.min_peak
        ));
    }
    let joins = |s: usize| slice_peaks[s] >= settings.slice_fraction * peak;
    let (mut s0, mut s1) = (best, best + 1);
    while s0 > 0 && joins(s0 - 1) {
        s0 -= 1;
    }
    while s1 < shape[0] && joins(s1) {
        s1 += 1;
    }
    let mut mean = vec![0.0f32; cells];
    for m in maps[s0 * cells..s1 * cells].chunks_exact(cells) {
        mean.iter_mut()
            .zip(m)
            .for_each(|(a, b)| *a += b / (s1 - s0) as f32);
    }
    // The box that best explains the run's mean map, started from the region above half of
    // its peak; the fitted box is scaled by `extent_scale` about its centre.
    let seed = (0..cells).fold(0, |a, k| if mean[k] > mean[a] { k } else { a });
    let [q0, q1, p0, p1] = bounds(&region(&mean, grid, seed, 0.5 * mean[seed]), grid);
    let fitted = fit_box(&mean, grid, [q0 as f64, q1 as f64, p0 as f64, p1 as f64]);
    let place = |lo: f64, hi: f64, side: usize| {
        let (centre, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0 * settings.extent_scale);
        let scale = side as f64 / grid as f64;
        let first = ((centre - half) * scale).round().clamp(0.0, side as f64) as usize;
        let end = ((centre + half) * scale).round().clamp(0.0, side as f64) as usize;
        (first, end.max(first + 1).min(side.max(first + 1)))
    };
    let (r0, r1) = place(fitted[0], fitted[1], shape[1]);
    let (c0, c1) = place(fitted[2], fitted[3], shape[2]);
    let roi = RoiBox {
        s0,
        s1,
        r0,
        r1,
        c0,
        c1,
    };
    let (h, w) = ((roi.r1 - roi.r0) as f64, (roi.c1 - roi.c0) as f64);
    if h < settings.min_side * shape[1] as f64 || w < settings.min_side * shape[2] as f64 {
        return Err(format!(
            "implausible ACL region: a tiny box of {h} x {w} voxels"
        ));
    }
    if h * w > settings.max_area * (shape[1] * shape[2]) as f64 {
        return Err(format!(
            "implausible ACL region: a box of {h} x {w} voxels covers most of the slice"
        ));
    }
    if (s1 - s0) as f64 > settings.max_slices * shape[0] as f64 {
        return Err(format!(
            "implausible ACL region: {} of {} slices",
            s1 - s0,
            shape[0]
        ));
    }
    Ok(Found {
        roi,
        peak,
        slice_peaks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maps of `slices` slices on a `grid` grid, `value` in `cells` (row, column) of `on`.
    fn maps(
        slices: usize,
        grid: usize,
        on: &[usize],
        cells: &[(usize, usize)],
        value: f32,
    ) -> Vec<f32> {
        let mut m = vec![0.02; slices * grid * grid];
        for &s in on {
            for &(r, c) in cells {
                m[s * grid * grid + r * grid + c] = value;
            }
        }
        m
    }

    #[test]
    fn a_block_of_confident_cells_becomes_its_box() {
        let cells: Vec<(usize, usize)> =
            (4..8).flat_map(|r| (6..10).map(move |c| (r, c))).collect();
        let m = maps(20, 16, &[9, 10, 11], &cells, 0.95);
        let found = decode(&m, [20, 128, 128], 16, &DecodeSettings::default()).unwrap();
        assert_eq!((found.roi.s0, found.roi.s1), (9, 12));
        // Cells 4..8 of 8 pixels: rows 32..64, columns 48..80, within a few pixels.
        for (got, want) in [
            (found.roi.r0, 32),
            (found.roi.r1, 64),
            (found.roi.c0, 48),
            (found.roi.c1, 80),
        ] {
            assert!(got.abs_diff(want) <= 6, "{:?}", found.roi);
        }
    }

    #[test]
    fn weak_tiny_huge_and_long_regions_are_refused_with_the_reason() {
        let s = DecodeSettings::default();
        let flat = maps(20, 16, &[], &[], 0.0);
        assert!(
            decode(&flat, [20, 128, 128], 16, &s)
                .unwrap_err()
                .contains("no ACL region")
        );
        let all: Vec<(usize, usize)> = (0..16).flat_map(|r| (0..16).map(move |c| (r, c))).collect();
        let huge = maps(20, 16, &[5], &all, 0.9);
        assert!(
            decode(&huge, [20, 128, 128], 16, &s)
                .unwrap_err()
                .contains("most of the slice")
        );
        let long = maps(
            20,
            16,
            &(0..20).collect::<Vec<_>>(),
            &[(3, 3), (3, 4), (4, 3), (4, 4)],
            0.9,
        );
        assert!(
            decode(&long, [20, 128, 128], 16, &s)
                .unwrap_err()
                .contains("slices")
        );
        let tiny = maps(20, 16, &[5], &[(3, 3)], 0.9);
        let tight = DecodeSettings { min_side: 0.2, ..s };
        assert!(
            decode(&tiny, [20, 128, 128], 16, &tight)
                .unwrap_err()
                .contains("tiny")
        );
        assert!(
            decode(&tiny, [20, 128, 128], 15, &s).is_err(),
            "maps of the wrong size"
        );
    }
}
