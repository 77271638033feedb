//! Every backbone takes a state dict named as torchvision names it and computes what torchvision
//! computes. The key lists built here (`resnet18()`, `resnet50()`, `squeezenet1_1()`,
//! `vgg16_bn()`, `vgg19()` state dicts, classifier and `num_batches_tracked` included) are held
//! to torchvision's own (`data/torchvision/keys.json`); every parameter gets a value from one
//! formula of its position in the state dict; and the feature maps on a fixed input are held to
//! PyTorch's float64 results (`torchvision_reference.py`, PyTorch 2.15 / torchvision 0.29) to a
//! relative L2 error of 1e-5 (2e-5 for VGG19, see below).

use std::path::Path;

use burn::prelude::*;
use cruciate_models::backbone::{ResNet, ResNetDepth, SmallCnn, SqueezeNet, Vgg, VggDepth};
use cruciate_models::{Backbone, BackboneKind, load_pretrained};

type Keys = Vec<(String, Vec<usize>)>;

fn bn(keys: &mut Keys, prefix: &str, c: usize) {
    for p in ["weight", "bias", "running_mean", "running_var"] {
        keys.push((format!("{prefix}.{p}"), vec![c]));
    }
    keys.push((format!("{prefix}.num_batches_tracked"), vec![]));
}

fn resnet_keys(depth: ResNetDepth) -> Keys {
    let mut k = vec![("conv1.weight".to_string(), vec![64, 3, 7, 7])];
    bn(&mut k, "bn1", 64);
    let (counts, bottleneck) = match depth {
        ResNetDepth::ResNet18 => ([2, 2, 2, 2], false),
        ResNetDepth::ResNet50 => ([3, 4, 6, 3], true),
    };
    let expansion = if bottleneck { 4 } else { 1 };
    let mut cin = 64;
    for (l, (&n, width)) in counts.iter().zip([64, 128, 256, 512]).enumerate() {
        for i in 0..n {
            let p = format!("layer{}.{i}", l + 1);
            let cout = width * expansion;
            if bottleneck {
                k.push((format!("{p}.conv1.weight"), vec![width, cin, 1, 1]));
                bn(&mut k, &format!("{p}.bn1"), width);
                k.push((format!("{p}.conv2.weight"), vec![width, width, 3, 3]));
                bn(&mut k, &format!("{p}.bn2"), width);
                k.push((format!("{p}.conv3.weight"), vec![cout, width, 1, 1]));
                bn(&mut k, &format!("{p}.bn3"), cout);
            } else {
                k.push((format!("{p}.conv1.weight"), vec![width, cin, 3, 3]));
                bn(&mut k, &format!("{p}.bn1"), width);
                k.push((format!("{p}.conv2.weight"), vec![width, width, 3, 3]));
                bn(&mut k, &format!("{p}.bn2"), width);
            }
            if i == 0 && (l > 0 || cin != cout) {
                k.push((format!("{p}.downsample.0.weight"), vec![cout, cin, 1, 1]));
                bn(&mut k, &format!("{p}.downsample.1"), cout);
            }
            cin = cout;
        }
    }
    k.push(("fc.weight".into(), vec![1000, cin]));
    k.push(("fc.bias".into(), vec![1000]));
    k
}

fn squeezenet_keys() -> Keys {
    let mut k = vec![
        ("features.0.weight".to_string(), vec![64, 3, 3, 3]),
        ("features.0.bias".into(), vec![64]),
    ];
    let fires = [
        (3, 64, 16, 64),
        (4, 128, 16, 64),
        (6, 128, 32, 128),
        (7, 256, 32, 128),
        (9, 256, 48, 192),
        (10, 384, 48, 192),
        (11, 384, 64, 256),
        (12, 512, 64, 256),
    ];
    for (idx, cin, s, e) in fires {
        for (name, shape) in [
            ("squeeze", vec![s, cin, 1, 1]),
            ("expand1x1", vec![e, s, 1, 1]),
            ("expand3x3", vec![e, s, 3, 3]),
        ] {
            k.push((format!("features.{idx}.{name}.weight"), shape.clone()));
            k.push((format!("features.{idx}.{name}.bias"), vec![shape[0]]));
        }
    }
    k.push(("classifier.1.weight".into(), vec![1000, 512, 1, 1]));
    k.push(("classifier.1.bias".into(), vec![1000]));
    k
}

fn vgg_keys(blocks: [usize; 5], batch_norm: bool) -> Keys {
    let mut k = Vec::new();
    let mut idx = 0;
    let mut cin = 3;
    for (&n, width) in blocks.iter().zip([64, 128, 256, 512, 512]) {
        for _ in 0..n {
            k.push((format!("features.{idx}.weight"), vec![width, cin, 3, 3]));
            k.push((format!("features.{idx}.bias"), vec![width]));
            idx += 1;
            if batch_norm {
                bn(&mut k, &format!("features.{idx}"), width);
                idx += 1;
            }
            idx += 1;
            cin = width;
        }
        idx += 1;
    }
    for (i, (o, inp)) in [(0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))] {
        k.push((format!("classifier.{i}.weight"), vec![o, inp]));
        k.push((format!("classifier.{i}.bias"), vec![o]));
    }
    k
}

/// Writes `keys` as a safetensors file (F32, I64 for `num_batches_tracked`), small values.
fn write_safetensors(path: &Path, keys: &Keys) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (n, (name, shape)) in keys.iter().enumerate() {
        let count: usize = shape.iter().product();
        let start = data.len();
        let int = name.ends_with("num_batches_tracked");
        for i in 0..count {
            if int {
                data.extend_from_slice(&7i64.to_le_bytes());
            } else {
                let v = if name.contains("running_var") {
                    1.0
                } else {
                    ((i * 31 + n * 7) % 97) as f32 / 970.0 - 0.05
                };
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        let dtype = if int { "I64" } else { "F32" };
        header.insert(name.clone(), serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}));
    }
    let mut text = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torchvision");

/// torchvision's state-dict keys and shapes for `name`.
fn torchvision_keys(name: &str) -> Keys {
    let text = std::fs::read_to_string(format!("{DATA}/keys.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(all[name].clone()).unwrap()
}

/// Loads the formula's weights into `backbone` and checks its features on the fixed 64x64
/// input against PyTorch's.
fn matches_torchvision(backbone: &mut Backbone, keys: &Keys, name: &str) {
    assert_eq!(
        keys,
        &torchvision_keys(name),
        "{name}: the state-dict layout"
    );
    let device = Device::flex();
    let (shape, input) = cruciate_testkit::read_npy_f32(Path::new(&format!("{DATA}/input.npy")));
    let dims: [usize; 4] = shape.try_into().unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(input, dims), &device);
    load(backbone, keys);
    let ours = backbone.forward(x);
    let (shape, reference) =
        cruciate_testkit::read_npy_f32(Path::new(&format!("{DATA}/{name}.npy")));
    assert_eq!(ours.dims().to_vec(), shape, "{name}");
    let ours = ours
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let error = cruciate_testkit::relative_l2(&ours, &reference);
    // VGG19 stacks 16 convolutions with nothing to renormalise between them: its float32
    // rounding adds up to 8.4e-6 here, hence twice the bound.
    let bound = if name == "vgg19" { 2e-5 } else { 1e-5 };
    eprintln!("{name}: relative L2 error {error:.2e}");
    assert!(error < bound, "{name}: relative L2 error {error:.2e}");
}

/// Writes `keys` with the formula's values and loads them, checking every parameter lands.
fn load(backbone: &mut Backbone, keys: &Keys) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    write_safetensors(&path, keys);
    let expected = keys
        .iter()
        .filter(|(k, _)| {
            !k.contains("num_batches") && !k.starts_with("fc.") && !k.starts_with("classifier.")
        })
        .count();
    // The path `cruciate train --weights` takes.
    let report = load_pretrained(backbone, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.applied, expected,
        "every torchvision parameter lands"
    );
    assert!(
        !report.ignored.is_empty(),
        "classifier / num_batches_tracked keys are ignored"
    );
}

#[test]
fn resnet18_matches_torchvision() {
    let device = Device::flex();
    let mut b = Backbone::ResNet(ResNet::new(&device, ResNetDepth::ResNet18));
    matches_torchvision(&mut b, &resnet_keys(ResNetDepth::ResNet18), "resnet18");
}

#[test]
fn resnet50_matches_torchvision() {
    let device = Device::flex();
    let mut b = Backbone::ResNet(ResNet::new(&device, ResNetDepth::ResNet50));
    matches_torchvision(&mut b, &resnet_keys(ResNetDepth::ResNet50), "resnet50");
}

#[test]
fn squeezenet_matches_torchvision() {
    let device = Device::flex();
    let mut b = Backbone::SqueezeNet(SqueezeNet::new(&device));
    // torchvision: 64 -> 31 -> 15 -> 7 -> 3 (ceil-mode pools).
    matches_torchvision(&mut b, &squeezenet_keys(), "squeezenet1_1");
}

#[test]
fn vgg16_bn_and_vgg19_match_torchvision() {
    let device = Device::flex();
    let mut b = Backbone::Vgg(Vgg::new(&device, VggDepth::Vgg16, true));
    matches_torchvision(&mut b, &vgg_keys([2, 2, 3, 3, 3], true), "vgg16_bn");
    let mut b = Backbone::Vgg(Vgg::new(&device, VggDepth::Vgg19, false));
    matches_torchvision(&mut b, &vgg_keys([2, 2, 4, 4, 4], false), "vgg19");
}

#[test]
fn every_kind_builds_and_reports_its_channels() {
    let device = Device::flex();
    for kind in BackboneKind::ALL {
        assert_eq!(BackboneKind::from_name(kind.name()), Some(kind));
        if matches!(
            kind,
            BackboneKind::ResNet50 | BackboneKind::Vgg19 | BackboneKind::Vgg19Bn
        ) {
            continue; // covered above; keep this test quick
        }
        let out = kind
            .init(&device)
            .forward(Tensor::ones([1, 3, 96, 96], &device));
        assert_eq!(out.dims()[1], kind.channels(), "{}", kind.name());
    }
    let small = SmallCnn::new(&device).forward(Tensor::ones([3, 3, 64, 64], &device));
    assert_eq!(small.dims(), [3, 128, 4, 4]);
}
