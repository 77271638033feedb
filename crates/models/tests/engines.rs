//! The accuracy guard on phantoms: the bundled demo model (a `small` network with batch norms,
//! folded into its convolutions for the fast engine) grades 100 held-out synthetic phantoms
//! through Flex (f32, the reference) and through every fast engine this build has; each
//! engine's probabilities stay close to Flex's and its AUC within 0.002. Synthetic phantoms:
//! the figures say nothing about clinical performance.

use std::path::Path;

use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use cruciate_engine::{EngineChoice, EngineKind, Precision, dnnl};
use cruciate_infer::{Classifier, Registry};
use cruciate_models::{Compute, network_kind};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/demo");

fn open(engine: EngineChoice) -> Box<dyn Classifier> {
    let compute = Compute {
        engine,
        ..Compute::CPU
    };
    Registry::new()
        .with(network_kind(compute))
        .open_run(Path::new(DEMO))
        .unwrap()
}

/// Area under the ROC curve of `scores` for `positive` labels (ties count a half).
fn auc(scores: &[f64], positive: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &p) in positive.iter().enumerate() {
        for (j, &n) in positive.iter().enumerate() {
            if p && !n {
                pairs += 1.0;
                wins += match scores[i].partial_cmp(&scores[j]) {
                    Some(std::cmp::Ordering::Greater) => 1.0,
                    Some(std::cmp::Ordering::Equal) => 0.5,
                    _ => 0.0,
                };
            }
        }
    }
    wins / pairs
}

/// Whether this build has oneDNN to test; fails when `CRUCIATE_DNNL=required` and it has not.
fn engine_present() -> bool {
    if !dnnl::available() {
        assert!(
            std::env::var("CRUCIATE_DNNL").map_or(true, |v| v != "required"),
            "CRUCIATE_DNNL=required, but this build has no oneDNN"
        );
        eprintln!("skipped: this build has no oneDNN");
    }
    dnnl::available()
}

#[test]
fn fast_engines_keep_the_demo_models_phantom_auc() {
    if !engine_present() {
        return;
    }
    let exams: Vec<_> = (0..100)
        .map(|i| {
            generate(&ExamSpec {
                grade: (i % 4) as u8,
                size: 128,
                slices: (20, 28),
                // The demo model's training difficulty: it is confident there, so the AUC
                // moves only if an engine really changes its calls.
                difficulty: Difficulty::Easy,
                seed: exam_seed(977, i),
                ..ExamSpec::default()
            })
        })
        .collect();
    let injured: Vec<bool> = exams.iter().map(|e| e.grade > 0).collect();
    let scores = |model: &dyn Classifier| -> Vec<f64> {
        exams
            .iter()
            .map(|e| model.predict(&e.volume).unwrap().probabilities[1])
            .collect()
    };
    let reference = scores(open(EngineChoice::FLEX).as_ref()).to_vec();
    let reference_auc = auc(&reference, &injured);
    eprintln!("flex f32: synthetic AUC {reference_auc:.4}");
    assert!(reference_auc > 0.6, "the demo model grades phantoms");
    for precision in [Precision::F32, Precision::Bf16] {
        let model = open(EngineChoice {
            engine: EngineKind::Dnnl,
            precision: Some(precision),
        });
        let ours = scores(model.as_ref());
        let worst = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let ours_auc = auc(&ours, &injured);
        eprintln!(
            "dnnl {precision}: synthetic AUC {ours_auc:.4}, largest probability change {worst:.2e}"
        );
        let limit = if precision == Precision::F32 {
            1e-4
        } else {
            2e-2
        };
        assert!(
            worst < limit,
            "dnnl {precision}: a probability moved by {worst}"
        );
        assert!(
            (ours_auc - reference_auc).abs() <= 0.002,
            "dnnl {precision}: AUC {ours_auc} against flex's {reference_auc}"
        );
    }
}

/// Pseudo-random values in `[lo, hi)` from a fixed seed.
fn uniform(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005) | 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((state >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// A batch norm with statistics and an affine map of its own (a fresh one is the identity,
/// which would leave folding untested).
fn perturb(norm: &mut burn::nn::BatchNorm, seed: u64) {
    use burn::module::{Param, RunningState};
    use burn::prelude::*;
    let channels = norm.gamma.val().dims()[0];
    let device = norm.gamma.val().device();
    let vector = |k: u64, lo, hi| {
        Tensor::<1>::from_data(
            TensorData::new(uniform(channels, seed * 4 + k, lo, hi), [channels]),
            &device,
        )
    };
    norm.gamma = Param::from_tensor(vector(0, 0.5, 1.5));
    norm.beta = Param::from_tensor(vector(1, -0.3, 0.3));
    norm.running_mean = RunningState::new(vector(2, -0.3, 0.3));
    norm.running_var = RunningState::new(vector(3, 0.5, 2.0));
}

/// Relative L2 distance `|a - b| / |b|`.
fn relative_l2(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm).sqrt()
}

/// ResNet-18, ResNet-50 and SqueezeNet through oneDNN (batch norms folded, shortcuts summed
/// into the convolutions, Fire modules concatenated) against Burn's Flex forward pass of the
/// same network in inference mode. Bounds from the number formats: each convolution's output
/// is a sum of `K = cin * k * k` products whose rounding errors (unit roundoff `u`) add like a
/// random walk, `u * sqrt(K)` relative, and independent layers add in quadrature, so a network
/// stays within `u * sqrt(sum of K)` (f32, `u = 2^-24`, both engines rounding: twice that);
/// bf16 rounds each layer's input and weights (`u = 2^-8`, two roundings a convolution,
/// accumulating in f32), `2^-8 * sqrt(2 * convolutions)`.
#[test]
fn every_backbone_on_the_engine_matches_burn() {
    use burn::prelude::*;
    use cruciate_models::{Backbone, BackboneEngine, BackboneKind};
    if !engine_present() {
        return;
    }
    let device = Compute::FLEX.device();
    let shape = [2, 3, 112, 96];
    let input = Tensor::<4>::from_data(
        TensorData::new(uniform(shape.iter().product(), 5, -2.0, 2.0), shape),
        &device,
    );
    for kind in [
        BackboneKind::ResNet18,
        BackboneKind::ResNet50,
        BackboneKind::SqueezeNet,
    ] {
        let mut backbone = kind.init(&device);
        if let Backbone::ResNet(m) = &mut backbone {
            let mut seed = 1;
            let mut next = |norm: &mut burn::nn::BatchNorm| {
                seed += 1;
                perturb(norm, seed);
            };
            next(&mut m.bn1);
            for block in [&mut m.layer1, &mut m.layer2, &mut m.layer3, &mut m.layer4]
                .into_iter()
                .flatten()
            {
                next(&mut block.bn1);
                next(&mut block.bn2);
                block.bn3.iter_mut().for_each(&mut next);
                block.downsample.iter_mut().for_each(|d| next(&mut d.bn));
            }
        }
        let stack = backbone.conv_stack();
        let convs: Vec<usize> = stack
            .layers
            .iter()
            .filter_map(|l| match l {
                cruciate_engine::Layer::Conv(c) => Some(c.cin * c.kernel * c.kernel),
                _ => None,
            })
            .collect();
        let terms: usize = convs.iter().sum();
        let expected = backbone.forward(input.clone());
        let expected_shape = expected.dims();
        let expected: Vec<f32> = expected
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        for precision in [Precision::F32, Precision::Bf16] {
            let choice = EngineChoice {
                engine: EngineKind::Dnnl,
                precision: Some(precision),
            };
            let engine = BackboneEngine::new(&backbone, choice).unwrap();
            let got = engine.forward(&backbone, input.clone());
            assert_eq!(got.dims(), expected_shape, "{kind:?}");
            let got: Vec<f32> = got
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap();
            let error = relative_l2(&got, &expected);
            let bound = match precision {
                Precision::F32 => 2.0 * (terms as f64).sqrt() / f64::from(1u32 << 24),
                Precision::Bf16 => (2.0 * convs.len() as f64).sqrt() / 256.0,
            };
            eprintln!("{kind:?} dnnl {precision}: relative L2 {error:.2e} (bound {bound:.2e})");
            assert!(
                error <= bound,
                "{kind:?} on dnnl {precision}: relative L2 {error:.2e} over {bound:.2e}"
            );
        }
    }
}
