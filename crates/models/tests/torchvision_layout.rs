//! Every backbone takes a state dict named as torchvision names it, written here as
//! safetensors from torchvision's naming scheme (`resnet18()`, `resnet50()`, `squeezenet1_1()`,
//! `vgg16_bn()`, `vgg19()` state dicts, classifier and `num_batches_tracked` included), and
//! produces feature maps of the documented shape.

use std::path::Path;

use burn::prelude::*;
use cruciate_models::backbone::{ResNet, ResNetDepth, SmallCnn, SqueezeNet, Vgg, VggDepth};
use cruciate_models::{Backbone, BackboneKind, load_torchvision};

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

fn load_and_run(backbone: &mut Backbone, keys: &Keys, input: usize) -> [usize; 4] {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    write_safetensors(&path, keys);
    let remaps = backbone.torchvision_remaps();
    let expected = keys
        .iter()
        .filter(|(k, _)| {
            !k.contains("num_batches") && !k.starts_with("fc.") && !k.starts_with("classifier.")
        })
        .count();
    let report = match backbone {
        Backbone::ResNet(m) => load_torchvision(m, &path, &remaps),
        Backbone::SqueezeNet(m) => load_torchvision(m, &path, &remaps),
        Backbone::Vgg(m) => load_torchvision(m, &path, &remaps),
        Backbone::AlexNet(m) => load_torchvision(m, &path, &remaps),
        Backbone::Small(m) => load_torchvision(m, &path, &remaps),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.applied, expected,
        "every torchvision parameter lands"
    );
    assert!(
        !report.ignored.is_empty(),
        "classifier / num_batches_tracked keys are ignored"
    );
    let device = Device::flex();
    backbone
        .forward(Tensor::ones([2, 3, input, input], &device))
        .dims()
}

#[test]
fn resnet18_takes_torchvision_weights() {
    let device = Device::flex();
    let mut b = Backbone::ResNet(ResNet::new(&device, ResNetDepth::ResNet18));
    assert_eq!(
        load_and_run(&mut b, &resnet_keys(ResNetDepth::ResNet18), 64),
        [2, 512, 2, 2]
    );
}

#[test]
fn resnet50_takes_torchvision_weights() {
    let device = Device::flex();
    let mut b = Backbone::ResNet(ResNet::new(&device, ResNetDepth::ResNet50));
    assert_eq!(
        load_and_run(&mut b, &resnet_keys(ResNetDepth::ResNet50), 64),
        [2, 2048, 2, 2]
    );
}

#[test]
fn squeezenet_takes_torchvision_weights() {
    let device = Device::flex();
    let mut b = Backbone::SqueezeNet(SqueezeNet::new(&device));
    // torchvision: 224 -> 111 -> 55 -> 27 -> 13 (ceil-mode pools).
    assert_eq!(
        load_and_run(&mut b, &squeezenet_keys(), 224),
        [2, 512, 13, 13]
    );
}

#[test]
fn vgg16_bn_and_vgg19_take_torchvision_weights() {
    let device = Device::flex();
    let mut b = Backbone::Vgg(Vgg::new(&device, VggDepth::Vgg16, true));
    assert_eq!(
        load_and_run(&mut b, &vgg_keys([2, 2, 3, 3, 3], true), 64),
        [2, 512, 2, 2]
    );
    let mut b = Backbone::Vgg(Vgg::new(&device, VggDepth::Vgg19, false));
    assert_eq!(
        load_and_run(&mut b, &vgg_keys([2, 2, 4, 4, 4], false), 64),
        [2, 512, 2, 2]
    );
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
