//! Where an explanation looks, against where the answer is: the share of a heat map inside the
//! ACL box (energy-based pointing, Wang et al. 2020) and the pointing game (does the hottest
//! voxel fall inside the box; Zhang et al. 2018).

use cruciate_volume::RoiBox;
use serde::Serialize;

/// A heat map measured against a box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeatInBox {
    /// Heat inside the box over all heat, 0..1.
    pub share: f64,
    /// Whether the hottest voxel (the first of equals) lies inside the box.
    pub hit: bool,
}

/// Measures `heat` (`shape` voxels, row-major) against `roi`; `None` when the map holds no
/// heat or the box lies outside the volume.
pub fn heat_in_box(heat: &[f32], shape: [usize; 3], roi: RoiBox) -> Option<HeatInBox> {
    let b = roi.clamp_to(shape)?;
    let [_, h, w] = shape;
    let inside = |i: usize| {
        let (s, r, c) = (i / (h * w), (i / w) % h, i % w);
        (b.s0..b.s1).contains(&s) && (b.r0..b.r1).contains(&r) && (b.c0..b.c1).contains(&c)
    };
    let positive = |v: f32| {
        if v.is_finite() {
            f64::from(v.max(0.0))
        } else {
            0.0
        }
    };
    let total: f64 = heat.iter().map(|&v| positive(v)).sum();
    if total <= 0.0 {
        return None;
    }
    let within: f64 = heat
        .iter()
        .enumerate()
        .filter(|(i, _)| inside(*i))
        .map(|(_, &v)| positive(v))
        .sum();
    let mut hottest = 0;
    for (i, &v) in heat.iter().enumerate() {
        if positive(v) > positive(heat[hottest]) {
            hottest = i;
        }
    }
    Some(HeatInBox {
        share: within / total,
        hit: inside(hottest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(s0: usize, s1: usize, r0: usize, r1: usize, c0: usize, c1: usize) -> RoiBox {
        RoiBox {
            s0,
            s1,
            r0,
            r1,
            c0,
            c1,
        }
    }

    #[test]
    fn heat_all_inside_gives_share_one_and_a_hit() {
        let shape = [2, 4, 4];
        let mut heat = vec![0.0f32; 32];
        heat[16 + 5] = 1.0; // slice 1, row 1, column 1
        heat[16 + 6] = 0.5;
        let r = heat_in_box(&heat, shape, boxed(1, 2, 1, 2, 1, 3)).unwrap();
        assert_eq!(
            r,
            HeatInBox {
                share: 1.0,
                hit: true
            }
        );
    }

    #[test]
    fn heat_split_by_the_box_counts_each_side() {
        let shape = [1, 2, 2];
        // Inside: the voxel at (0, 0, 0) with 1; outside: 3 at (0, 1, 1), the hottest.
        let heat = vec![1.0, 0.0, -2.0, 3.0];
        let r = heat_in_box(&heat, shape, boxed(0, 1, 0, 1, 0, 1)).unwrap();
        assert_eq!(
            r,
            HeatInBox {
                share: 0.25,
                hit: false
            }
        );
        assert_eq!(heat_in_box(&[0.0; 4], shape, boxed(0, 1, 0, 1, 0, 1)), None);
        assert_eq!(heat_in_box(&heat, shape, boxed(3, 4, 0, 1, 0, 1)), None);
    }

    #[test]
    fn only_voxels_inside_on_every_axis_count_and_ties_go_to_the_first() {
        let shape = [2, 2, 2];
        // In the box's slice and row but one column off; then the same heat inside.
        let mut heat = vec![0.0f32; 8];
        heat[1] = 2.0; // slice 0, row 0, column 1: outside (box columns 0..1)
        heat[4] = 2.0; // slice 1, row 0, column 0: outside (box slices 0..1)
        heat[0] = 1.0; // inside
        let r = heat_in_box(&heat, shape, boxed(0, 1, 0, 1, 0, 1)).unwrap();
        assert_eq!(r.share, 0.2);
        assert!(!r.hit);
        // Two hottest voxels, the first inside the box, the later one outside: a hit.
        let tied = vec![3.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0];
        assert!(
            heat_in_box(&tied, shape, boxed(0, 1, 0, 1, 0, 1))
                .unwrap()
                .hit
        );
        // The first inside a box that holds the later one instead: a miss.
        assert!(
            !heat_in_box(&tied, shape, boxed(1, 2, 1, 2, 1, 2))
                .unwrap()
                .hit
        );
    }
}
