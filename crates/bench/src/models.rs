//! The models on every engine and precision this build and CPU offer (or on the GPU the
//! compute names): MRNet's forward pass and training step, less work (central slices, the ACL
//! region), the other backbones' forward passes (VGG16, ResNet-18/50, SqueezeNet), whole-exam feature extraction, the service's upload-to-result
//! latency with the demo model, and phantom generation for scale.
//!
//! Each figure is the median of `repeat` timed runs after one warm-up run (min and max kept).
//! Convolution work is counted as `2 * Cin * Cout * k * k * Hout * Wout` per layer, the way
//! `bench/pytorch_bench.py` counts it, so that GFLOP/s compare across the two.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use cruciate_engine::{EngineChoice, EngineKind, Precision, Resolved, dnnl};
use cruciate_models::backbone::{Vgg, VggDepth};
use cruciate_models::loss::weighted_cross_entropy;
use cruciate_models::{
    Backbone, BackboneEngine, BackboneKind, BackboneTrainer, Compute, ExamModel, SlicePooling,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::service::{Analysers, measure};
use crate::{BenchError, RegistryFor, Timing};

/// What the model benchmark measures on.
#[derive(Debug, Clone, Copy)]
pub struct ModelBench {
    /// Slices per MRNet exam.
    pub slices: usize,
    /// Timed repetitions of each measurement (after one warm-up run).
    pub repeat: usize,
    /// Phantom exams for the feature-extraction and synth figures.
    pub exams: usize,
}

/// One measured row: a workload on one engine.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What ran ("MRNet forward, 32 x 256x256").
    pub workload: String,
    /// The engine and precision on the CPU, the device on a GPU.
    pub variant: String,
    /// How long it took, milliseconds.
    #[serde(flatten)]
    pub timing: Timing,
    /// Convolution work per run, GFLOP (0 where not counted).
    #[serde(skip)]
    pub gflop: f64,
}

impl Row {
    /// The convolution rate of the median run, where the work is counted.
    pub fn gflop_per_s(&self) -> Option<f64> {
        (self.gflop > 0.0).then(|| self.gflop / (self.timing.median / 1000.0))
    }
}

/// The engines to compare: on the CPU Flex, and oneDNN at each precision when built in; on a
/// GPU, Burn alone.
pub fn engines(compute: Compute) -> Vec<EngineChoice> {
    let mut out = vec![EngineChoice::FLEX];
    if dnnl::available() && !compute.target.is_gpu() {
        out.extend([Precision::F32, Precision::Bf16].map(|p| EngineChoice {
            engine: EngineKind::Dnnl,
            precision: Some(p),
        }));
    }
    out
}

/// A row's engine column: the engine on the CPU, the device on a GPU.
pub fn label(compute: Compute, engine: Resolved) -> String {
    if compute.target.is_gpu() {
        format!("{} f32", compute.target)
    } else {
        engine.to_string()
    }
}

fn mrnet(device: &Device) -> ExamModel {
    exam_model(BackboneKind::AlexNet, device)
}

/// A measurement's hand-over: each row, made from its parts, given to `row`.
fn emitter(row: &mut dyn FnMut(Row)) -> impl FnMut(&str, String, Timing, f64) + '_ {
    move |workload: &str, variant: String, timing: Timing, gflop: f64| {
        row(Row {
            workload: workload.to_string(),
            variant,
            timing,
            gflop,
        })
    }
}

/// Runs every model measurement on `compute`, handing each row to `row` as it is measured;
/// `registry` opens the demo model for the service row.
pub fn run(
    bench: &ModelBench,
    compute: Compute,
    registry: RegistryFor,
    row: &mut dyn FnMut(Row),
) -> Result<(), BenchError> {
    let device = compute.device();
    let mut emit = emitter(row);

    // MRNet forward on every engine, then on less work with the default engine.
    let model = mrnet(&device);
    // The exam in memory as input preparation leaves it (row-major f32), as PyTorch's side
    // starts from its input tensor.
    let exam_forward = |engine: &BackboneEngine, shape: [usize; 4]| {
        let exam: Vec<f32> = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 after convert");
        let stack = model.backbone.conv_stack();
        let t = Timing::of(bench.repeat, || {
            let acts = engine.forward_values(&model.backbone, &exam, shape, &device);
            let _ = model.from_activations(acts).logits.into_data();
        });
        (t, stack.gflop(shape))
    };
    let what = format!("MRNet forward, {} x 256x256", bench.slices);
    for choice in engines(compute) {
        let engine = BackboneEngine::new(&model.backbone, choice)?;
        let (t, gflop) = exam_forward(&engine, [bench.slices, 3, 256, 256]);
        emit(&what, label(compute, engine.resolved()), t, gflop);
    }
    let engine = BackboneEngine::new(&model.backbone, compute.engine_choice())?;
    // Less work: the central slices only, or the ACL region (the localiser's box with the
    // cascade's margin, resampled to 8 slices of 112x112 as in docs/study.md).
    for (what, shape) in [
        ("  less work: 16 central slices", [16, 3, 256, 256]),
        ("  less work: 8 central slices", [8, 3, 256, 256]),
        ("  less work: ACL region, 8 x 112x112", [8, 3, 112, 112]),
    ] {
        let (t, gflop) = exam_forward(&engine, shape);
        emit(what, label(compute, engine.resolved()), t, gflop);
    }

    training_step(bench, compute, &mut emit)?;

    backbone_forwards(bench, compute, &mut emit)?;
    for (what, make, shape) in TRAINING_STEPS {
        model_training_step(bench, compute, &mut emit, what, make, shape)?;
    }
    feature_extraction(bench, compute, &mut emit)?;
    gate(bench, &mut emit)?;
    service_latency(compute, registry, &mut emit)?;
    synth(bench, &mut emit);
    Ok(())
}

/// What a measurement hands on: workload, engine column, timing, GFLOP.
type Emit<'a> = dyn FnMut(&str, String, Timing, f64) + 'a;

/// Makes a randomly initialised backbone on a device.
type MakeBackbone = fn(&Device) -> Backbone;

/// The backbones of the study besides MRNet's AlexNet, on 8 images of 224x224 (ImageNet's
/// size, as `bench/pytorch_bench.py` runs them): the workload name and the backbone (VGG16 as
/// torchvision's `vgg16().features`, without batch norms; the others as torchvision's).
const BACKBONES: [(&str, MakeBackbone); 4] = [
    ("VGG16 forward, 8 x 224x224", |d| {
        Backbone::Vgg(Vgg::new(d, VggDepth::Vgg16, false))
    }),
    ("ResNet-18 forward, 8 x 224x224", |d| {
        BackboneKind::ResNet18.init(d)
    }),
    ("ResNet-50 forward, 8 x 224x224", |d| {
        BackboneKind::ResNet50.init(d)
    }),
    ("SqueezeNet forward, 8 x 224x224", |d| {
        BackboneKind::SqueezeNet.init(d)
    }),
];

/// Each of [`BACKBONES`]' forward passes and each of [`TRAINING_STEPS`] on every engine,
/// handing each row to `row`: what `cruciate bench --backbones` measures alone.
pub fn backbones(
    bench: &ModelBench,
    compute: Compute,
    row: &mut dyn FnMut(Row),
) -> Result<(), BenchError> {
    let mut emit = emitter(row);
    backbone_forwards(bench, compute, &mut emit)?;
    for (what, make, shape) in TRAINING_STEPS {
        model_training_step(bench, compute, &mut emit, what, make, shape)?;
    }
    Ok(())
}

fn backbone_forwards(
    bench: &ModelBench,
    compute: Compute,
    emit: &mut Emit,
) -> Result<(), BenchError> {
    let device = compute.device();
    let shape = [8, 3, 224, 224];
    let images = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    for (what, make) in BACKBONES {
        let backbone = make(&device);
        let gflop = backbone.conv_stack().gflop(shape);
        for choice in engines(compute) {
            let engine = BackboneEngine::new(&backbone, choice)?;
            let t = Timing::of(bench.repeat, || {
                let _ = engine.forward(&backbone, images.clone()).into_data();
            });
            emit(what, label(compute, engine.resolved()), t, gflop);
        }
    }
    Ok(())
}

/// One Adam step of MRNet on one exam.
fn training_step(bench: &ModelBench, compute: Compute, emit: &mut Emit) -> Result<(), BenchError> {
    let what = format!("MRNet training step (Adam), {} slices", bench.slices);
    let shape = [bench.slices, 3, 256, 256];
    model_training_step(bench, compute, emit, &what, mrnet, shape)
}

/// The batch-norm networks' training steps beside PyTorch's (`bench/pytorch_bench.py` trains
/// the same): the workload, the model (backbone, global average pool, max over slices, a
/// two-class head) and the exam's shape.
const TRAINING_STEPS: [(&str, MakeModel, [usize; 4]); 2] = [
    (
        "ResNet-50 training step (Adam), 8 x 224x224",
        |d| exam_model(BackboneKind::ResNet50, d),
        [8, 3, 224, 224],
    ),
    (
        "small training step (Adam), 32 x 128x128",
        |d| exam_model(BackboneKind::Small, d),
        [32, 3, 128, 128],
    ),
];

/// Makes a randomly initialised exam model on a device.
type MakeModel = fn(&Device) -> ExamModel;

fn exam_model(kind: BackboneKind, device: &Device) -> ExamModel {
    ExamModel::new(
        kind.init(device),
        kind.channels(),
        2,
        SlicePooling::Max,
        device,
    )
}

/// One Adam step of the model `make` makes on one exam of `shape`: Burn's autodiff alone
/// (Flex), and with the backbone's passes on each oneDNN precision.
fn model_training_step(
    bench: &ModelBench,
    compute: Compute,
    emit: &mut Emit,
    what: &str,
    make: MakeModel,
    shape: [usize; 4],
) -> Result<(), BenchError> {
    let train_device = compute.device().autodiff();
    let exam = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &train_device);
    let target = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &train_device);
    let loss = |logits| weighted_cross_entropy(logits, target.clone(), None);
    for choice in engines(compute) {
        let mut trained = Some(make(&train_device));
        let gflop = trained
            .as_ref()
            .map_or(0.0, |m| 3.0 * m.backbone.conv_stack().gflop(shape));
        let engine = BackboneTrainer::new(choice)?;
        let mut optimizer = AdamConfig::new().init();
        let mut failure = None;
        let t = Timing::of(bench.repeat, || {
            let model = trained
                .take()
                .expect("the model is put back after each step");
            let grads = match &engine {
                Some(engine) => match engine.step(&model, exam.clone(), loss) {
                    Ok((_, _, grads)) => grads,
                    Err(e) => {
                        failure = Some(e);
                        GradientsParams::new()
                    }
                },
                None => {
                    let l = loss(model.forward(exam.clone()).logits);
                    GradientsParams::from_grads(l.backward(), &model)
                }
            };
            trained = Some(optimizer.step(1e-5, model, grads));
            let _ = train_device.sync();
        });
        if let Some(e) = failure {
            return Err(e.into());
        }
        // Backward costs about twice the forward: three times the forward work in all.
        let name = engine.map_or(Resolved::Flex, |e| e.resolved());
        emit(what, label(compute, name), t, gflop);
    }
    Ok(())
}

/// VGG16 features of whole phantom exams (8 central slices at 224x224), per exam, on every
/// engine (exams per second: 1000 / the median).
fn feature_extraction(
    bench: &ModelBench,
    compute: Compute,
    emit: &mut Emit,
) -> Result<(), BenchError> {
    let exams = crate::inputs::phantom_exams(bench.exams, 2);
    for choice in engines(compute) {
        let extractor = crate::inputs::vgg16_extractor(compute, choice)?;
        let mut next = 0;
        let t = Timing::of(bench.repeat, || {
            let _ = extractor.exam_features(&exams[next % exams.len()]);
            next += 1;
        });
        // Per exam: reading aside, slice choice, resampling, scaling, backbone and pooling.
        let what = "features of an exam (VGG16, 8 x 224x224)";
        emit(what, label(compute, extractor.engine()), t, 0.0);
    }
    Ok(())
}

/// The input gate's cost per exam: its rules on a phantom exam (headers, shape, voxels), the
/// numbers kept of it for drift, and the domain score of MRNet-sized features (256 values) against 1,000 training exams.
fn gate(bench: &ModelBench, emit: &mut Emit) -> Result<(), BenchError> {
    let exams = crate::inputs::phantom_exams(1, 3);
    let mut info = cruciate_infer::RunInfo::new("network", cruciate_data::Task::Binary, "bench");
    info.input = Some(cruciate_prep::InputConfig::default());
    let rules = cruciate_infer::Gate::for_run(&info);
    let t = Timing::of(bench.repeat, || {
        let _ = rules.check(&exams[0]);
    });
    emit("input gate: rules, 32 x 256x256", "-".into(), t, 0.0);
    let t = Timing::of(bench.repeat, || {
        let _ = cruciate_infer::drift::ExamSignals::of_input(&exams[0]);
    });
    emit("drift signals, 32 x 256x256", "-".into(), t, 0.0);
    let features = |n: usize, seed: u64| -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| (0..256).map(|_| rng.random::<f32>()).collect())
            .collect()
    };
    let reference =
        cruciate_infer::DomainReference::fit(&features(1000, 1), &features(100, 2), 0.975)?;
    let probe = features(1, 3).remove(0);
    let t = Timing::of(bench.repeat, || {
        let _ = reference.score(&probe);
    });
    emit("input gate: domain score, 1000 x 256", "-".into(), t, 0.0);
    Ok(())
}

/// Upload-to-result latency of one exam through a fresh service (one analyser that keeps the
/// bundled demo model, a zipped synthetic DICOM series) on every engine: the median of three.
fn service_latency(
    compute: Compute,
    registry: RegistryFor,
    emit: &mut Emit,
) -> Result<(), BenchError> {
    let scratch = tempfile::tempdir().map_err(BenchError::io("making a scratch folder"))?;
    let exams = crate::inputs::zipped_exams(&scratch.path().join("phantoms"), 3)?;
    for (i, choice) in engines(compute).into_iter().enumerate() {
        let compute = Compute {
            engine: choice,
            ..compute
        };
        let data = scratch.path().join(format!("data-{i}"));
        let analysers = Analysers {
            count: 1,
            kept: true,
        };
        let figures = measure(&data, None, analysers, &exams, compute, registry)?;
        let t = Timing::median_only(figures.latency_s * 1000.0);
        let engine = label(compute, choice.resolve()?);
        emit("service: upload to result (demo model)", engine, t, 0.0);
    }
    Ok(())
}

/// Phantom generation, for scale.
fn synth(bench: &ModelBench, emit: &mut Emit) {
    let specs: Vec<_> = (0..bench.exams.max(1))
        .map(|i| crate::inputs::phantom(i, 1))
        .collect();
    let t = Timing::of(0, || {
        specs
            .par_iter()
            .for_each(|s| drop(cruciate_data::phantom::generate(s)))
    });
    let what = format!("synth: {} phantoms of 32 x 256x256", specs.len());
    emit(&what, "-".into(), t, 0.0);
}
