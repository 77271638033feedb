//! `cruciate bench`: how fast the models and the phantom generator run on this machine.
//!
//! Convolution work is counted as `2 * Cin * Cout * k * k * Hout * Wout` per layer, the way the
//! issue tracker and the README compare figures; other layers are not counted.

use std::time::Instant;

use anyhow::Result;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use clap::Args;
use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use cruciate_models::backbone::{AlexNetFeatures, Vgg, VggDepth};
use cruciate_models::loss::weighted_cross_entropy;
use cruciate_models::{Backbone, ExamModel, SlicePooling};
use rayon::prelude::*;

/// Arguments of `cruciate bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Slices per MRNet exam.
    #[arg(long, default_value_t = 32)]
    slices: usize,
    /// Timed repetitions of each measurement (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Phantom exams to generate for the synth figure (with --service: exams per batch).
    #[arg(long, default_value_t = 20)]
    exams: usize,
    /// Measure the service instead: upload-to-result latency and exams per minute, with 1 and
    /// 2 workers.
    #[arg(long)]
    pub service: bool,
    /// Measure the SVM path instead: a 20-setting x 5-fold SVM grid on 500 x 1,024 features,
    /// and VGG16 feature extraction (8 central slices at 224x224) in exams/s on --exams phantoms.
    #[arg(long)]
    pub svm: bool,
}

/// Output size of a convolution or pool along one axis.
fn out_size(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - k) / stride + 1
}

/// Convolution GFLOP of AlexNet features on one `size x size` image.
fn alexnet_gflop(size: usize) -> f64 {
    let mut s = size;
    let mut flop = 0.0;
    for (i, (cin, cout, k, stride, pad)) in [
        (3, 64, 11, 4, 2),
        (64, 192, 5, 1, 2),
        (192, 384, 3, 1, 1),
        (384, 256, 3, 1, 1),
        (256, 256, 3, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        s = out_size(s, k, stride, pad);
        flop += 2.0 * (cin * cout * k * k * s * s) as f64;
        if matches!(i, 0 | 1 | 4) {
            s = out_size(s, 3, 2, 0);
        }
    }
    flop / 1e9
}

/// Convolution GFLOP of VGG16 features on one `size x size` image.
fn vgg16_gflop(size: usize) -> f64 {
    let mut s = size;
    let mut cin = 3;
    let mut flop = 0.0;
    for (n, width) in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)] {
        for _ in 0..n {
            flop += 2.0 * (cin * width * 9 * s * s) as f64;
            cin = width;
        }
        s /= 2;
    }
    flop / 1e9
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

fn time_ms(repeat: usize, mut run: impl FnMut()) -> f64 {
    run();
    let start = Instant::now();
    for _ in 0..repeat {
        run();
    }
    start.elapsed().as_secs_f64() * 1000.0 / repeat as f64
}

/// Runs `cruciate bench`.
pub fn run(args: &BenchArgs, compute: cruciate_models::Compute) -> Result<()> {
    if args.service {
        return super::bench_service::run(args.exams, compute, &cpu_name());
    }
    if args.svm {
        return super::bench_svm::run(args.exams, compute, &cpu_name());
    }
    let repeat = args.repeat.max(1);
    let device = compute.device();
    println!(
        "cruciate bench on {} ({}), {} CPU threads; conv work as 2*Cin*Cout*k*k*Hout*Wout",
        compute,
        cpu_name(),
        rayon::current_num_threads()
    );
    println!("{:<44} {:>10} {:>10}", "what", "ms", "GFLOP/s");
    let report = |what: &str, ms: f64, gflop: f64| {
        let rate = if gflop > 0.0 {
            format!("{:.1}", gflop / (ms / 1000.0))
        } else {
            "-".into()
        };
        println!("{what:<44} {ms:>10.1} {rate:>10}");
    };

    let exam = Tensor::<4>::random(
        [args.slices, 3, 256, 256],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let model = ExamModel::new(
        Backbone::AlexNet(AlexNetFeatures::new(&device)),
        AlexNetFeatures::CHANNELS,
        2,
        SlicePooling::Max,
        &device,
    );
    let forward = time_ms(repeat, || {
        let _ = model.forward(exam.clone()).logits.into_data();
    });
    let mrnet_gflop = alexnet_gflop(256) * args.slices as f64;
    report(
        &format!("MRNet forward, {} slices of 256x256", args.slices),
        forward,
        mrnet_gflop,
    );

    let train_device = device.clone().autodiff();
    let mut trained = Some(ExamModel::new(
        Backbone::AlexNet(AlexNetFeatures::new(&train_device)),
        AlexNetFeatures::CHANNELS,
        2,
        SlicePooling::Max,
        &train_device,
    ));
    let mut optimizer = AdamConfig::new().init();
    let exam_ad = Tensor::<4>::random(
        [args.slices, 3, 256, 256],
        Distribution::Normal(0.0, 1.0),
        &train_device,
    );
    let target = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &train_device);
    // Where a step's time goes: forward (recording the graph), backward, optimiser update.
    let mut phases = [0.0f64; 3];
    for run in 0..=repeat {
        // The first step warms up and is not counted.
        let weight = if run == 0 { 0.0 } else { 1.0 };
        let mut clock = |phase: usize, since: Instant| {
            let _ = train_device.sync();
            phases[phase] += weight * since.elapsed().as_secs_f64() * 1000.0;
            Instant::now()
        };
        let model = trained
            .take()
            .expect("the model is put back after each step");
        let t = Instant::now();
        let loss =
            weighted_cross_entropy(model.forward(exam_ad.clone()).logits, target.clone(), None);
        let t = clock(0, t);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t = clock(1, t);
        trained = Some(optimizer.step(1e-5, model, grads));
        clock(2, t);
    }
    let [fwd, bwd, opt] = phases.map(|p| p / repeat as f64);
    let step = fwd + bwd + opt;
    // Backward costs about twice the forward: three times the forward work in all.
    report(
        &format!("MRNet training step (Adam), {} slices", args.slices),
        step,
        3.0 * mrnet_gflop,
    );
    report("  of which forward with autodiff", fwd, mrnet_gflop);
    report("  of which backward", bwd, 2.0 * mrnet_gflop);
    report("  of which Adam update", opt, 0.0);

    let vgg = Vgg::new(&device, VggDepth::Vgg16, false);
    let images = Tensor::<4>::random([8, 3, 224, 224], Distribution::Normal(0.0, 1.0), &device);
    let vgg_ms = time_ms(repeat, || {
        let _ = vgg.forward(images.clone()).into_data();
    });
    report(
        "VGG16 features forward, 8 images of 224x224",
        vgg_ms,
        vgg16_gflop(224) * 8.0,
    );

    let specs: Vec<ExamSpec> = (0..args.exams)
        .map(|i| ExamSpec {
            grade: (i % 4) as u8,
            size: 256,
            slices: (32, 32),
            difficulty: Difficulty::Realistic,
            seed: exam_seed(1, i as u64),
        })
        .collect();
    let start = Instant::now();
    specs.par_iter().for_each(|s| drop(generate(s)));
    let seconds = start.elapsed().as_secs_f64();
    report(
        &format!("synth: {} phantom exams of 256x256x32", args.exams),
        seconds * 1000.0,
        0.0,
    );
    println!("synth rate: {:.1} exams/s", args.exams as f64 / seconds);
    Ok(())
}
