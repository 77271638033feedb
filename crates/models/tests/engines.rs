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

#[test]
fn fast_engines_keep_the_demo_models_phantom_auc() {
    if !dnnl::available() {
        assert!(
            std::env::var("CRUCIATE_DNNL").map_or(true, |v| v != "required"),
            "CRUCIATE_DNNL=required, but this build has no oneDNN"
        );
        eprintln!("skipped: this build has no oneDNN");
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
