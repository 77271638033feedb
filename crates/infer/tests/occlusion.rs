//! Occlusion sensitivity on a classifier whose every answer is known: the injured probability
//! rises with the brightness of one block of one slice, so hiding that slice or that block (and
//! nothing else) lowers it, and the heat must sit there.

use cruciate_data::Task;
use cruciate_infer::{
    Classifier, ExplainMethod, ExplainRequest, InferError, OCCLUSION_GRID, Prediction, RunInfo,
};
use cruciate_volume::{Format, SourceMetadata, Volume};

/// Looks at slice 3, rows 6..12, cols 12..18 of a [6, 24, 24] exam, and at slices 1..5 only.
struct OneBlock(RunInfo);

impl Classifier for OneBlock {
    fn info(&self) -> &RunInfo {
        &self.0
    }
    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        let mut sum = 0.0;
        for r in 6..12 {
            for c in 12..18 {
                sum += f64::from(exam.data[(3 * 24 + r) * 24 + c]);
            }
        }
        let injured = (sum / 36.0).clamp(0.0, 1.0);
        Ok(Prediction::new(
            self.0.classes.clone(),
            vec![1.0 - injured, injured],
            [1, 5],
            Vec::new(),
        ))
    }
}

fn exam() -> Volume {
    let mut data = vec![0.1f32; 6 * 24 * 24];
    for r in 6..12 {
        for c in 12..18 {
            data[(3 * 24 + r) * 24 + c] = 0.9;
        }
    }
    Volume::new(data, [6, 24, 24], SourceMetadata::new(Format::Npy, "x.npy")).unwrap()
}

#[test]
fn the_heat_sits_on_the_hidden_block_and_slice_that_lower_the_call() {
    let model = OneBlock(RunInfo::new("one-block", Task::Binary, "one-block"));
    // Any classifier explains by occlusion unless it offers its own method.
    let e = model.explain(&exam(), &ExplainRequest::default()).unwrap();
    assert_eq!(e.method, ExplainMethod::Occlusion);
    assert_eq!(e.target, 1);
    assert_eq!(e.slice_importance.len(), 4, "slices 1..5");
    assert_eq!(e.slice_importance, vec![0.0, 0.0, 1.0, 0.0]);
    assert_eq!(e.key_slice(), 3);
    // A 6 x 6 grid of 4-voxel blocks: rows 6..12 and cols 12..18 touch the blocks of rows
    // 4..12 and cols 12..20.
    assert_eq!(OCCLUSION_GRID, 6);
    let slice = e.heat.slice(3);
    for r in 0..24 {
        for c in 0..24 {
            let inside = (4..12).contains(&r) && (12..20).contains(&c);
            assert_eq!(slice[r * 24 + c] > 0.0, inside, "voxel ({r}, {c})");
        }
    }
    // The blocks hold 16, 8, 8 and 4 of the 36 bright voxels: the full block is the hottest.
    assert_eq!(slice[8 * 24 + 13], 1.0);
    assert!((slice[4 * 24 + 12] - 0.5).abs() < 1e-6 && (slice[10 * 24 + 19] - 0.5).abs() < 1e-6);
    assert!((slice[5 * 24 + 17] - 0.25).abs() < 1e-6);
    assert!(
        e.heat
            .values
            .iter()
            .enumerate()
            .all(|(i, &v)| v == 0.0 || i / 576 == 3)
    );
    assert_eq!((e.heat.region.s0, e.heat.region.s1), (1, 5));

    let healthy = model
        .explain(
            &exam(),
            &ExplainRequest {
                method: Some(ExplainMethod::Occlusion),
                class: Some(0),
            },
        )
        .unwrap();
    assert!(
        healthy.heat.values.iter().all(|&v| v == 0.0),
        "hiding raises P(healthy)"
    );
    for bad in [
        ExplainRequest {
            method: Some(ExplainMethod::Cam),
            class: None,
        },
        ExplainRequest {
            method: None,
            class: Some(2),
        },
    ] {
        assert!(matches!(
            model.explain(&exam(), &bad),
            Err(InferError::Request(_))
        ));
    }
}
