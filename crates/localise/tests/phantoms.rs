//! A localiser trained for real on a few phantoms finds the ACL boxes of held-out phantoms far
//! better than chance, reads back from its run folder as a `Localiser`, and says "nothing found"
//! rather than inventing a box on an empty exam.

use std::sync::Arc;

use cruciate_data::synth::{SynthOptions, synthesize};
use cruciate_data::{Split, read_exam};
use cruciate_infer::{Registry, Silent};
use cruciate_localise::{LocaliserInput, LocaliserTraining, localiser_kind, train_localiser};
use cruciate_metrics::box_iou;
use cruciate_volume::{Format, SourceMetadata, Volume};

#[test]
fn a_trained_localiser_finds_held_out_boxes_and_refuses_an_empty_exam() {
    let dir = tempfile::tempdir().unwrap();
    let options = SynthOptions {
        exams: 48,
        seed: 3,
        size: 64,
        slices: (14, 18),
        ..SynthOptions::default()
    };
    let manifest = synthesize(&dir.path().join("data"), &options, &|| {}).unwrap();
    let settings = LocaliserTraining {
        input: LocaliserInput { size: 64 },
        epochs: 12,
        batch_size: 8,
        ..LocaliserTraining::default()
    };
    let run = dir.path().join("data/localiser");
    let trained = train_localiser(&manifest, &run, &settings, Arc::new(Silent)).unwrap();
    assert!(trained.exams[0] >= 30, "{:?}", trained.exams);
    for file in ["run.json", "model.bpk", "summary.json"] {
        assert!(run.join(file).is_file(), "{file}");
    }
    assert!(
        !run.join("training").exists(),
        "the Learner's working folder is removed"
    );

    let registry = Registry::new().with(localiser_kind());
    let localiser = registry.open_localiser(&run).unwrap();
    assert!(
        localiser.info().synthetic(),
        "trained on phantoms: marked synthetic"
    );
    let mut ious = Vec::new();
    for row in manifest.split(Split::Test) {
        let exam = read_exam(&manifest, row).unwrap();
        let truth = exam.roi.unwrap();
        let found = localiser.locate(&exam);
        ious.push(found.map_or(0.0, |f| box_iou(&f, &truth)));
    }
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    // The baseline that knows where ACLs usually are: the mean training box, on every exam.
    let train: Vec<_> = manifest.split(Split::Train).filter_map(|r| r.roi).collect();
    let avg = |f: fn(&cruciate_volume::RoiBox) -> usize| {
        (train.iter().map(f).sum::<usize>() as f64 / train.len() as f64).round() as usize
    };
    let typical = cruciate_volume::RoiBox {
        s0: avg(|b| b.s0),
        s1: avg(|b| b.s1),
        r0: avg(|b| b.r0),
        r1: avg(|b| b.r1),
        c0: avg(|b| b.c0),
        c1: avg(|b| b.c1),
    };
    let baseline: f64 = manifest
        .split(Split::Test)
        .map(|r| box_iou(&typical, &r.roi.unwrap()))
        .sum::<f64>()
        / ious.len() as f64;
    eprintln!(
        "mean IoU {mean:.3} over {} held-out exams (the mean box: {baseline:.3})",
        ious.len()
    );
    assert!(
        mean > baseline + 0.2,
        "{mean:.3} against the mean box's {baseline:.3}"
    );
    assert!(ious.len() >= 6);
    assert!(
        mean > 0.45,
        "mean IoU {mean:.3} over {} held-out exams: {ious:?}",
        ious.len()
    );

    let empty = Volume::new(
        vec![0.0; 16 * 64 * 64],
        [16, 64, 64],
        SourceMetadata::new(Format::Memory, "empty"),
    )
    .unwrap();
    let refused = localiser.locate(&empty).unwrap_err().to_string();
    assert!(refused.contains("ACL region"), "{refused}");
}

#[test]
fn a_manifest_without_boxes_cannot_train_a_localiser() {
    let dir = tempfile::tempdir().unwrap();
    let options = SynthOptions {
        exams: 12,
        size: 32,
        slices: (8, 8),
        ..SynthOptions::default()
    };
    let mut manifest = synthesize(&dir.path().join("data"), &options, &|| {}).unwrap();
    for row in manifest.rows.iter_mut() {
        row.roi = None;
    }
    let err = train_localiser(
        &manifest,
        &dir.path().join("run"),
        &LocaliserTraining::default(),
        Arc::new(Silent),
    )
    .unwrap_err();
    assert!(err.to_string().contains("roi column"), "{err}");
}
