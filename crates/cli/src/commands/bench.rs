//! `cruciate bench`: how fast the models run on this machine, on every engine and precision
//! this build and CPU offer (or on the GPU that `--device` names), and how much less work
//! central slices or the ACL region need.
//!
//! Each figure is the median of `--repeat` timed runs after one warm-up run (min and max
//! shown). Convolution work is counted as `2 * Cin * Cout * k * k * Hout * Wout` per layer, the
//! way `bench/pytorch_bench.py` counts it, so that GFLOP/s compare across the two.

use std::time::Instant;

use anyhow::Result;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use clap::Args;
use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use cruciate_engine::{EngineChoice, EngineKind, Precision, Resolved, dnnl};
use cruciate_models::backbone::{AlexNetFeatures, Vgg, VggDepth};
use cruciate_models::loss::weighted_cross_entropy;
use cruciate_models::{
    Backbone, BackboneEngine, BackboneTrainer, Compute, ExamModel, SlicePooling,
};
use rayon::prelude::*;

/// Arguments of `cruciate bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Slices per MRNet exam.
    #[arg(long, default_value_t = 32)]
    slices: usize,
    /// Timed repetitions of each measurement (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Phantom exams for the feature-extraction and synth figures (with --service: exams per
    /// batch).
    #[arg(long, default_value_t = 8)]
    exams: usize,
    /// One JSON object per line (a header, then one per row) instead of a table: what
    /// `bench/compare.sh` reads.
    #[arg(long)]
    json: bool,
    /// Measure the service instead: upload-to-result latency and exams per minute, with 1 and
    /// 2 analysers, beside the exam's decode and forward pass alone.
    #[arg(long)]
    pub service: bool,
    /// With --service: the runs to serve, one after the other (repeat the flag); the bundled
    /// demo model when none.
    #[arg(long = "run", value_name = "RUN")]
    pub runs: Vec<std::path::PathBuf>,
    /// Measure the SVM path instead: a 20-setting x 5-fold SVM grid on 500 x 1,024 features,
    /// and VGG16 feature extraction (8 central slices at 224x224) in exams/s on --exams phantoms.
    #[arg(long)]
    pub svm: bool,
}

/// The processor's name as the kernel reports it ("unknown CPU" elsewhere): speed figures
/// mean nothing without it.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Median, fastest and slowest of the timed runs, in milliseconds.
struct Timing {
    median: f64,
    min: f64,
    max: f64,
}

fn time_ms(repeat: usize, mut run: impl FnMut()) -> Timing {
    run();
    let mut times: Vec<f64> = (0..repeat.max(1))
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Timing {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
    }
}

/// Prints rows as a table or as JSON lines.
struct Report {
    json: bool,
}

impl Report {
    fn row(&self, what: &str, engine: &str, t: &Timing, gflop: f64) {
        let rate = (gflop > 0.0).then(|| gflop / (t.median / 1000.0));
        if self.json {
            let row = serde_json::json!({"workload": what, "variant": engine, "median_ms": t.median,
                "min_ms": t.min, "max_ms": t.max, "gflop_per_s": rate});
            println!("{row}");
        } else {
            let rate = rate.map_or("-".into(), |r| format!("{r:.1}"));
            let ms = |v: f64| {
                if v.is_nan() {
                    "-".into()
                } else {
                    format!("{v:.1}")
                }
            };
            println!(
                "{what:<40} {engine:<12} {:>10} {:>8} {:>8} {rate:>8}",
                ms(t.median),
                ms(t.min),
                ms(t.max)
            );
        }
    }
}

/// The engines to compare: on the CPU Flex, and oneDNN at each precision when built in; on a
/// GPU, Burn alone.
fn engines(compute: Compute) -> Vec<EngineChoice> {
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
fn label(compute: Compute, engine: Resolved) -> String {
    if compute.target.is_gpu() {
        format!("{} f32", compute.target)
    } else {
        engine.to_string()
    }
}

fn mrnet(device: &Device) -> ExamModel {
    ExamModel::new(
        Backbone::AlexNet(AlexNetFeatures::new(device)),
        AlexNetFeatures::CHANNELS,
        2,
        SlicePooling::Max,
        device,
    )
}

/// Runs `cruciate bench`.
pub fn run(args: &BenchArgs, compute: Compute) -> Result<()> {
    if args.service {
        return super::bench_service::run(args.exams, &args.runs, compute, &cpu_name());
    }
    if args.svm {
        return super::bench_svm::run(args.exams, compute, &cpu_name());
    }
    let repeat = args.repeat;
    let device = compute.device();
    let threads = rayon::current_num_threads();
    let isa = dnnl::cpu_isa().unwrap_or("-");
    let onednn = dnnl::version().unwrap_or_else(|| "not built in".into());
    let best = label(compute, compute.engine_choice().resolve()?);
    let report = Report { json: args.json };
    if args.json {
        let header = serde_json::json!({"side": "cruciate", "cpu": cpu_name(), "threads": threads,
            "onednn": onednn, "isa": isa, "default_engine": best, "slices": args.slices,
            "device": compute.target.to_string()});
        println!("{header}");
    } else {
        println!(
            "cruciate bench on {} ({threads} threads), oneDNN {onednn} ({isa}); default engine: \
             {best}",
            cpu_name()
        );
        println!(
            "{:<40} {:<12} {:>10} {:>8} {:>8} {:>8}",
            "workload", "engine", "median ms", "min", "max", "GFLOP/s"
        );
    }

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
        let stack = model.backbone.conv_stack().expect("AlexNet is a stack");
        let t = time_ms(repeat, || {
            let acts = engine.forward_values(&model.backbone, &exam, shape, &device);
            let _ = model.from_activations(acts).logits.into_data();
        });
        (t, stack.gflop(shape))
    };
    let full = [args.slices, 3, 256, 256];
    for choice in engines(compute) {
        let engine = BackboneEngine::new(&model.backbone, choice)?;
        let (t, gflop) = exam_forward(&engine, full);
        let what = format!("MRNet forward, {} x 256x256", args.slices);
        report.row(&what, &label(compute, engine.resolved()), &t, gflop);
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
        report.row(what, &label(compute, engine.resolved()), &t, gflop);
    }

    training_step(args, compute, &report)?;

    let vgg = Backbone::Vgg(Vgg::new(&device, VggDepth::Vgg16, false));
    let images = Tensor::<4>::random([8, 3, 224, 224], Distribution::Normal(0.0, 1.0), &device);
    let gflop = vgg.conv_stack().map_or(0.0, |s| s.gflop([8, 3, 224, 224]));
    for choice in engines(compute) {
        let engine = BackboneEngine::new(&vgg, choice)?;
        let t = time_ms(repeat, || {
            let _ = engine.forward(&vgg, images.clone()).into_data();
        });
        let name = label(compute, engine.resolved());
        report.row("VGG16 forward, 8 x 224x224", &name, &t, gflop);
    }

    feature_extraction(args, compute, &report)?;
    service_latency(compute, &report)?;
    synth(args, &report);
    Ok(())
}

/// One Adam step of MRNet on one exam: Burn's autodiff alone (Flex), and with the backbone's
/// passes on each oneDNN precision.
fn training_step(args: &BenchArgs, compute: Compute, report: &Report) -> Result<()> {
    let train_device = compute.device().autodiff();
    let shape = [args.slices, 3, 256, 256];
    let exam = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &train_device);
    let target = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &train_device);
    let loss = |logits| weighted_cross_entropy(logits, target.clone(), None);
    let what = format!("MRNet training step (Adam), {} slices", args.slices);
    for choice in engines(compute) {
        let mut trained = Some(mrnet(&train_device));
        let gflop = trained
            .as_ref()
            .and_then(|m| m.backbone.conv_stack())
            .map_or(0.0, |s| 3.0 * s.gflop(shape));
        let engine = match &trained {
            Some(m) => BackboneTrainer::new(&m.backbone, choice)?,
            None => None,
        };
        let mut optimizer = AdamConfig::new().init();
        let mut failure = None;
        let t = time_ms(args.repeat, || {
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
            anyhow::bail!("training step on {choice:?}: {e}");
        }
        // Backward costs about twice the forward: three times the forward work in all.
        let name = engine.map_or(Resolved::Flex, |e| e.resolved());
        report.row(&what, &label(compute, name), &t, gflop);
    }
    Ok(())
}

/// VGG16 features of whole phantom exams (8 central slices at 224x224), per exam, on every
/// engine (exams per second: 1000 / the median).
fn feature_extraction(args: &BenchArgs, compute: Compute, report: &Report) -> Result<()> {
    let exams = super::bench_inputs::phantom_exams(args.exams, 2);
    for choice in engines(compute) {
        let extractor = super::bench_inputs::vgg16_extractor(compute, choice)?;
        let mut next = 0;
        let t = time_ms(args.repeat, || {
            let _ = extractor.exam_features(&exams[next % exams.len()]);
            next += 1;
        });
        // Per exam: reading aside, slice choice, resampling, scaling, backbone and pooling.
        let what = "features of an exam (VGG16, 8 x 224x224)";
        report.row(what, &label(compute, extractor.engine()), &t, 0.0);
    }
    Ok(())
}

/// Upload-to-result latency of one exam through a fresh service (one worker, the bundled demo
/// model, a zipped synthetic DICOM series) on every engine: the median of three exams.
fn service_latency(compute: Compute, report: &Report) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let exams = super::bench_service::zipped_exams(&scratch.path().join("phantoms"), 3)?;
    for (i, choice) in engines(compute).into_iter().enumerate() {
        let compute = Compute {
            engine: choice,
            ..compute
        };
        let data = scratch.path().join(format!("data-{i}"));
        let analysers = super::bench_service::Analysers {
            count: 1,
            kept: true,
        };
        let figures = super::bench_service::measure(&data, None, analysers, &exams, compute)?;
        let t = Timing {
            median: figures.latency_s * 1000.0,
            min: f64::NAN,
            max: f64::NAN,
        };
        let engine = label(compute, choice.resolve()?);
        report.row("service: upload to result (demo model)", &engine, &t, 0.0);
    }
    Ok(())
}

/// Phantom generation, for scale.
fn synth(args: &BenchArgs, report: &Report) {
    let specs: Vec<ExamSpec> = (0..args.exams.max(1))
        .map(|i| ExamSpec {
            grade: (i % 4) as u8,
            size: 256,
            slices: (32, 32),
            difficulty: Difficulty::Realistic,
            seed: exam_seed(1, i as u64),
        })
        .collect();
    let t = time_ms(0, || specs.par_iter().for_each(|s| drop(generate(s))));
    let what = format!("synth: {} phantoms of 32 x 256x256", specs.len());
    report.row(&what, "-", &t, 0.0);
}
