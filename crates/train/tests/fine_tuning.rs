//! The study's transfer recipes from a weights file: fine-tuning with the first blocks frozen,
//! and a frozen backbone under a trained head. Starting from the parity fixture's torchvision
//! AlexNet weights, after a run the frozen convolutions hold exactly the file's weights and the
//! others have moved. RMSProp and SGD drive the two runs (AdamW runs in the CLI's tests).

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use cruciate_data::synth::{SynthOptions, synthesize};
use cruciate_infer::{RunInfo, Silent};
use cruciate_models::backbone::AlexNetFeatures;
use cruciate_models::{Backbone, Compute, NetworkClassifier, load_torchvision};
use cruciate_train::{TrainConfig, TrainRequest, train};

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Trains MRNet for one epoch from `weights` with `settings`, and returns which of the five
/// convolutions still hold the file's weights exactly.
fn unchanged_convolutions(dir: &Path, weights: &Path, settings: &[&str]) -> Vec<bool> {
    let options = SynthOptions {
        exams: 24,
        seed: 3,
        size: 64,
        slices: (6, 6),
        ..SynthOptions::default()
    };
    let manifest = synthesize(&dir.join("data"), &options, &|| {}).unwrap();
    let mut overrides: Vec<String> = [
        "model.name=\"mrnet\"",
        "data.size=64",
        "data.slices=4",
        "train.epochs=1",
        "optim.lr=1e-3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    overrides.extend(settings.iter().map(|s| s.to_string()));
    let config = TrainConfig::load(None, &overrides).unwrap();
    let out = dir.join("run");
    train(
        &TrainRequest {
            manifest,
            out: out.clone(),
            weights: Some(weights.to_path_buf()),
            config,
            compute: Compute::CPU,
            roi: None,
        },
        Arc::new(Silent),
    )
    .unwrap();
    let info = RunInfo::read(&out).unwrap().unwrap();
    let device = Compute::CPU.device();
    let trained = NetworkClassifier::open(&out, info, device.clone()).unwrap();
    let Backbone::AlexNet(trained) = &trained.model().backbone else {
        panic!("mrnet is AlexNet")
    };
    let mut original = AlexNetFeatures::new(&device);
    load_torchvision(&mut original, weights, &[]).unwrap();
    (0..5)
        .map(|i| {
            values(trained.features[i].weight.val()) == values(original.features[i].weight.val())
        })
        .collect()
}

#[test]
fn fine_tuning_keeps_the_frozen_blocks_and_frozen_keeps_the_backbone() {
    let Some(weights) =
        cruciate_testkit::fixture("parity/mrnet-s1/alexnet_torchvision.safetensors")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let finetuned = unchanged_convolutions(
        &dir.path().join("finetune"),
        &weights,
        &[
            "model.mode=\"finetune\"",
            "model.freeze_blocks=2",
            "optim.optimizer=\"rmsprop\"",
        ],
    );
    assert_eq!(finetuned, [true, true, false, false, false]);
    let frozen = unchanged_convolutions(
        &dir.path().join("frozen"),
        &weights,
        &["model.mode=\"frozen\"", "optim.optimizer=\"sgd\""],
    );
    assert_eq!(frozen, [true; 5]);
    let info = RunInfo::read(&dir.path().join("frozen/run"))
        .unwrap()
        .unwrap();
    assert_eq!(info.model.mode.as_deref(), Some("frozen"));
}
