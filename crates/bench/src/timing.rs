//! Timed repetitions.

use std::time::Instant;

use serde::Serialize;

/// Median, fastest and slowest of the timed runs, in milliseconds (min and max are NaN where
/// only the median was measured).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    /// The median run.
    pub median: f64,
    /// The fastest run.
    pub min: f64,
    /// The slowest run.
    pub max: f64,
}

impl Timing {
    /// `repeat` (at least one) timed runs of `run` after one warm-up run.
    pub fn of(repeat: usize, mut run: impl FnMut()) -> Self {
        run();
        let mut times: Vec<f64> = (0..repeat.max(1))
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        Self {
            median: times[times.len() / 2],
            min: times[0],
            max: times[times.len() - 1],
        }
    }

    /// A figure measured once, as a median alone.
    pub fn median_only(median_ms: f64) -> Self {
        Self {
            median: median_ms,
            min: f64::NAN,
            max: f64::NAN,
        }
    }
}
