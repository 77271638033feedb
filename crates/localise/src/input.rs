//! The slices of an exam as the localiser's network takes them.

use cruciate_prep::resize_slice;
use cruciate_volume::Volume;
use cruciate_volume::export::Window;
use serde::{Deserialize, Serialize};

/// The stride of the network's map: one cell per 8 input pixels.
pub const STRIDE: usize = 8;

/// How exams become the localiser's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocaliserInput {
    /// Side of the square each slice is scaled to, pixels (a multiple of 8).
    pub size: usize,
}

impl Default for LocaliserInput {
    fn default() -> Self {
        Self { size: 128 }
    }
}

impl LocaliserInput {
    /// Cells per side of the network's map.
    pub fn grid(&self) -> usize {
        self.size / STRIDE
    }

    /// Checks the size.
    pub fn validate(&self) -> Result<(), String> {
        if self.size < 32 || self.size > 512 || !self.size.is_multiple_of(STRIDE) {
            return Err(format!(
                "localiser input size {}: a multiple of {STRIDE} from 32 to 512",
                self.size
            ));
        }
        Ok(())
    }

    /// Every slice of `exam` with its neighbours (edges repeated) as three channels, scaled to
    /// `size x size`, intensities mapped to 0..1 by the exam's 1st and 99th percentiles:
    /// `[slices, 3, size, size]`, row-major.
    pub fn stacks(&self, exam: &Volume) -> Vec<f32> {
        let n = self.size;
        let window = Window::from_percentiles(&exam.data);
        let (lo, span) = (window.centre - window.width / 2.0, window.width.max(1e-6));
        let slices: Vec<Vec<f32>> = (0..exam.slices())
            .map(|s| {
                let scaled: Vec<f32> = exam
                    .slice(s)
                    .expect("s < slices")
                    .iter()
                    .map(|&v| {
                        if v.is_finite() {
                            ((v - lo) / span).clamp(0.0, 1.0)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                resize_slice(&scaled, exam.rows(), exam.cols(), n, n)
            })
            .collect();
        let last = slices.len().saturating_sub(1);
        let mut out = Vec::with_capacity(slices.len() * 3 * n * n);
        for s in 0..slices.len() {
            for neighbour in [s.saturating_sub(1), s, (s + 1).min(last)] {
                out.extend_from_slice(&slices[neighbour]);
            }
        }
        out
    }
}
