//! Where a feature model's call came from: Grad-CAM through the frozen backbone, with the SVM or
//! logistic regression as its head.
//!
//! An exam's vector is the backbone's last maps averaged over each slice's plane, then pooled
//! over slices. The gradient of the explained class's probability with respect to that vector
//! (exact, from [`cruciate_svm::FeatureModel::probability_gradient`]) flows back through the
//! pooling over slices (to the slice that holds a channel's maximum, or shared equally by the
//! mean) and the plane average (the same at every position), which gives each slice its
//! channel weights; the slice's map is `ReLU(sum_c weight_c A_c)`, Grad-CAM as for a network.
//! It costs one backbone pass, as a prediction does; occlusion, which needs nothing but
//! predictions, costs `slices + 36` passes (minutes per exam for VGG16 on two cores) and stays
//! available as `--method occlusion`.

use crate::{Pool, SliceMaps};

/// `d p / d (slice vector)` for every slice, from `gradient` = `d p / d (exam vector)`, the
/// exam vector being `pooling` (each in turn, concatenated) over `slices`. Max pooling passes a
/// channel's gradient to the first slice holding its maximum; mean pooling shares it equally.
pub fn slice_gradients(pooling: &[Pool], slices: &[Vec<f32>], gradient: &[f64]) -> Vec<Vec<f64>> {
    let c = slices.first().map_or(0, Vec::len);
    let n = slices.len().max(1) as f64;
    let mut out = vec![vec![0.0f64; c]; slices.len()];
    for (pool, g) in pooling.iter().zip(gradient.chunks_exact(c.max(1))) {
        for (j, &gj) in g.iter().enumerate() {
            match pool {
                Pool::Mean => out.iter_mut().for_each(|s| s[j] += gj / n),
                Pool::Max => {
                    let winner = (0..slices.len()).reduce(|best, s| {
                        if slices[s][j] > slices[best][j] {
                            s
                        } else {
                            best
                        }
                    });
                    if let Some(s) = winner {
                        out[s][j] += gj;
                    }
                }
            }
        }
    }
    out
}

/// Grad-CAM maps `[slices, h, w]` of `maps` with each slice's channel weights `weights`
/// (`d p / d (slice vector)`; the plane average spreads them evenly, so they are Grad-CAM's
/// channel weights up to one positive factor).
pub fn grad_cam_maps(maps: &SliceMaps, weights: &[Vec<f64>]) -> Vec<f32> {
    let [_, c, h, w] = maps.dims;
    let area = h * w;
    let mut out = vec![0.0f64; weights.len() * area];
    for ((slice, weights), heat) in maps
        .maps
        .chunks_exact((c * area).max(1))
        .zip(weights)
        .zip(out.chunks_exact_mut(area.max(1)))
    {
        for (map, &wc) in slice.chunks_exact(area.max(1)).zip(weights) {
            if wc != 0.0 {
                heat.iter_mut()
                    .zip(map)
                    .for_each(|(h, &a)| *h += wc * f64::from(a));
            }
        }
    }
    out.into_iter().map(|v| v.max(0.0) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_go_to_the_maximum_slice_and_are_shared_by_the_mean() {
        let slices = vec![vec![1.0, 5.0], vec![3.0, 2.0]];
        // Max-pooled gradient then mean-pooled gradient.
        let g = slice_gradients(&[Pool::Max, Pool::Mean], &slices, &[1.0, -2.0, 4.0, 6.0]);
        assert_eq!(g, vec![vec![2.0, 1.0], vec![3.0, 3.0]]);
    }

    #[test]
    fn each_slice_map_is_its_weighted_channel_sum_without_the_negative_part() {
        use cruciate_prep::{InputConfig, prepare_input};
        use cruciate_volume::{Format, SourceMetadata, Volume};
        let exam = Volume::new(
            vec![1.0; 2 * 8 * 8],
            [2, 8, 8],
            SourceMetadata::new(Format::Npy, "x"),
        )
        .unwrap();
        let config = InputConfig {
            slices: 2,
            size: 8,
            ..InputConfig::default()
        };
        let input = prepare_input(&exam, &config).unwrap();
        // Two slices, two channels of 1 x 2.
        let maps = SliceMaps {
            maps: vec![1.0, 2.0, 3.0, -1.0, 0.5, 0.5, 4.0, 0.0],
            dims: [2, 2, 1, 2],
            input,
        };
        let heat = grad_cam_maps(&maps, &[vec![1.0, -1.0], vec![2.0, 0.5]]);
        // Slice 0: [1 - 3, 2 + 1] = [-2, 3]; slice 1: [1 + 2, 1 + 0] = [3, 1].
        assert_eq!(heat, vec![0.0, 3.0, 3.0, 1.0]);
    }

    #[test]
    fn slice_gradients_are_the_derivative_of_the_pooled_vector() {
        // A linear function of the pooled vector, `a . pool(slices)`: moving one slice value
        // moves it by exactly the slice gradient (no tie for the maximum in these values).
        let slices: Vec<Vec<f32>> = (0..4)
            .map(|s| {
                (0..3)
                    .map(|j| ((s * 7 + j * 3) % 5) as f32 + 0.1 * s as f32)
                    .collect()
            })
            .collect();
        let pooling = [Pool::Mean, Pool::Max];
        let a = [0.5, -1.0, 2.0, 1.5, 0.25, -3.0];
        let f = |slices: &[Vec<f32>]| -> f64 {
            crate::extractor::pool_slices(&pooling, slices)
                .iter()
                .zip(a)
                .map(|(&v, a)| a * f64::from(v))
                .sum()
        };
        let g = slice_gradients(&pooling, &slices, &a);
        for s in 0..4 {
            for j in 0..3 {
                let mut up = slices.clone();
                up[s][j] += 0.01;
                let numeric = (f(&up) - f(&slices)) / 0.01;
                // f32 rounding of values up to 5 (about 5e-7) over the step: 1e-4.
                assert!(
                    (numeric - g[s][j]).abs() < 1e-3,
                    "{s}, {j}: {numeric} vs {}",
                    g[s][j]
                );
            }
        }
    }
}
