//! The box whose coverage best explains a map. The network is trained to output, for each
//! cell, the fraction of it the ACL box covers; so the box is read back as the one whose
//! coverage map, scaled and offset (`a * coverage + b`, `a > 0`, fitted by least squares),
//! leaves the smallest residual. Edges land between cell borders, finer than the grid, and the
//! centre does not drift toward whichever side of a threshold a blurred map happens to cross.
//!
//! Written here because it is a few dozen lines of arithmetic on a 16 x 16 map: a general
//! optimiser crate would add a dependency for a coordinate search over four numbers.

/// A box on a map, in cells (fractions allowed): `[row start, row end, column start, column end]`.
pub type CellBox = [f64; 4];

/// The smallest side a fitted box may shrink to, cells.
const MIN_SIDE: f64 = 0.25;
/// How far each edge is first searched either way, cells; halved each round.
const FIRST_SPAN: f64 = 1.5;
/// Candidates on each side of an edge per round.
const STEPS: usize = 12;
/// Rounds of the search.
const ROUNDS: usize = 6;

/// The fraction of each of `n` cells that `[lo, hi)` covers.
fn coverage(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (hi.min(i as f64 + 1.0) - lo.max(i as f64)).clamp(0.0, 1.0))
        .collect()
}

/// What fitting the box leaves unexplained: the residual sum of squares of the best
/// `a * coverage + b` with `a > 0` (a box no brighter than its surroundings explains nothing).
fn residual(map: &[f32], grid: usize, b: &CellBox) -> f64 {
    let (rows, cols) = (coverage(b[0], b[1], grid), coverage(b[2], b[3], grid));
    let n = (grid * grid) as f64;
    let (mut sm, mut sy, mut smm, mut smy, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, r) in rows.iter().enumerate() {
        for (j, c) in cols.iter().enumerate() {
            let (m, y) = (r * c, f64::from(map[i * grid + j]));
            sm += m;
            sy += y;
            smm += m * m;
            smy += m * y;
            syy += y * y;
        }
    }
    let var_y = syy - sy * sy / n;
    let var_m = smm - sm * sm / n;
    let cov = smy - sm * sy / n;
    if var_m <= 1e-12 || cov <= 0.0 {
        return var_y;
    }
    var_y - cov * cov / var_m
}

/// The box, starting from `start`, whose coverage best explains `map` (`grid x grid`,
/// row-major): a coordinate search over the four edges with a shrinking step.
pub fn fit_box(map: &[f32], grid: usize, start: CellBox) -> CellBox {
    let side = grid as f64;
    let valid = |b: &CellBox| {
        b[1] - b[0] >= MIN_SIDE
            && b[3] - b[2] >= MIN_SIDE
            && b.iter().all(|&v| (0.0..=side).contains(&v))
    };
    let mut best = start;
    let mut cost = residual(map, grid, &best);
    let mut span = FIRST_SPAN;
    for _ in 0..ROUNDS {
        for edge in 0..4 {
            let around = best[edge];
            for k in 1..=STEPS {
                for sign in [-1.0, 1.0] {
                    let mut b = best;
                    b[edge] = around + sign * span * k as f64 / STEPS as f64;
                    if !valid(&b) {
                        continue;
                    }
                    let c = residual(map, grid, &b);
                    if c < cost {
                        (best, cost) = (b, c);
                    }
                }
            }
        }
        span /= 2.0;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coverage map of `b` as a network trained on it would draw it, `scale * cover + floor`.
    fn drawn(b: CellBox, grid: usize, scale: f32, floor: f32) -> Vec<f32> {
        let (rows, cols) = (coverage(b[0], b[1], grid), coverage(b[2], b[3], grid));
        rows.iter()
            .flat_map(|r| cols.iter().map(move |c| floor + scale * (r * c) as f32))
            .collect()
    }

    #[test]
    fn a_box_between_cell_borders_is_found_from_a_rough_start() {
        let truth = [4.3, 8.6, 6.2, 9.9];
        let map = drawn(truth, 16, 0.8, 0.05);
        let found = fit_box(&map, 16, [4.0, 10.0, 5.0, 10.0]);
        for (f, t) in found.iter().zip(truth) {
            assert!((f - t).abs() < 0.05, "{found:?} vs {truth:?}");
        }
    }

    #[test]
    fn a_blurred_map_keeps_its_centre() {
        // Spread each cell into its neighbours: the box grows, its centre stays.
        let truth = [5.0, 9.0, 3.5, 8.5];
        let sharp = drawn(truth, 16, 1.0, 0.0);
        let mut blurred = vec![0.0f32; 256];
        for i in 0..16usize {
            for j in 0..16usize {
                let mut sum = 0.0;
                for (di, dj) in [(0, 0), (0, 1), (1, 0), (0, -1), (-1, 0)] {
                    let (a, b) = (i as i64 + di, j as i64 + dj);
                    if (0..16).contains(&a) && (0..16).contains(&b) {
                        sum += sharp[(a * 16 + b) as usize];
                    }
                }
                blurred[i * 16 + j] = sum / 5.0;
            }
        }
        let found = fit_box(&blurred, 16, [4.0, 10.0, 3.0, 9.0]);
        let centre = |b: &CellBox| [(b[0] + b[1]) / 2.0, (b[2] + b[3]) / 2.0];
        let (f, t) = (centre(&found), centre(&truth));
        assert!(
            (f[0] - t[0]).abs() < 0.1 && (f[1] - t[1]).abs() < 0.1,
            "{found:?}"
        );
    }

    #[test]
    fn a_flat_map_leaves_the_start_alone() {
        let start = [2.0, 5.0, 2.0, 5.0];
        assert_eq!(fit_box(&[0.3; 64], 8, start), start);
    }
}
