//! Synthetic knee phantoms: labels live in the ligament, datasets are deterministic, and every
//! format round-trips through the readers.

use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use cruciate_data::synth::{Balance, ExamFormat, SynthOptions, synthesize};
use cruciate_data::{Manifest, Split};
use cruciate_volume::{Plane, ReadOptions, read_path};
use rayon::prelude::*;

fn spec(grade: u8, seed: u64, difficulty: Difficulty) -> ExamSpec {
    ExamSpec {
        grade,
        size: 96,
        slices: (20, 24),
        difficulty,
        seed,
    }
}

/// ROC AUC of `score` for positives vs negatives (Mann-Whitney, ties count half).
fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positives.len() * negatives.len()) as f64
}

fn percentile(sorted: &[f32], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

#[test]
fn no_whole_volume_statistic_separates_injured_from_healthy() {
    // 200 exams in the study's proportions, realistic difficulty.
    let labels =
        cruciate_data::splits::labels_in_proportion(200, &cruciate_data::splits::STUDY_COUNTS, 5);
    let stats: Vec<(bool, [f64; 5])> = labels
        .par_iter()
        .enumerate()
        .map(|(i, &grade)| {
            let v = generate(&spec(grade, exam_seed(5, i as u64), Difficulty::Realistic)).volume;
            let n = v.data.len() as f64;
            let mean = v.data.iter().map(|&x| x as f64).sum::<f64>() / n;
            let std = (v
                .data
                .iter()
                .map(|&x| (x as f64 - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt();
            let mut sorted = v.data.clone();
            sorted.sort_by(f32::total_cmp);
            (
                grade > 0,
                [
                    mean,
                    std,
                    percentile(&sorted, 0.5),
                    percentile(&sorted, 0.95),
                    percentile(&sorted, 0.99),
                ],
            )
        })
        .collect();
    for (k, name) in ["mean", "std", "median", "p95", "p99"].iter().enumerate() {
        let injured: Vec<f64> = stats.iter().filter(|s| s.0).map(|s| s.1[k]).collect();
        let healthy: Vec<f64> = stats.iter().filter(|s| !s.0).map(|s| s.1[k]).collect();
        let a = auc(&injured, &healthy);
        let separation = a.max(1.0 - a);
        assert!(
            separation <= 0.65,
            "{name} separates injured from healthy with AUC {a:.3}"
        );
        eprintln!("{name}: AUC {a:.3}");
    }
}

#[test]
fn the_same_seed_gives_the_same_exam_and_grades_change_only_the_pathology() {
    let a = generate(&spec(2, 42, Difficulty::Easy));
    let b = generate(&spec(2, 42, Difficulty::Easy));
    assert_eq!(a.volume.data, b.volume.data);
    assert_eq!(a.roi, b.roi);
    let healthy = generate(&spec(0, 42, Difficulty::Easy));
    assert_eq!(
        healthy.volume.shape, a.volume.shape,
        "grade must not change the acquisition"
    );
    assert_ne!(healthy.volume.data, a.volume.data);
}

#[test]
fn the_roi_boxes_the_ligament_on_a_few_central_slices() {
    for grade in 0..4 {
        for seed in 0..6 {
            let p = generate(&spec(grade, exam_seed(9, seed), Difficulty::Easy));
            let [s, r, c] = p.volume.shape;
            let roi = p.roi;
            assert!(
                roi.s1 <= s && roi.r1 <= r && roi.c1 <= c,
                "{roi:?} outside {s}x{r}x{c}"
            );
            let depth = roi.s1 - roi.s0;
            assert!(
                (1..=4).contains(&depth),
                "grade {grade}: ACL on {depth} slices"
            );
            let centre = (roi.s0 + roi.s1) as f64 / 2.0;
            assert!(
                (centre - s as f64 / 2.0).abs() < s as f64 / 4.0,
                "ACL far from the centre: {roi:?} of {s}"
            );
            // The box is ligament-sized: 32-38 mm long at 1.3-1.6 mm pixels is about 20-30 px.
            let extent = (roi.r1 - roi.r0).max(roi.c1 - roi.c0);
            assert!((10..=60).contains(&extent), "grade {grade}: box {roi:?}");
        }
    }
}

fn small_options(format: ExamFormat, seed: u64) -> SynthOptions {
    SynthOptions {
        exams: 6,
        seed,
        size: 64,
        slices: (18, 20),
        format,
        balance: Balance::Equal,
        difficulty: Difficulty::Easy,
    }
}

#[test]
fn every_format_round_trips_through_the_readers() {
    for format in [ExamFormat::Npy, ExamFormat::Dicom, ExamFormat::Nifti] {
        let dir = tempfile::tempdir().unwrap();
        let options = small_options(format, 3);
        let manifest = synthesize(dir.path(), &options, &|| {}).unwrap();
        let reread = Manifest::read(&dir.path().join("manifest.csv")).unwrap();
        assert_eq!(reread.rows, manifest.rows);
        let plan = cruciate_data::synth::plan(&options);
        for (row, (spec, split)) in reread.rows.iter().zip(plan) {
            assert_eq!((row.label, row.split), (spec.grade, split));
            let expected = generate(&spec).volume;
            let v = read_path(&reread.resolve(row), &ReadOptions::default())
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(v.shape, expected.shape, "{format:?} {}", row.exam_id);
            assert_eq!(v.plane, Plane::Sagittal, "{format:?}");
            if format != ExamFormat::Npy {
                for (a, b) in v.spacing.iter().zip(expected.spacing) {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{format:?} spacing {:?} vs {:?}",
                        v.spacing,
                        expected.spacing
                    );
                }
            }
            if format == ExamFormat::Dicom {
                assert_eq!(v.meta.series_description.as_deref(), Some("SAG PD FS"));
                assert_eq!(v.meta.modality.as_deref(), Some("MR"));
            }
        }
    }
}

#[test]
fn datasets_do_not_depend_on_the_thread_count() {
    let write = |threads: usize| {
        let dir = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| synthesize(dir.path(), &small_options(ExamFormat::Npy, 11), &|| {}))
            .unwrap();
        let files: Vec<Vec<u8>> = (0..6)
            .map(|i| std::fs::read(dir.path().join(format!("exams/sagittal/{i:05}.npy"))).unwrap())
            .collect();
        (
            std::fs::read_to_string(dir.path().join("manifest.csv")).unwrap(),
            files,
        )
    };
    assert_eq!(write(1), write(3));
}

#[test]
fn study_balance_and_splits_follow_the_study() {
    let plan = cruciate_data::synth::plan(&SynthOptions {
        exams: 761,
        ..SynthOptions::default()
    });
    let count = |k: u8| plan.iter().filter(|(s, _)| s.grade == k).count();
    assert_eq!([count(0), count(1), count(2), count(3)], [462, 88, 59, 152]);
    let test = plan
        .iter()
        .filter(|(_, split)| *split == Split::Test)
        .count();
    assert!((110..=120).contains(&test), "{test} test exams");
}
