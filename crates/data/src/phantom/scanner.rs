//! What the scanner adds to the anatomy: gain and offset (two "scanners"), a smooth bias field,
//! motion ghosting along the phase-encoding direction, and Rician noise.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// One acquisition's scanner settings.
#[derive(Debug, Clone)]
pub struct Scanner {
    /// Signal units per unit of tissue signal.
    pub gain: f32,
    /// Constant added to every voxel.
    pub offset: f32,
    /// Bias field coefficients: linear in u and v, quadratic in the radius.
    pub bias: [f32; 3],
    /// Ghost amplitude (0: no motion) and shift in columns.
    pub ghost: (f32, usize),
    /// Noise standard deviation relative to the gain.
    pub noise: f32,
}

impl Scanner {
    /// Draws settings: scanner A (gain around 1000) or B (around 2600, with an offset).
    pub fn draw(rng: &mut impl RngExt, realistic: bool, cols: usize) -> Self {
        let (gain, offset) = if rng.random_bool(0.5) {
            (1000.0 * rng.random_range(0.8..1.25), 0.0)
        } else {
            (
                2600.0 * rng.random_range(0.8..1.25),
                rng.random_range(50.0..150.0),
            )
        };
        let ghost = if rng.random_bool(0.3) {
            (
                rng.random_range(0.03..0.09),
                rng.random_range(cols / 5..cols / 3).max(1),
            )
        } else {
            (0.0, 1)
        };
        let noise = if realistic {
            rng.random_range(0.02..0.05)
        } else {
            rng.random_range(0.01..0.03)
        };
        Self {
            gain,
            offset,
            bias: [
                rng.random_range(-0.2..0.2),
                rng.random_range(-0.2..0.2),
                rng.random_range(-0.25..0.1),
            ],
            ghost,
            noise,
        }
    }

    /// Applies gain, bias field and ghosting to one slice of tissue signal, then Rician noise.
    pub fn acquire(&self, slice: &mut [f32], rows: usize, cols: usize, rng: &mut impl RngExt) {
        let (amplitude, shift) = self.ghost;
        if amplitude > 0.0 {
            let clean = slice.to_vec();
            for r in 0..rows {
                for c in 0..cols {
                    let a = clean[r * cols + (c + shift) % cols];
                    let b = clean[r * cols + (c + cols - shift % cols) % cols];
                    slice[r * cols + c] += amplitude * 0.5 * (a + b);
                }
            }
        }
        let sigma = self.noise * self.gain;
        for r in 0..rows {
            let v = (r as f32 / rows as f32) * 2.0 - 1.0;
            for c in 0..cols {
                let u = (c as f32 / cols as f32) * 2.0 - 1.0;
                let field =
                    (self.bias[0] * u + self.bias[1] * v + self.bias[2] * (u * u + v * v)).exp();
                let clean = slice[r * cols + c] * self.gain * field;
                let n1: f32 = StandardNormal.sample(rng);
                let n2: f32 = StandardNormal.sample(rng);
                let rician = ((clean + sigma * n1).powi(2) + (sigma * n2).powi(2)).sqrt();
                slice[r * cols + c] = rician + self.offset;
            }
        }
    }
}
