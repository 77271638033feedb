//! Occlusion sensitivity: where a call came from for any classifier, by hiding parts of the exam
//! and watching the class probability fall (Zeiler and Fergus 2014). It needs nothing of the
//! model but its predictions, so every model kind (an SVM on deep features as much as a network)
//! can be explained the same way.
//!
//! The search is separable to stay affordable: each slice the model looked at is hidden in turn
//! (its share is the slice's importance), then each block of an in-plane grid is hidden on all
//! those slices at once; a voxel's heat is its slice's drop times its block's drop. That is
//! `slices + grid^2` predictions rather than `slices x grid^2`.

use cruciate_volume::{RoiBox, Volume};

use crate::{Classifier, ExplainMethod, ExplainRequest, Explanation, HeatMap, InferError};

/// In-plane blocks per side hidden in turn.
pub const OCCLUSION_GRID: usize = 6;

/// The occlusion-sensitivity explanation of `classifier`'s call on `exam`.
pub fn occlusion<C: Classifier + ?Sized>(
    classifier: &C,
    exam: &Volume,
    request: &ExplainRequest,
) -> Result<Explanation, InferError> {
    let prediction = classifier.predict(exam)?;
    let classes = prediction.probabilities.len();
    let target = request.class.unwrap_or(prediction.class);
    if target >= classes {
        return Err(InferError::Request(format!(
            "class {target} does not exist: the model has classes 0..{} ({})",
            classes.saturating_sub(1),
            prediction.classes.join(", ")
        )));
    }
    let [slices, rows, cols] = exam.shape;
    let [s0, s1] = [
        prediction.slices[0].min(slices),
        prediction.slices[1].min(slices),
    ];
    let base = prediction.probabilities[target];
    // Hidden voxels take the exam's mean: neither black nor bright, no edge of its own.
    let fill = (exam.data.iter().map(|&v| f64::from(v)).sum::<f64>()
        / exam.data.len().max(1) as f64) as f32;
    let drop = |hide: &dyn Fn(&mut Volume)| -> Result<f64, InferError> {
        let mut hidden = exam.clone();
        hide(&mut hidden);
        let p = classifier.predict(&hidden)?.probabilities[target];
        Ok((base - p).max(0.0))
    };
    let per_slice = rows * cols;
    let slice_drop = (s0..s1)
        .map(|s| drop(&|v: &mut Volume| v.data[s * per_slice..(s + 1) * per_slice].fill(fill)))
        .collect::<Result<Vec<f64>, _>>()?;
    let grid = OCCLUSION_GRID.min(rows).min(cols).max(1);
    let edges = |n: usize| (0..=grid).map(|k| k * n / grid).collect::<Vec<_>>();
    let (row_edges, col_edges) = (edges(rows), edges(cols));
    let mut block_drop = vec![0.0; grid * grid];
    for (bi, rw) in row_edges.windows(2).enumerate() {
        for (bj, cw) in col_edges.windows(2).enumerate() {
            block_drop[bi * grid + bj] = drop(&|v: &mut Volume| {
                for s in s0..s1 {
                    for r in rw[0]..rw[1] {
                        let at = (s * rows + r) * cols;
                        v.data[at + cw[0]..at + cw[1]].fill(fill);
                    }
                }
            })?;
        }
    }
    let mut values = vec![0.0f32; exam.data.len()];
    for (k, s) in (s0..s1).enumerate() {
        for (bi, rw) in row_edges.windows(2).enumerate() {
            for (bj, cw) in col_edges.windows(2).enumerate() {
                let heat = (slice_drop[k] * block_drop[bi * grid + bj]) as f32;
                for r in rw[0]..rw[1] {
                    let at = (s * rows + r) * cols;
                    values[at + cw[0]..at + cw[1]].fill(heat);
                }
            }
        }
    }
    let total: f64 = slice_drop.iter().sum();
    let slice_importance = if total > 0.0 {
        slice_drop.iter().map(|d| d / total).collect()
    } else {
        vec![1.0 / (s1 - s0).max(1) as f64; s1 - s0]
    };
    let region = RoiBox {
        s0,
        s1,
        r0: 0,
        r1: rows,
        c0: 0,
        c1: cols,
    };
    Ok(Explanation {
        prediction,
        method: ExplainMethod::Occlusion,
        target,
        slice_importance,
        heat: HeatMap::normalised(exam.shape, values, region),
    })
}
