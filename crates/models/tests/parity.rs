//! Parity with PyTorch (selected by `cargo test parity`).
//!
//! The fixture folder is `$CRUCIATE_PARITY_FIXTURE` when set (relative paths from the workspace
//! root), else `parity/mrnet-s1` under `$CRUCIATE_FIXTURES`. Slices, classes, label and class
//! weights come from its `meta.json`, so any fixture made the same way passes (other seeds,
//! slice counts, class counts). Tolerance: relative L2 error below 1e-5 (conv1's weight
//! gradient, a sum that cancels in float32, aside: see `TOLERANCE`).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use cruciate_models::backbone::{AlexNetFeatures, Vgg, VggDepth};
use cruciate_models::loss::weighted_cross_entropy;
use cruciate_models::{Backbone, ExamModel, SlicePooling, load_torchvision};

/// Relative L2 error allowed against PyTorch's float64 results: the measured errors are 1e-8 to
/// 1e-6 (conv1's weight gradient aside, see below).
const TOLERANCE: f64 = 1e-5;

/// bf16's unit roundoff: 8 significant bits, so a value rounds to within `2^-8` of itself.
const BF16_UNIT_ROUNDOFF: f64 = 1.0 / 256.0;

/// The relative L2 error that bf16 arithmetic allows a result reached through `roundings`
/// roundings to bf16 on its path (oneDNN rounds each layer's input and weights to bf16 and
/// accumulates in f32, so a layer costs two; a gradient adds the roundings of the gradients
/// flowing back): independent relative errors of at most `u` each add in quadrature to
/// `u * sqrt(roundings)`. This follows from the format and the network's depth, not from one
/// fixture; it holds for results that f32 computes without cancellation (within 1e-6 of
/// PyTorch's float64 on this fixture), which conv1's weight gradient is not.
fn bf16_bound(roundings: usize) -> f64 {
    BF16_UNIT_ROUNDOFF * (roundings as f64).sqrt()
}

/// The device these tests run on: `$CRUCIATE_DEVICE` (what `scripts/gpu-check.sh` sets to
/// hold a GPU to the same fixtures), else the CPU. The engine tests below stay on the CPU.
fn test_device() -> Device {
    // The environment is read here, by the test program, as `cruciate --device` reads it in
    // the binary: the library takes the device as a value.
    let target: cruciate_models::Target = match std::env::var("CRUCIATE_DEVICE") {
        Ok(name) if !name.is_empty() => name
            .parse()
            .expect("CRUCIATE_DEVICE names a device this build has"),
        _ => cruciate_models::Target::Cpu,
    };
    cruciate_models::Compute {
        target,
        ..cruciate_models::Compute::CPU
    }
    .device()
}

/// References made here with PyTorch (`parity_conv1_reference.py`).
const LOCAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/parity");

fn fixture_dir() -> Option<PathBuf> {
    if let Some(dir) = cruciate_testkit::path_from_env("CRUCIATE_PARITY_FIXTURE") {
        assert!(
            dir.is_dir(),
            "CRUCIATE_PARITY_FIXTURE {} is not a folder",
            dir.display()
        );
        return Some(dir);
    }
    cruciate_testkit::fixture("parity/mrnet-s1")
}

/// True when the parity fixture is the shared one (`$CRUCIATE_FIXTURES/parity/mrnet-s1`), which
/// the local references in `tests/data/parity` were made from.
fn fixture_is_the_shared_one() -> bool {
    cruciate_testkit::path_from_env("CRUCIATE_PARITY_FIXTURE").is_none()
}

fn need(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "parity fixture file {} is missing",
        path.display()
    );
    path
}

fn npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    cruciate_testkit::read_npy_f32(path)
}

fn values<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    (
        shape,
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap(),
    )
}

fn assert_close(what: &str, ours: (Vec<usize>, Vec<f32>), theirs: (Vec<usize>, Vec<f32>)) {
    assert_within(what, ours, theirs, TOLERANCE);
}

fn assert_within(
    what: &str,
    ours: (Vec<usize>, Vec<f32>),
    theirs: (Vec<usize>, Vec<f32>),
    tolerance: f64,
) {
    assert_eq!(ours.0, theirs.0, "{what}: shape");
    let rel = cruciate_testkit::relative_l2(&ours.1, &theirs.1);
    eprintln!("{what}: relative L2 error {rel:.2e}");
    assert!(
        rel < tolerance,
        "{what}: relative L2 error {rel:.3e} (limit {tolerance:.3e})"
    );
}

struct Meta {
    slices: usize,
    classes: usize,
    label: i64,
    class_weights: Vec<f32>,
    loss: f64,
    /// PyTorch's own bf16-autocast error on the fixture (relative L2 against its float64
    /// references), per array.
    torch_bf16: serde_json::Value,
}

/// PyTorch's bf16-autocast errors on the shared fixture, whose meta.json predates the field:
/// measured by `scripts/parity_fixture.py --check` with PyTorch 2.15.0 (2026-12-07).
const SHARED_TORCH_BF16: &str =
    r#"{"grad_head_weight": 4.113e-3, "grad_conv5_bias": 1.573e-2, "grad_conv1_weight": 1.215e-1}"#;

/// How many times PyTorch's own bf16 error a bf16 gradient may be: oneDNN rounds to bf16 where
/// PyTorch's autocast does (each convolution's inputs and weights), give or take a rounding per
/// layer, so its error is of the same size (measured: 0.4 to 0.9 times PyTorch's on three
/// fixtures); twice leaves room for the other rounding points without admitting a wrong result.
const TORCH_BF16_FACTOR: f64 = 2.0;

impl Meta {
    /// The bound on a bf16 gradient: [`TORCH_BF16_FACTOR`] times PyTorch's own bf16 error on
    /// the same array of the same fixture.
    fn bf16_gradient_bound(&self, array: &str) -> f64 {
        let torch = self.torch_bf16[array]
            .as_f64()
            .unwrap_or_else(|| panic!("meta.json has no PyTorch bf16 error for {array}"));
        TORCH_BF16_FACTOR * torch
    }
}

fn meta(dir: &Path) -> Meta {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(need(dir, "meta.json")).unwrap()).unwrap();
    Meta {
        slices: v["slices"].as_u64().unwrap() as usize,
        classes: v["classes"].as_u64().unwrap() as usize,
        label: v["label"].as_i64().unwrap(),
        class_weights: v["class_weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap() as f32)
            .collect(),
        loss: v["loss"].as_f64().unwrap(),
        torch_bf16: match &v["torch_bf16_autocast_relative_l2"] {
            serde_json::Value::Null => serde_json::from_str(SHARED_TORCH_BF16).unwrap(),
            errors => errors.clone(),
        },
    }
}

/// The fixture's weighted cross entropy of `logits` against its label.
fn fixture_loss(logits: Tensor<2>, meta: &Meta) -> Tensor<1> {
    let target =
        Tensor::<1, Int>::from_data(TensorData::new(vec![meta.label], [1]), &logits.device());
    weighted_cross_entropy(logits, target, Some(&meta.class_weights))
}

fn tensor4(path: &Path, device: &Device) -> Tensor<4> {
    let (shape, data) = npy(path);
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn mrnet(dir: &Path, weights: &str, classes: usize, device: &Device) -> ExamModel {
    let mut features = AlexNetFeatures::new(device);
    let report = load_torchvision(&mut features, &need(dir, weights), &[]).unwrap();
    assert_eq!(report.applied, 10, "five convolutions, weight and bias");
    assert!(
        report.ignored.iter().any(|k| k.contains("classifier")),
        "classifier keys ignored: {:?}",
        report.ignored
    );
    let mut model = ExamModel::new(
        Backbone::AlexNet(features),
        AlexNetFeatures::CHANNELS,
        classes,
        SlicePooling::Max,
        device,
    );
    load_torchvision(&mut model.head, &need(dir, "mrnet_head.safetensors"), &[]).unwrap();
    model
}

#[test]
fn parity_mrnet_features_logits_loss_and_gradients() {
    let Some(dir) = fixture_dir() else { return };
    let meta = meta(&dir);
    let device = test_device().autodiff();
    let model = mrnet(
        &dir,
        "alexnet_torchvision.safetensors",
        meta.classes,
        &device,
    );
    let input = tensor4(&need(&dir, "input.npy"), &device);
    assert_eq!(input.dims()[0], meta.slices);
    let out = model.forward(input);
    assert_close(
        "activations",
        values(out.activations.clone()),
        npy(&need(&dir, "activations.npy")),
    );
    assert_close(
        "slice features",
        values(out.slice_features.clone()),
        npy(&need(&dir, "slice_features.npy")),
    );
    let logits = out.logits.clone().reshape([meta.classes]);
    assert_close("logits", values(logits), npy(&need(&dir, "logits.npy")));

    let loss = fixture_loss(out.logits, &meta);
    let ours = values(loss.clone()).1[0] as f64;
    let rel = (ours - meta.loss).abs() / meta.loss.abs();
    eprintln!("loss: relative error {rel:.2e}");
    assert!(
        rel < TOLERANCE,
        "loss {ours} vs {} (relative error {rel:.2e})",
        meta.loss
    );

    let grads = loss.backward();
    let head = model
        .head
        .weight
        .val()
        .grad(&grads)
        .expect("head weight gradient");
    // Burn stores Linear weights as [in, out]; torch as [out, in].
    assert_close(
        "grad head weight",
        values(head.transpose()),
        npy(&need(&dir, "grad_head_weight.npy")),
    );
    let Backbone::AlexNet(features) = &model.backbone else {
        unreachable!()
    };
    let conv1 = features.features[0]
        .weight
        .val()
        .grad(&grads)
        .expect("conv1 gradient");
    // conv1's weight gradient is a sum of ~40 000 products per element that cancel about
    // 15-fold, so any float32 computation lands far from the float64 fixture: PyTorch's own
    // float32 run lands 4.4e-4 from it (`parity_conv1_reference.py`), and so does ours. The
    // gradient flowing into conv1 is held to 1e-5 against PyTorch's float64 one in
    // `parity_conv1_output_gradient_against_pytorch`; this one tensor is held to 1e-3.
    assert_within(
        "grad conv1 weight",
        values(conv1.clone()),
        npy(&need(&dir, "grad_conv1_weight.npy")),
        1e-3,
    );
    if fixture_is_the_shared_one() {
        // The same float32 computation in PyTorch: the two land close to each other.
        assert_within(
            "grad conv1 weight vs PyTorch float32",
            values(conv1),
            npy(Path::new(&format!("{LOCAL}/conv1_weight_grad_f32.npy"))),
            1e-4,
        );
    }
    let conv5 = features.features[4]
        .bias
        .as_ref()
        .unwrap()
        .val()
        .grad(&grads)
        .expect("conv5 bias gradient");
    assert_close(
        "grad conv5 bias",
        values(conv5),
        npy(&need(&dir, "grad_conv5_bias.npy")),
    );
}

#[test]
fn parity_pth_and_safetensors_weights_give_the_same_logits() {
    let Some(dir) = fixture_dir() else { return };
    let meta = meta(&dir);
    let device = test_device();
    let input = tensor4(&need(&dir, "input.npy"), &device);
    let a = mrnet(
        &dir,
        "alexnet_torchvision.safetensors",
        meta.classes,
        &device,
    )
    .forward(input.clone())
    .logits;
    let b = mrnet(&dir, "alexnet_torchvision.pth", meta.classes, &device)
        .forward(input)
        .logits;
    assert_close("pth vs safetensors logits", values(b), values(a));
}

#[test]
fn parity_vgg16_features_and_pooled_features() {
    let Some(dir) = fixture_dir() else { return };
    let weights = dir.join("vgg16_features_torchvision.safetensors");
    // Another parity fixture (CRUCIATE_PARITY_FIXTURE) may come without VGG16 files; the shared
    // one has them, and a missing one fails.
    if !fixture_is_the_shared_one() && !weights.is_file() {
        eprintln!("skipped: this parity fixture has no VGG16 files");
        return;
    }
    let weights = need(&dir, "vgg16_features_torchvision.safetensors");
    let device = test_device();
    let mut vgg = Vgg::new(&device, VggDepth::Vgg16, false);
    let remaps = vgg.torchvision_remaps();
    let report = load_torchvision(&mut vgg, &weights, &remaps).unwrap();
    assert_eq!(report.applied, 26);
    let features = vgg.forward(tensor4(&need(&dir, "vgg_input.npy"), &device));
    assert_close(
        "vgg16 features",
        values(features.clone()),
        npy(&need(&dir, "vgg_features.npy")),
    );
    let [n, c, _, _] = features.dims();
    let gap = features.mean_dim(3).mean_dim(2).reshape([n, c]);
    assert_close(
        "vgg16 pooled features",
        values(gap),
        npy(&need(&dir, "vgg_gap.npy")),
    );
}

#[test]
fn wrong_weights_are_refused_with_the_keys_listed() {
    let Some(dir) = fixture_dir() else { return };
    let device = test_device();
    // VGG16 weights into AlexNet: shapes differ (another parity fixture may have no VGG16
    // files; the shared one has them, and a missing one fails).
    let vgg_weights = dir.join("vgg16_features_torchvision.safetensors");
    if fixture_is_the_shared_one() || vgg_weights.is_file() {
        let mut alexnet = AlexNetFeatures::new(&device);
        let err = load_torchvision(
            &mut alexnet,
            &need(&dir, "vgg16_features_torchvision.safetensors"),
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("do not fit"), "{text}");
    }
    // AlexNet weights into VGG16: most keys missing.
    let mut vgg = Vgg::new(&device, VggDepth::Vgg16, false);
    let remaps = vgg.torchvision_remaps();
    let err = load_torchvision(
        &mut vgg,
        &need(&dir, "alexnet_torchvision.safetensors"),
        &remaps,
    )
    .unwrap_err();
    assert!(err.to_string().contains("convs.0.weight"), "{err}");
    let err = load_torchvision(&mut vgg, Path::new("/no/such/weights.pth"), &remaps).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
}

/// The gradient at conv1's output against PyTorch's float64 one (slice 0), and conv1's weight
/// gradient against Burn's own output gradient contracted with the input in float64: the weight
/// gradient is what that output gradient implies (1.5e-7), so its 4.4e-4 from the float64
/// fixture comes from the float32 contraction itself, as PyTorch's float32 run shows too.
#[test]
fn parity_conv1_weight_gradient_against_f64() {
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::activation::relu;
    let Some(dir) = fixture_dir() else { return };
    let meta = meta(&dir);
    let device = test_device().autodiff();
    let model = mrnet(
        &dir,
        "alexnet_torchvision.safetensors",
        meta.classes,
        &device,
    );
    let Backbone::AlexNet(features) = &model.backbone else {
        unreachable!()
    };
    let (xshape, xs) = npy(&need(&dir, "input.npy"));
    let input = tensor4(&need(&dir, "input.npy"), &device);
    let pool = MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init();
    // conv1's output as a leaf, then the rest of the network.
    let y1 = features.features[0]
        .forward(input.clone())
        .detach()
        .require_grad();
    let mut x = pool.forward(relu(y1.clone()));
    for (i, conv) in features.features.iter().enumerate().skip(1) {
        x = relu(conv.forward(x));
        if i == 1 || i == 4 {
            x = pool.forward(x);
        }
    }
    let [s, c, _, _] = x.dims();
    let pooled = x.mean_dim(3).mean_dim(2).reshape([s, c]).max_dim(0);
    let logits = model.head.forward(pooled);
    let loss = fixture_loss(logits, &meta);
    let grads = loss.backward();
    let (dshape, dy) = values(y1.grad(&grads).expect("conv1 output gradient"));
    if fixture_is_the_shared_one() {
        // The gradient flowing into conv1, slice 0, against PyTorch's float64 one.
        let per_slice = dy.len() / dshape[0];
        let (rshape, reference) = npy(Path::new(&format!("{LOCAL}/conv1_output_grad_slice0.npy")));
        assert_eq!(rshape[1..], dshape[1..]);
        assert_within(
            "conv1 output gradient, slice 0, vs PyTorch float64",
            (rshape, dy[..per_slice].to_vec()),
            (vec![1, dshape[1], dshape[2], dshape[3]], reference),
            TOLERANCE,
        );
    }
    let [n, o, oh, ow] = [dshape[0], dshape[1], dshape[2], dshape[3]];
    let [h, w] = [xshape[2], xshape[3]];
    let mut g = vec![0f64; o * 3 * 11 * 11];
    for sl in 0..n {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let d = dy[((sl * o + oc) * oh + i) * ow + j] as f64;
                    if d == 0.0 {
                        continue;
                    }
                    for ci in 0..3 {
                        for kh in 0..11 {
                            let r = (4 * i + kh) as isize - 2;
                            if r < 0 || r >= h as isize {
                                continue;
                            }
                            for kw in 0..11 {
                                let q = (4 * j + kw) as isize - 2;
                                if q < 0 || q >= w as isize {
                                    continue;
                                }
                                let xv =
                                    xs[((sl * 3 + ci) * h + r as usize) * w + q as usize] as f64;
                                g[((oc * 3 + ci) * 11 + kh) * 11 + kw] += d * xv;
                            }
                        }
                    }
                }
            }
        }
    }
    let (_, burn_grad) = values(conv1_weight_gradient(&dir, &meta, &device));
    let (_, torch_grad) = npy(&need(&dir, "grad_conv1_weight.npy"));
    let rel = |a: &[f32]| {
        let num: f64 = a.iter().zip(&g).map(|(x, y)| (*x as f64 - y).powi(2)).sum();
        let den: f64 = g.iter().map(|y| y * y).sum();
        (num / den).sqrt()
    };
    let (ours, theirs) = (rel(&burn_grad), rel(&torch_grad));
    eprintln!(
        "grad conv1 weight vs the f64 contraction of the output gradient: Burn {ours:.2e}, PyTorch {theirs:.2e}"
    );
    assert!(
        ours < 1e-6,
        "Burn's conv1 weight gradient is {ours:.2e} from the f64 sum"
    );
}

/// Burn's conv1 weight gradient through the whole model, as the parity test takes it.
fn conv1_weight_gradient(dir: &Path, meta: &Meta, device: &Device) -> Tensor<4> {
    let model = mrnet(dir, "alexnet_torchvision.safetensors", meta.classes, device);
    let out = model.forward(tensor4(&need(dir, "input.npy"), device));
    let loss = fixture_loss(out.logits, meta);
    let grads = loss.backward();
    let Backbone::AlexNet(features) = &model.backbone else {
        unreachable!()
    };
    features.features[0]
        .weight
        .val()
        .grad(&grads)
        .expect("conv1 gradient")
}

/// CAM and Grad-CAM of the class the model calls, against `cam_raw.npy` and `gradcam_raw.npy`.
#[test]
fn parity_cam_and_grad_cam() {
    use cruciate_models::explain::{class_activation_map, grad_cam, slice_importance};
    let Some(dir) = fixture_dir() else { return };
    let meta = meta(&dir);
    let device = test_device();
    let model = mrnet(
        &dir,
        "alexnet_torchvision.safetensors",
        meta.classes,
        &device,
    );
    let out = model.forward(tensor4(&need(&dir, "input.npy"), &device));
    let logits = values(out.logits.clone()).1;
    let target = (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap();
    let cam = class_activation_map(&model, out.activations.clone(), target).unwrap();
    assert_close("CAM", values(cam), npy(&need(&dir, "cam_raw.npy")));
    let gradcam = grad_cam(&model, out.activations.clone(), target);
    assert_close(
        "Grad-CAM",
        values(gradcam),
        npy(&need(&dir, "gradcam_raw.npy")),
    );
    // Max pooling: each slice's share is the fraction of channels it wins.
    let shares = slice_importance(&model, out.slice_features);
    let (_, winners) = npy(&need(&dir, "argmax_slice_per_feature.npy"));
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    for (s, share) in shares.iter().enumerate() {
        let wins = winners.iter().filter(|&&w| w as usize == s).count();
        assert!(
            (share - wins as f64 / winners.len() as f64).abs() < 1e-9,
            "slice {s}"
        );
    }
}

/// The engines this build has beyond Flex, at each precision; empty (and a skip message) when
/// it has none, which fails instead when `CRUCIATE_DNNL=required`.
fn fast_engines() -> Vec<cruciate_engine::EngineChoice> {
    use cruciate_engine::{EngineChoice, EngineKind, Precision, dnnl};
    if !dnnl::available() {
        assert!(
            std::env::var("CRUCIATE_DNNL").map_or(true, |v| v != "required"),
            "CRUCIATE_DNNL=required, but this build has no oneDNN"
        );
        eprintln!("skipped: this build has no oneDNN");
        return Vec::new();
    }
    [Precision::F32, Precision::Bf16]
        .map(|p| EngineChoice {
            engine: EngineKind::Dnnl,
            precision: Some(p),
        })
        .to_vec()
}

/// The accuracy guard: MRNet's activations and logits through each fast engine against
/// PyTorch's float64 results; f32 within the parity tolerance, bf16 within what its roundoff
/// allows over AlexNet's five convolutions (and the head, for the logits).
#[test]
fn parity_engines_mrnet_activations_and_logits() {
    let Some(dir) = fixture_dir() else { return };
    let meta = meta(&dir);
    let device = cruciate_models::Compute::FLEX.device();
    let model = mrnet(
        &dir,
        "alexnet_torchvision.safetensors",
        meta.classes,
        &device,
    );
    let input = tensor4(&need(&dir, "input.npy"), &device);
    for choice in fast_engines() {
        let engine = cruciate_models::BackboneEngine::new(&model.backbone, choice).unwrap();
        let name = engine.resolved().to_string();
        let out = model.from_activations(engine.forward(&model.backbone, input.clone()));
        let bf16 = choice.precision == Some(cruciate_engine::Precision::Bf16);
        let (activations, logits) = if bf16 {
            (bf16_bound(2 * 5), bf16_bound(2 * 6))
        } else {
            (TOLERANCE, TOLERANCE)
        };
        assert_within(
            &format!("{name} activations"),
            values(out.activations),
            npy(&need(&dir, "activations.npy")),
            activations,
        );
        assert_within(
            &format!("{name} logits"),
            values(out.logits.reshape([meta.classes])),
            npy(&need(&dir, "logits.npy")),
            logits,
        );
    }
}

/// VGG16's features through each fast engine against PyTorch's.
#[test]
fn parity_engines_vgg16_features() {
    let Some(dir) = fixture_dir() else { return };
    let weights = dir.join("vgg16_features_torchvision.safetensors");
    if !fixture_is_the_shared_one() && !weights.is_file() {
        eprintln!("skipped: this parity fixture has no VGG16 files");
        return;
    }
    let device = cruciate_models::Compute::FLEX.device();
    let mut vgg = Vgg::new(&device, VggDepth::Vgg16, false);
    let remaps = vgg.torchvision_remaps();
    load_torchvision(
        &mut vgg,
        &need(&dir, "vgg16_features_torchvision.safetensors"),
        &remaps,
    )
    .unwrap();
    let backbone = Backbone::Vgg(vgg);
    let input = tensor4(&need(&dir, "vgg_input.npy"), &device);
    for choice in fast_engines() {
        let engine = cruciate_models::BackboneEngine::new(&backbone, choice).unwrap();
        let bf16 = choice.precision == Some(cruciate_engine::Precision::Bf16);
        assert_within(
            &format!("{} vgg16 features", engine.resolved()),
            values(engine.forward(&backbone, input.clone())),
            npy(&need(&dir, "vgg_features.npy")),
            if bf16 { bf16_bound(2 * 13) } else { TOLERANCE },
        );
    }
}

/// Training through each fast engine: the loss and the gradients of the head, conv5's bias and
/// conv1's weights against PyTorch's float64 ones. f32 within the Flex tolerances above; bf16
/// (activations and their gradients in bf16, weight gradients accumulated in f32): the loss
/// within what bf16's roundoff allows over the forward pass ([`bf16_bound`]), the gradients
/// within twice PyTorch's own bf16 error on the same fixture ([`Meta::bf16_gradient_bound`]):
/// a roundoff bound does not hold for them (conv1's weight gradient is a sum that cancels so
/// strongly that f32 itself lands 4.4e-4 from float64, and the backward pass's roundings are
/// not independent of the forward's).
#[test]
fn parity_engines_mrnet_training_gradients() {
    let Some(dir) = fixture_dir() else { return };
    let meta = meta(&dir);
    let device = cruciate_models::Compute::FLEX.device().autodiff();
    let model = mrnet(
        &dir,
        "alexnet_torchvision.safetensors",
        meta.classes,
        &device,
    );
    let input = tensor4(&need(&dir, "input.npy"), &device);
    let Backbone::AlexNet(features) = &model.backbone else {
        unreachable!()
    };
    for choice in fast_engines() {
        let trainer = cruciate_models::BackboneTrainer::new(choice)
            .unwrap()
            .expect("AlexNet trains on oneDNN");
        let name = trainer.resolved().to_string();
        let bf16 = choice.precision == Some(cruciate_engine::Precision::Bf16);
        let (_, loss, grads) = trainer
            .step(&model, input.clone(), |logits| fixture_loss(logits, &meta))
            .unwrap();
        let ours = values(loss).1[0] as f64;
        let rel = (ours - meta.loss).abs() / meta.loss.abs();
        eprintln!("{name} loss: relative error {rel:.2e}");
        assert!(
            rel < if bf16 { bf16_bound(2 * 6) } else { TOLERANCE },
            "{name} loss {ours}"
        );
        let head: Tensor<2> = grads.get(model.head.weight.id).expect("head gradient");
        assert_within(
            &format!("{name} grad head weight"),
            values(head.transpose()),
            npy(&need(&dir, "grad_head_weight.npy")),
            if bf16 {
                meta.bf16_gradient_bound("grad_head_weight")
            } else {
                TOLERANCE
            },
        );
        let conv5: Tensor<1> = grads
            .get(features.features[4].bias.as_ref().unwrap().id)
            .expect("conv5 bias gradient");
        assert_within(
            &format!("{name} grad conv5 bias"),
            values(conv5),
            npy(&need(&dir, "grad_conv5_bias.npy")),
            if bf16 {
                meta.bf16_gradient_bound("grad_conv5_bias")
            } else {
                TOLERANCE
            },
        );
        let conv1: Tensor<4> = grads
            .get(features.features[0].weight.id)
            .expect("conv1 gradient");
        assert_within(
            &format!("{name} grad conv1 weight"),
            values(conv1),
            npy(&need(&dir, "grad_conv1_weight.npy")),
            if bf16 {
                meta.bf16_gradient_bound("grad_conv1_weight")
            } else {
                1e-3
            },
        );
    }
}

/// On a GPU (`CRUCIATE_DEVICE`, as `scripts/gpu-check.sh` sets it), the same weights and input
/// give the CPU's results, the CPU being held to PyTorch above: VGG16 features (random
/// weights: the torchvision file is too large to carry to a GPU host), and MRNet's logits and
/// conv1 weight gradient after one backward pass. On the CPU there is nothing to compare.
#[test]
fn gpu_vgg16_features_and_mrnet_gradients_match_the_cpu() {
    use burn::tensor::Distribution;
    let gpu = test_device();
    let cpu = cruciate_models::Compute::FLEX.device();
    if gpu == cpu {
        eprintln!("skipped: CRUCIATE_DEVICE names no GPU");
        return;
    }
    let vgg = Vgg::new(&cpu, VggDepth::Vgg16, false);
    let images = Tensor::<4>::random([2, 3, 224, 224], Distribution::Normal(0.0, 1.0), &cpu);
    let want = values(vgg.forward(images.clone()));
    let got = values(vgg.to_device(&gpu).forward(images.to_device(&gpu)));
    assert_close("VGG16 features, GPU vs CPU", got, want);

    let step = |device: &Device, model: &ExamModel, exam: Tensor<4>| {
        // Moved onto the autodiff device, then made to track gradients again.
        let model = model.clone().to_device(&device.clone().autodiff()).train();
        let logits = model
            .forward(exam.to_device(&device.clone().autodiff()))
            .logits;
        let target = TensorData::new(vec![1i64], [1]);
        let target = Tensor::<1, Int>::from_data(target, &logits.device());
        let grads = weighted_cross_entropy(logits.clone(), target, None).backward();
        let Backbone::AlexNet(features) = &model.backbone else {
            unreachable!()
        };
        let conv1 = features.features[0].weight.val().grad(&grads).unwrap();
        (values(logits), values(conv1))
    };
    let model = ExamModel::new(
        Backbone::AlexNet(AlexNetFeatures::new(&cpu)),
        AlexNetFeatures::CHANNELS,
        2,
        SlicePooling::Max,
        &cpu,
    );
    let exam = Tensor::<4>::random([4, 3, 256, 256], Distribution::Normal(0.0, 1.0), &cpu);
    let (cpu_logits, cpu_grad) = step(&cpu, &model, exam.clone());
    let (gpu_logits, gpu_grad) = step(&gpu, &model, exam);
    assert_close("MRNet logits, GPU vs CPU", gpu_logits, cpu_logits);
    // Both are float32 sums that cancel (see conv1 above): held to 1e-4 of each other.
    assert_within("MRNet conv1 gradient, GPU vs CPU", gpu_grad, cpu_grad, 1e-4);
}
