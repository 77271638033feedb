//! `small` and `mrnet` learn the synthetic phantoms: trained on generated exams, they separate
//! injured from healthy knees on separately generated held-out exams. Reduced sizes for CI; the
//! full-size figures (400 training / 200 held-out exams) come from `examples/phantom_auc.rs`
//! and are in the README. Synthetic data: these figures say nothing about clinical performance.

use cruciate_train::phantom_study::{PhantomStudy, run_phantom_study};

fn study(model: &str, overrides: &[&str]) -> PhantomStudy {
    PhantomStudy {
        model: model.into(),
        train_exams: 160,
        test_exams: 60,
        seed: 2,
        exam_size: 256,
        exam_slices: (16, 16),
        overrides: overrides.iter().map(|s| s.to_string()).collect(),
    }
}

/// One training at a time: trainings in one process share the CPU device's random generator,
/// so two running at once would draw each other's initial weights and dropout masks and the
/// figures would depend on timing.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn assert_learns(study: &PhantomStudy, min_auc: f64) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let result = run_phantom_study(study, dir.path()).unwrap();
    let auc = result.figures.auc.unwrap();
    eprintln!(
        "{} (synthetic): held-out AUC {auc:.3}, accuracy {:.3}, best epoch {}",
        study.model,
        result.figures.accuracy.unwrap(),
        result.summary.best.epoch
    );
    assert_eq!(result.held_out.len(), study.test_exams);
    if cfg!(target_arch = "x86_64") {
        // Training flushed subnormal floats on its thread: x86 handles them in microcode.
        let tiny = std::hint::black_box(f32::MIN_POSITIVE / 8.0);
        assert_eq!(tiny * std::hint::black_box(1.0), 0.0, "subnormals kept");
    }
    assert!(
        auc >= min_auc,
        "{}: held-out AUC {auc:.3} < {min_auc}",
        study.model
    );
}

#[test]
fn small_separates_injured_from_healthy_phantoms() {
    assert_learns(
        &study(
            "small",
            &["data.size=48", "data.slices=6", "train.epochs=8"],
        ),
        0.9,
    );
}

#[test]
fn mrnet_separates_injured_from_healthy_phantoms() {
    assert_learns(
        &study(
            "mrnet",
            &[
                "data.size=64",
                "data.slices=6",
                "train.epochs=8",
                "optim.lr=1e-4",
            ],
        ),
        0.9,
    );
}
