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

fn assert_learns(study: &PhantomStudy, min_auc: f64) {
    let dir = tempfile::tempdir().unwrap();
    let result = run_phantom_study(study, dir.path()).unwrap();
    let auc = result.held_out.auc.unwrap();
    eprintln!(
        "{} (synthetic): held-out AUC {auc:.3}, accuracy {:.3}, best epoch {}",
        study.model,
        result.held_out.accuracy.unwrap(),
        result.summary.best.epoch
    );
    assert_eq!(result.held_out.predictions.len(), study.test_exams);
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
