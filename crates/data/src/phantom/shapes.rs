//! 2-D shapes in the sagittal plane (mm): what the anatomy is drawn with.

/// A point or vector `(u, v)`: `u` anterior, `v` superior.
pub type P2 = [f32; 2];

/// `p` rotated by `angle` radians (counter-clockwise) about `centre`.
pub fn rotate(p: P2, centre: P2, angle: f32) -> P2 {
    rotate_by(p, centre, angle.sin_cos())
}

/// `p` rotated about `centre` by the angle whose `(sin, cos)` is given (for hot loops).
pub fn rotate_by(p: P2, centre: P2, (s, c): (f32, f32)) -> P2 {
    let (du, dv) = (p[0] - centre[0], p[1] - centre[1]);
    [centre[0] + c * du - s * dv, centre[1] + s * du + c * dv]
}

/// Position along segment `a`-`b` of the point nearest to `p` (0 at `a`, 1 at `b`) and the
/// signed distance of `p` from the segment's line (positive to the left of `a -> b`).
pub fn along_across(p: P2, a: P2, b: P2) -> (f32, f32) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = (dx * dx + dy * dy).max(1e-12);
    let t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2;
    let across = (dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / len2.sqrt();
    (t, across)
}

/// Distance from `p` to segment `a`-`b`.
pub fn segment_distance(p: P2, a: P2, b: P2) -> f32 {
    let (t, _) = along_across(p, a, b);
    let t = t.clamp(0.0, 1.0);
    let q = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
}

/// `(sin, cos)` of an angle, for shapes drawn in hot loops.
pub type Turn = (f32, f32);

/// No rotation.
pub const TURN_0: Turn = (0.0, 1.0);

/// `(p - centre)` in units of an ellipse with semi-axes `axes` turned by `turn` (the `(sin, cos)`
/// of its angle): below 1 inside.
pub fn ellipse_level(p: P2, centre: P2, axes: P2, turn: Turn) -> f32 {
    let q = if turn == TURN_0 {
        p
    } else {
        rotate_by(p, centre, (-turn.0, turn.1))
    };
    let (du, dv) = ((q[0] - centre[0]) / axes[0], (q[1] - centre[1]) / axes[1]);
    du * du + dv * dv
}

/// Distance from `p` to `centre`.
pub fn distance(p: P2, centre: P2) -> f32 {
    ((p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2)).sqrt()
}

/// Smooth value noise in `[-1, 1]` at scale 1 (call with coordinates divided by the grain).
pub fn value_noise(u: f32, v: f32, seed: u32) -> f32 {
    let (iu, iv) = (u.floor(), v.floor());
    let (fu, fv) = (u - iu, v - iv);
    let (su, sv) = (fu * fu * (3.0 - 2.0 * fu), fv * fv * (3.0 - 2.0 * fv));
    let h = |a: i32, b: i32| lattice(a, b, seed);
    let (a, b) = (iu as i32, iv as i32);
    let top = h(a, b) + (h(a + 1, b) - h(a, b)) * su;
    let bottom = h(a, b + 1) + (h(a + 1, b + 1) - h(a, b + 1)) * su;
    top + (bottom - top) * sv
}

fn lattice(a: i32, b: i32, seed: u32) -> f32 {
    let mut x = (a as u32).wrapping_mul(0x8da6_b343)
        ^ (b as u32).wrapping_mul(0xd816_3841)
        ^ seed.wrapping_mul(0xcb1a_b31f);
    x ^= x >> 15;
    x = x.wrapping_mul(0x2c1b_3c6d);
    x ^= x >> 12;
    x = x.wrapping_mul(0x297a_2d39);
    x ^= x >> 15;
    (x as f32 / u32::MAX as f32) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_geometry() {
        let (t, across) = along_across([1.0, 1.0], [0.0, 0.0], [2.0, 0.0]);
        assert_eq!((t, across), (0.5, 1.0));
        assert_eq!(segment_distance([3.0, 0.0], [0.0, 0.0], [2.0, 0.0]), 1.0);
        assert!(ellipse_level([0.0, 1.9], [0.0, 0.0], [1.0, 2.0], TURN_0) < 1.0);
        assert!(ellipse_level([1.9, 0.0], [0.0, 0.0], [1.0, 2.0], TURN_0) > 1.0);
        let quarter = std::f32::consts::FRAC_PI_2.sin_cos();
        assert!(ellipse_level([1.9, 0.0], [0.0, 0.0], [1.0, 2.0], quarter) < 1.0);
        let r = rotate([1.0, 0.0], [0.0, 0.0], std::f32::consts::FRAC_PI_2);
        assert!((r[0]).abs() < 1e-6 && (r[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn noise_is_bounded_smooth_and_deterministic() {
        let a = value_noise(3.3, 4.4, 9);
        assert_eq!(a, value_noise(3.3, 4.4, 9));
        assert!((-1.0..=1.0).contains(&a));
        assert!((value_noise(3.30, 4.4, 9) - value_noise(3.31, 4.4, 9)).abs() < 0.05);
    }
}
