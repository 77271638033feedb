//! On-the-fly MRI augmentation of a training exam: one random in-plane geometry for all its
//! slices (flip, rotation, translation, zoom) and intensity changes the scanner could produce
//! (gamma, global scale, Gaussian noise, a smooth bias field, motion ghosting), each drawn with
//! its own probability. Works on 0..255 intensities before standardisation.
//!
//! Written here rather than taken from a crate: no Rust crate offers MRI-specific corruptions
//! (TorchIO's bias field and ghosting are the models), and the geometric part is a few lines of
//! inverse mapping with bilinear sampling.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Augmentation probabilities (0 = off) and strengths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Probability of an in-plane left-right flip.
    pub flip: f64,
    /// Probability of an in-plane rotation of up to `rotate_degrees`.
    pub rotate: f64,
    /// Largest rotation, degrees.
    pub rotate_degrees: f64,
    /// Probability of a translation of up to `translate_fraction` of the image.
    pub translate: f64,
    /// Largest translation, fraction of the side.
    pub translate_fraction: f64,
    /// Probability of a zoom by a factor within `1 ± scale_range`.
    pub scale: f64,
    /// Largest relative zoom.
    pub scale_range: f64,
    /// Probability of a gamma change within `1 ± gamma_range`.
    pub gamma: f64,
    /// Largest relative gamma change.
    pub gamma_range: f64,
    /// Probability of an intensity scaling within `1 ± intensity_range`.
    pub intensity: f64,
    /// Largest relative intensity change.
    pub intensity_range: f64,
    /// Probability of Gaussian noise.
    pub noise: f64,
    /// Noise standard deviation, in 0..255 intensity units.
    pub noise_std: f64,
    /// Probability of a smooth multiplicative bias field.
    pub bias_field: f64,
    /// Largest bias-field amplitude (fraction of intensity).
    pub bias_strength: f64,
    /// Probability of motion ghosting (faint shifted replicas along the phase direction).
    pub ghosting: f64,
    /// Largest ghost intensity relative to the image.
    pub ghost_strength: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            flip: 0.0,
            rotate: 0.0,
            rotate_degrees: 10.0,
            translate: 0.0,
            translate_fraction: 0.08,
            scale: 0.0,
            scale_range: 0.1,
            gamma: 0.0,
            gamma_range: 0.3,
            intensity: 0.0,
            intensity_range: 0.15,
            noise: 0.0,
            noise_std: 6.0,
            bias_field: 0.0,
            bias_strength: 0.3,
            ghosting: 0.0,
            ghost_strength: 0.15,
        }
    }
}

impl AugmentConfig {
    /// Each probability by name, for validation and reports.
    pub fn probabilities(&self) -> [(&'static str, f64); 9] {
        [
            ("flip", self.flip),
            ("rotate", self.rotate),
            ("translate", self.translate),
            ("scale", self.scale),
            ("gamma", self.gamma),
            ("intensity", self.intensity),
            ("noise", self.noise),
            ("bias_field", self.bias_field),
            ("ghosting", self.ghosting),
        ]
    }
}

/// Augments `data`, `[slices, rows, cols]` of 0..255 intensities, in place: one
/// [`AugmentDraw`] from `rng`, applied.
pub fn augment<R: Rng>(data: &mut [f32], shape: [usize; 3], config: &AugmentConfig, rng: &mut R) {
    AugmentDraw::sample(config, [shape[1], shape[2]], rng).apply(data, shape, rng);
}

/// What one exam's augmentation is, once drawn: the same for all its slices, so that it can be
/// logged, replayed or checked apart from the randomness that chose it.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentDraw {
    /// Mirror left-right (after rotating and zooming).
    pub flip: bool,
    /// Rotation about the image centre, radians, counter-clockwise as displayed (rows down).
    pub angle: f64,
    /// Shift in pixels, rows then columns (applied last).
    pub shift: [f64; 2],
    /// Zoom about the image centre (above 1 enlarges).
    pub zoom: f64,
    /// Gamma: `255 (v / 255)^gamma`.
    pub gamma: Option<f64>,
    /// One factor for every voxel.
    pub intensity: Option<f32>,
    /// Bias field `exp(k0 u + k1 v + k2 u² + k3 v² + k4 u v)`, `u` and `v` running from -1 to 1
    /// down the rows and across the columns.
    pub bias: Option<[f64; 5]>,
    /// Motion ghosting: strength of the first ghost and the number of ghosts.
    pub ghosting: Option<(f32, usize)>,
    /// Standard deviation of the Gaussian noise added last (drawn when applied).
    pub noise_std: Option<f64>,
}

impl AugmentDraw {
    /// Draws each augmentation of `config` with its probability, for slices of `[rows, cols]`.
    pub fn sample<R: Rng>(config: &AugmentConfig, [rows, cols]: [usize; 2], rng: &mut R) -> Self {
        let hit = |p: f64, rng: &mut R| p > 0.0 && rng.random::<f64>() < p;
        let unit = |rng: &mut R| rng.random_range(-1.0..=1.0);
        let flip = hit(config.flip, rng);
        let angle = if hit(config.rotate, rng) {
            unit(rng) * config.rotate_degrees.to_radians()
        } else {
            0.0
        };
        let shift = if hit(config.translate, rng) {
            let ty = unit(rng) * config.translate_fraction * rows as f64;
            [ty, unit(rng) * config.translate_fraction * cols as f64]
        } else {
            [0.0, 0.0]
        };
        let zoom = if hit(config.scale, rng) {
            1.0 + unit(rng) * config.scale_range
        } else {
            1.0
        };
        let gamma = hit(config.gamma, rng).then(|| 1.0 + unit(rng) * config.gamma_range);
        let intensity =
            hit(config.intensity, rng).then(|| (1.0 + unit(rng) * config.intensity_range) as f32);
        let bias = hit(config.bias_field, rng)
            .then(|| std::array::from_fn(|_| unit(rng) * config.bias_strength));
        let ghosting = hit(config.ghosting, rng).then(|| {
            let strength = rng.random_range(0.3..=1.0) * config.ghost_strength;
            (strength as f32, rng.random_range(1..=3usize))
        });
        let noise_std =
            (hit(config.noise, rng) && config.noise_std > 0.0).then_some(config.noise_std);
        Self {
            flip,
            angle,
            shift,
            zoom,
            gamma,
            intensity,
            bias,
            ghosting,
            noise_std,
        }
    }

    /// Applies the draw to `data`, `[slices, rows, cols]`; `rng` draws the noise.
    pub fn apply<R: Rng>(&self, data: &mut [f32], shape: [usize; 3], rng: &mut R) {
        let [s, rows, cols] = shape;
        if self.flip || self.angle != 0.0 || self.shift != [0.0, 0.0] || self.zoom != 1.0 {
            let warp = Warp::new(rows, cols, self);
            for slice in data.chunks_exact_mut(rows * cols).take(s) {
                warp.apply(slice);
            }
        }
        if let Some(g) = self.gamma {
            for v in data.iter_mut() {
                *v = 255.0 * (v.max(0.0) / 255.0).powf(g as f32);
            }
        }
        if let Some(a) = self.intensity {
            data.iter_mut().for_each(|v| *v *= a);
        }
        if let Some(k) = self.bias {
            bias_field(data, shape, &k);
        }
        if let Some((strength, ghosts)) = self.ghosting {
            ghosting(data, shape, strength, ghosts);
        }
        if let Some(std) = self.noise_std {
            let normal = Normal::new(0.0, std).expect("positive deviation");
            data.iter_mut()
                .for_each(|v| *v += normal.sample(rng) as f32);
        }
    }
}

/// An in-plane similarity transform about the image centre (inverse-mapped).
struct Warp {
    rows: usize,
    cols: usize,
    /// Output pixel to input pixel: `src = m * (dst - centre - t) + centre`.
    m: [f64; 4],
    t: [f64; 2],
}

impl Warp {
    fn new(rows: usize, cols: usize, draw: &AugmentDraw) -> Self {
        let (sin, cos) = draw.angle.sin_cos();
        let (zoom, f) = (draw.zoom, if draw.flip { -1.0 } else { 1.0 });
        // Inverse of rotate-then-zoom, with the column axis mirrored when flipping.
        let m = [cos / zoom, sin / zoom * f, -sin / zoom, cos / zoom * f];
        Self {
            rows,
            cols,
            m,
            t: draw.shift,
        }
    }

    fn apply(&self, slice: &mut [f32]) {
        let src = slice.to_vec();
        let (cy, cx) = (
            (self.rows as f64 - 1.0) / 2.0,
            (self.cols as f64 - 1.0) / 2.0,
        );
        for r in 0..self.rows {
            for c in 0..self.cols {
                let (y, x) = (r as f64 - cy - self.t[0], c as f64 - cx - self.t[1]);
                let sy = self.m[0] * y + self.m[1] * x + cy;
                let sx = self.m[2] * y + self.m[3] * x + cx;
                slice[r * self.cols + c] = bilinear(&src, self.rows, self.cols, sy, sx);
            }
        }
    }
}

/// Bilinear sample with zero outside the image.
fn bilinear(src: &[f32], rows: usize, cols: usize, y: f64, x: f64) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = ((y - y0) as f32, (x - x0) as f32);
    let at = |yy: f64, xx: f64| -> f32 {
        if yy < 0.0 || xx < 0.0 || yy >= rows as f64 || xx >= cols as f64 {
            0.0
        } else {
            src[yy as usize * cols + xx as usize]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1.0) * fx;
    let bottom = at(y0 + 1.0, x0) * (1.0 - fx) + at(y0 + 1.0, x0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Multiplies every slice by the field of [`AugmentDraw::bias`] with coefficients `k`.
fn bias_field(data: &mut [f32], shape: [usize; 3], k: &[f64; 5]) {
    let [_, rows, cols] = shape;
    let field: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let u = 2.0 * (i / cols) as f64 / (rows.max(2) - 1) as f64 - 1.0;
            let v = 2.0 * (i % cols) as f64 / (cols.max(2) - 1) as f64 - 1.0;
            (k[0] * u + k[1] * v + k[2] * u * u + k[3] * v * v + k[4] * u * v).exp() as f32
        })
        .collect();
    for slice in data.chunks_exact_mut(rows * cols) {
        slice.iter_mut().zip(&field).for_each(|(v, f)| *v *= f);
    }
}

/// Adds `ghosts` faint copies shifted by `rows / (ghosts + 1)` along the rows (the phase-encoding
/// direction of a sagittal knee series), the signature of periodic motion.
fn ghosting(data: &mut [f32], shape: [usize; 3], strength: f32, ghosts: usize) {
    let [_, rows, cols] = shape;
    for slice in data.chunks_exact_mut(rows * cols) {
        let src = slice.to_vec();
        for g in 1..=ghosts {
            let shift = g * rows / (ghosts + 1);
            let weight = strength / g as f32;
            for r in 0..rows {
                let from = (r + rows - shift) % rows;
                for c in 0..cols {
                    slice[r * cols + c] += weight * src[from * cols + c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn blob() -> (Vec<f32>, [usize; 3]) {
        let shape = [2, 32, 32];
        let mut data = vec![0.0; 2 * 32 * 32];
        for s in 0..2 {
            for r in 8..14 {
                for c in 4..10 {
                    data[s * 1024 + r * 32 + c] = 200.0;
                }
            }
        }
        (data, shape)
    }

    fn centroid_col(slice: &[f32]) -> f64 {
        let total: f64 = slice.iter().map(|&v| v as f64).sum();
        slice
            .iter()
            .enumerate()
            .map(|(i, &v)| (i % 32) as f64 * v as f64)
            .sum::<f64>()
            / total
    }

    #[test]
    fn nothing_happens_with_all_probabilities_zero() {
        let (mut data, shape) = blob();
        let before = data.clone();
        augment(
            &mut data,
            shape,
            &AugmentConfig::default(),
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        assert_eq!(data, before);
    }

    #[test]
    fn flip_mirrors_columns_and_is_the_same_on_every_slice() {
        let (mut data, shape) = blob();
        let config = AugmentConfig {
            flip: 1.0,
            ..AugmentConfig::default()
        };
        augment(&mut data, shape, &config, &mut ChaCha8Rng::seed_from_u64(1));
        // Blob columns 4..10 (centre 6.5) go to 22..28 (centre 24.5).
        assert!((centroid_col(&data[..1024]) - 24.5).abs() < 1e-6);
        assert_eq!(data[..1024], data[1024..]);
    }

    /// `config` with the one augmentation `name` always on.
    fn only(name: &str) -> AugmentConfig {
        let mut c = AugmentConfig::default();
        match name {
            "rotate" => c.rotate = 1.0,
            "translate" => c.translate = 1.0,
            "scale" => c.scale = 1.0,
            "gamma" => c.gamma = 1.0,
            "intensity" => c.intensity = 1.0,
            "noise" => c.noise = 1.0,
            "bias_field" => c.bias_field = 1.0,
            "ghosting" => c.ghosting = 1.0,
            other => panic!("{other}"),
        }
        c
    }

    fn run(config: &AugmentConfig, seed: u64) -> Vec<f32> {
        let (mut data, shape) = blob();
        augment(
            &mut data,
            shape,
            config,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        data
    }

    fn centroid_row(slice: &[f32]) -> f64 {
        let total: f64 = slice.iter().map(|&v| v as f64).sum();
        slice
            .iter()
            .enumerate()
            .map(|(i, &v)| (i / 32) as f64 * v as f64)
            .sum::<f64>()
            / total
    }

    #[test]
    fn each_augmentation_alone_does_what_it_says() {
        let (before, _) = blob();
        let mass = |d: &[f32]| d.iter().map(|&v| v as f64).sum::<f64>();
        for name in [
            "rotate",
            "translate",
            "scale",
            "gamma",
            "intensity",
            "noise",
            "bias_field",
            "ghosting",
        ] {
            let config = only(name);
            let after = run(&config, 5);
            assert_eq!(after.len(), before.len(), "{name}: shape");
            assert_ne!(after, before, "{name} changed nothing");
            assert_eq!(
                after,
                run(&config, 5),
                "{name}: the same seed, the same result"
            );
            assert!(after.iter().all(|v| v.is_finite()), "{name}");
            match name {
                // Geometry: one transform for every slice, values interpolated within 0..200.
                "rotate" | "translate" | "scale" => {
                    assert_eq!(after[..1024], after[1024..], "{name}: same on every slice");
                    assert!(
                        after.iter().all(|&v| (-1e-3..=200.001).contains(&v)),
                        "{name}"
                    );
                    let moved = (centroid_row(&after[..1024]) - 10.5).abs()
                        + (centroid_col(&after[..1024]) - 6.5).abs();
                    if name == "scale" {
                        let ratio = mass(&after) / mass(&before);
                        let z = 1.0 / ratio.sqrt();
                        assert!((0.89..=1.11).contains(&z), "zoom {z} outside 1 +- 0.1");
                    } else {
                        assert!(moved > 0.05, "{name}: the blob did not move");
                        // Rotation by up to 10 degrees and shifts keep the blob's mass.
                        let ratio = mass(&after) / mass(&before);
                        assert!((0.97..=1.03).contains(&ratio), "{name}: mass ratio {ratio}");
                    }
                }
                // Gamma: 0 stays 0, 200 goes to 255 (200/255)^g with g within 1 +- 0.3, and
                // the background is untouched.
                "gamma" => {
                    let g = (after[8 * 32 + 4] as f64 / 255.0).ln() / (200.0f64 / 255.0).ln();
                    assert!(
                        (0.7..=1.3).contains(&g) && (g - 1.0).abs() > 1e-6,
                        "gamma {g}"
                    );
                    assert_eq!(after[0], 0.0);
                }
                // Intensity: one factor within 1 +- 0.15 for every voxel.
                "intensity" => {
                    let a = after[8 * 32 + 4] / 200.0;
                    assert!((0.85..=1.15).contains(&a), "factor {a}");
                    assert!(
                        before
                            .iter()
                            .zip(&after)
                            .all(|(b, x)| (b * a - x).abs() < 1e-3)
                    );
                }
                // Noise: zero-mean, standard deviation noise_std (6).
                "noise" => {
                    let d: Vec<f64> = before
                        .iter()
                        .zip(&after)
                        .map(|(b, a)| (a - b) as f64)
                        .collect();
                    let mean = d.iter().sum::<f64>() / d.len() as f64;
                    let sd =
                        (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
                    assert!(
                        mean.abs() < 0.5 && (sd - 6.0).abs() < 0.5,
                        "mean {mean}, sd {sd}"
                    );
                }
                // Bias field: multiplicative (zero stays zero), smooth, and the same on every slice.
                "bias_field" => {
                    assert!(
                        before
                            .iter()
                            .zip(&after)
                            .all(|(b, a)| *b != 0.0 || *a == 0.0)
                    );
                    let ratio = |i: usize| after[i] / before[i];
                    assert!((ratio(8 * 32 + 4) - ratio(1024 + 8 * 32 + 4)).abs() < 1e-6);
                    assert!(
                        (ratio(8 * 32 + 4) - ratio(8 * 32 + 5)).abs() < 0.1,
                        "not smooth"
                    );
                }
                // Ghosting: faint copies in rows the blob never touched, the blob kept.
                "ghosting" => {
                    let outside = (0..32)
                        .filter(|r| !(8..14).contains(r))
                        .any(|r| after[r * 32 + 6] > 0.0);
                    assert!(outside, "no ghost");
                    assert!(after[10 * 32 + 6] >= 200.0);
                    assert!(after.iter().all(|&v| v < 200.0 * 1.3), "ghosts are faint");
                }
                _ => unreachable!(),
            }
        }
    }
}
