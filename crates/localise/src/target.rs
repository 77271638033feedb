//! What the network is trained to output for a box: each cell of each slice's map holds the
//! fraction of the cell the box covers (0 on slices outside the box's range).

use cruciate_volume::RoiBox;

/// The targets of slice `slice` of an exam of `shape` with ACL box `roi`, on a `grid x grid`
/// map (row-major).
pub fn cell_targets(roi: RoiBox, shape: [usize; 3], slice: usize, grid: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; grid * grid];
    if slice < roi.s0 || slice >= roi.s1 {
        return out;
    }
    let (rows, cols) = (shape[1] as f64, shape[2] as f64);
    let overlap =
        |lo: f64, hi: f64, a: usize, b: usize| (hi.min(b as f64) - lo.max(a as f64)).max(0.0);
    for i in 0..grid {
        let (r0, r1) = (
            i as f64 * rows / grid as f64,
            (i + 1) as f64 * rows / grid as f64,
        );
        let along_rows = overlap(r0, r1, roi.r0, roi.r1) / (r1 - r0);
        if along_rows == 0.0 {
            continue;
        }
        for j in 0..grid {
            let (c0, c1) = (
                j as f64 * cols / grid as f64,
                (j + 1) as f64 * cols / grid as f64,
            );
            out[i * grid + j] = (along_rows * overlap(c0, c1, roi.c0, roi.c1) / (c1 - c0)) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_hold_the_fraction_the_box_covers() {
        let roi = RoiBox {
            s0: 2,
            s1: 4,
            r0: 8,
            r1: 24,
            c0: 0,
            c1: 12,
        };
        let t = cell_targets(roi, [6, 32, 32], 3, 4);
        // Cells are 8 x 8: rows 8..24 are cells 1 and 2 whole; columns 0..12 are cell 0 whole
        // and half of cell 1.
        assert_eq!(t[4], 1.0);
        assert_eq!(t[5], 0.5);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[2 * 4], 1.0);
        assert!(
            cell_targets(roi, [6, 32, 32], 4, 4)
                .iter()
                .all(|&v| v == 0.0)
        );
        let total: f32 = t.iter().sum();
        assert!(
            (total * 64.0 - 16.0 * 12.0).abs() < 1e-3,
            "the covered area adds up"
        );
    }
}
