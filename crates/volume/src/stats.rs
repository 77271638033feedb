//! Intensity summary of a volume: range and percentiles, as `cruciate inspect` prints them.

use serde::Serialize;

/// Minimum, maximum, mean and the 1st / 99th percentiles of the finite voxels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IntensityStats {
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// Mean value.
    pub mean: f64,
    /// 1st percentile.
    pub p01: f32,
    /// 99th percentile.
    pub p99: f32,
}

/// The statistics of the finite values in `data`, or `None` when there are none.
pub fn intensity_stats(data: &[f32]) -> Option<IntensityStats> {
    let mut finite: Vec<f32> = data.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let mean = finite.iter().map(|&v| v as f64).sum::<f64>() / finite.len() as f64;
    let [p01, p99] = percentiles_in_place(&mut finite, [1.0, 99.0]);
    let (min, max) = finite
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    Some(IntensityStats {
        min,
        max,
        mean,
        p01,
        p99,
    })
}

/// Percentiles (0..=100, linear interpolation between order statistics as numpy's default)
/// of the finite values in `data`; `None` when there are none.
pub fn percentiles<const N: usize>(data: &[f32], q: [f64; N]) -> Option<[f32; N]> {
    let mut finite: Vec<f32> = data.iter().copied().filter(|v| v.is_finite()).collect();
    (!finite.is_empty()).then(|| percentiles_in_place(&mut finite, q))
}

fn percentiles_in_place<const N: usize>(values: &mut [f32], q: [f64; N]) -> [f32; N] {
    values.sort_unstable_by(f32::total_cmp);
    let last = (values.len() - 1) as f64;
    q.map(|q| {
        let pos = (q.clamp(0.0, 100.0) / 100.0) * last;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let t = (pos - lo as f64) as f32;
        values[lo] + (values[hi] - values[lo]) * t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear_interpolation() {
        // np.percentile(np.arange(11), [1, 99, 50]) == [0.1, 9.9, 5.0]
        let data: Vec<f32> = (0..=10).map(|v| v as f32).collect();
        let [a, b, c] = percentiles(&data, [1.0, 99.0, 50.0]).unwrap();
        assert!((a - 0.1).abs() < 1e-6 && (b - 9.9).abs() < 1e-6 && c == 5.0);
    }

    #[test]
    fn stats_ignore_non_finite_values() {
        let s = intensity_stats(&[f32::NAN, 1.0, 3.0, f32::INFINITY]).unwrap();
        assert_eq!((s.min, s.max, s.mean), (1.0, 3.0, 2.0));
        assert!(intensity_stats(&[f32::NAN]).is_none());
    }
}
