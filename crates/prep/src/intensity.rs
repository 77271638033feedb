//! Intensity normalisation: scanners differ in scale and offset, models want one range.

use cruciate_volume::stats::percentiles;

/// Mean MRNet subtracts after scaling to `[0, 255]` (Bien et al. 2018, reference code).
pub const MRNET_MEAN: f32 = 58.09;
/// Standard deviation MRNet divides by after subtracting [`MRNET_MEAN`].
pub const MRNET_STD: f32 = 49.73;

/// MRNet's preprocessing: min-max scale to `[0, 255]`, then `(x - 58.09) / 49.73`.
/// A flat volume (max = min) scales to 0 everywhere instead of dividing by zero.
pub fn mrnet_normalize(data: &[f32]) -> Vec<f32> {
    let mut out = minmax_255(data);
    mrnet_standardise(&mut out);
    out
}

/// MRNet's first step: min-max scaling of the finite voxels to `[0, 255]` (a flat volume gives 0).
pub fn minmax_255(data: &[f32]) -> Vec<f32> {
    let (lo, hi) = finite_range(data);
    let range = hi - lo;
    data.iter()
        .map(|&v| {
            if range > 0.0 {
                (v - lo) / range * 255.0
            } else {
                0.0
            }
        })
        .collect()
}

/// MRNet's second step on `[0, 255]` intensities, in place: `(x - 58.09) / 49.73`.
pub fn mrnet_standardise(values: &mut [f32]) {
    for v in values {
        *v = (*v - MRNET_MEAN) / MRNET_STD;
    }
}

/// Clips to the `low`..`high` percentiles, then z-scores with the clipped mean and standard
/// deviation. A flat volume becomes all zeros. Non-finite voxels become 0 (the mean).
pub fn percentile_zscore(data: &[f32], low: f64, high: f64) -> Vec<f32> {
    let Some([lo, hi]) = percentiles(data, [low, high]) else {
        return vec![0.0; data.len()];
    };
    let clipped: Vec<f32> = data
        .iter()
        .map(|&v| {
            if v.is_finite() {
                v.clamp(lo, hi)
            } else {
                f32::NAN
            }
        })
        .collect();
    let finite = clipped.iter().filter(|v| v.is_finite());
    let n = finite.clone().count().max(1) as f64;
    let mean = finite.clone().map(|&v| v as f64).sum::<f64>() / n;
    let var = finite.map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt();
    clipped
        .iter()
        .map(|&v| {
            if v.is_finite() && std > 0.0 {
                ((v as f64 - mean) / std) as f32
            } else {
                0.0
            }
        })
        .collect()
}

fn finite_range(data: &[f32]) -> (f32, f32) {
    let (lo, hi) = data
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_that_of_the_finite_voxels() {
        assert_eq!(finite_range(&[5.0, f32::NAN, 5.0]), (5.0, 5.0));
        assert_eq!(finite_range(&[3.0, f32::INFINITY, -1.0]), (-1.0, 3.0));
        assert_eq!(finite_range(&[f32::NAN]), (0.0, 0.0));
        assert_eq!(finite_range(&[]), (0.0, 0.0));
    }

    #[test]
    fn mrnet_normalisation_maps_min_and_max_to_known_values() {
        let out = mrnet_normalize(&[10.0, 20.0, 30.0]);
        assert!((out[0] - (-58.09 / 49.73)).abs() < 1e-6);
        assert!((out[1] - ((127.5 - 58.09) / 49.73)).abs() < 1e-5);
        assert!((out[2] - ((255.0 - 58.09) / 49.73)).abs() < 1e-5);
        let flat = mrnet_normalize(&[7.0, 7.0]);
        assert!(flat.iter().all(|&v| (v - (-58.09 / 49.73)).abs() < 1e-6));
    }

    #[test]
    fn zscore_clips_outliers_before_scaling() {
        let mut data: Vec<f32> = (0..100).map(|v| v as f32).collect();
        data.push(1e6);
        let out = percentile_zscore(&data, 1.0, 99.0);
        let mean: f32 = out.iter().sum::<f32>() / out.len() as f32;
        let var: f32 = out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / out.len() as f32;
        assert!(mean.abs() < 1e-4, "mean {mean}");
        assert!((var - 1.0).abs() < 1e-3, "variance {var}");
        assert!(out[100] < 2.0, "the outlier was clipped, got {}", out[100]);
        assert_eq!(percentile_zscore(&[3.0; 4], 1.0, 99.0), vec![0.0; 4]);
    }
}
