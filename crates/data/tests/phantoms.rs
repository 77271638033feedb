//! Synthetic knee phantoms: labels live in the ligament, datasets are deterministic, and every
//! format round-trips through the readers.

use cruciate_data::phantom::{
    Difficulty, ExamSpec, MeniscalTear, Side, TearKind, exam_seed, generate,
};
use cruciate_data::synth::{Balance, ExamFormat, SynthOptions, synthesize};
use cruciate_data::{Manifest, Split, read_exam};
use cruciate_volume::{Plane, ReadOptions, read_path, read_study};
use rayon::prelude::*;

fn spec(grade: u8, seed: u64, difficulty: Difficulty) -> ExamSpec {
    ExamSpec {
        grade,
        size: 96,
        slices: (20, 24),
        difficulty,
        seed,
        ..ExamSpec::default()
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

/// Mean, standard deviation, median, 95th and 99th percentile of `values`.
fn whole_volume_statistics(values: &[f32]) -> [f64; 5] {
    let n = values.len() as f64;
    let mean = values.iter().map(|&x| x as f64).sum::<f64>() / n;
    let std = (values
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    [
        mean,
        std,
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.95),
        percentile(&sorted, 0.99),
    ]
}

/// Asserts that no statistic of `stats` (per exam: has the finding, statistics) tells exams
/// with the finding from those without with a ROC AUC beyond 0.65 either way.
fn assert_no_shortcut(what: &str, stats: &[(bool, [f64; 5])]) {
    for (k, name) in ["mean", "std", "median", "p95", "p99"].iter().enumerate() {
        let injured: Vec<f64> = stats.iter().filter(|s| s.0).map(|s| s.1[k]).collect();
        let healthy: Vec<f64> = stats.iter().filter(|s| !s.0).map(|s| s.1[k]).collect();
        let a = auc(&injured, &healthy);
        eprintln!("{what} {name}: AUC {a:.3}");
        assert!(
            a.max(1.0 - a) <= 0.65,
            "{what}: {name} separates the finding from its absence with AUC {a:.3}"
        );
    }
}

/// What a model sees: the written files (MRNet's 0.5-99.5 percentile window to bytes) and the
/// same exams after the preparation training applies (central slices, resampling, per-exam
/// min-max), measured on 200 exams in the study's proportions. An exam's intensity range must
/// not depend on its grade (effusion, which fills the whole joint, is drawn alike for every
/// grade).
#[test]
fn no_whole_volume_statistic_separates_injured_from_healthy() {
    for difficulty in [Difficulty::Realistic, Difficulty::Easy] {
        let dir = tempfile::tempdir().unwrap();
        let options = SynthOptions {
            exams: 200,
            seed: 4242,
            size: 96,
            slices: (20, 24),
            format: ExamFormat::Npy,
            balance: Balance::Study,
            difficulty,
            ..SynthOptions::default()
        };
        let manifest = synthesize(dir.path(), &options, &|| {}).unwrap();
        let input = cruciate_prep::InputConfig::default();
        let (written, prepared): (Vec<_>, Vec<_>) = manifest
            .rows
            .par_iter()
            .map(|row| {
                let v = read_path(&manifest.resolve(row), &ReadOptions::default()).unwrap();
                let p = cruciate_prep::prepare_input(&v, &input).unwrap();
                let injured = row.label > 0;
                (
                    (injured, whole_volume_statistics(&v.data)),
                    (injured, whole_volume_statistics(&p.intensities())),
                )
            })
            .unzip();
        assert_no_shortcut(&format!("{difficulty:?} written files"), &written);
        assert_no_shortcut(&format!("{difficulty:?} prepared inputs"), &prepared);
    }
}

#[test]
fn the_same_seed_gives_the_same_exam_and_grades_change_only_the_ligament() {
    let a = generate(&spec(2, 42, Difficulty::Easy));
    let b = generate(&spec(2, 42, Difficulty::Easy));
    assert_eq!(a.volume.data, b.volume.data);
    assert_eq!(a.roi, b.roi);
    let healthy = generate(&spec(0, 42, Difficulty::Easy));
    assert_eq!(
        healthy.volume.shape, a.volume.shape,
        "grade must not change the acquisition"
    );
    // Strain and partial tear change the ligament only: every voxel that differs from the
    // healthy knee of the same seed lies on the slices and rows of the two ACL boxes (widened by
    // one slice and two rows for partial volume); motion ghosting may copy it along the columns.
    for grade in [1, 2] {
        let injured = generate(&spec(grade, 42, Difficulty::Easy));
        let [slices, rows, cols] = injured.volume.shape;
        let (h, i) = (healthy.roi, injured.roi);
        let s_range = h.s0.min(i.s0).saturating_sub(1)..h.s1.max(i.s1) + 1;
        let r_range = h.r0.min(i.r0).saturating_sub(2)..h.r1.max(i.r1) + 2;
        let mut differing = 0;
        for s in 0..slices {
            for r in 0..rows {
                for c in 0..cols {
                    let at = (s * rows + r) * cols + c;
                    if healthy.volume.data[at] != injured.volume.data[at] {
                        differing += 1;
                        assert!(
                            s_range.contains(&s) && r_range.contains(&r),
                            "grade {grade}: voxel ({s}, {r}, {c}) differs outside the ligament's \
                             slices {s_range:?} and rows {r_range:?}"
                        );
                    }
                }
            }
        }
        assert!(
            differing > 20,
            "grade {grade}: only {differing} voxels differ"
        );
    }
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
        ..SynthOptions::default()
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
            // The voxels themselves: bytes of the window for npy, float32 for NIfTI, and
            // 16-bit values with their rescale for DICOM (one step of 65535 over the range).
            let reference = match format {
                ExamFormat::Npy => cruciate_data::synth::to_u8_window(&expected).data,
                _ => expected.data.clone(),
            };
            let [lo, hi] = reference
                .iter()
                .fold([f32::MAX, f32::MIN], |[l, h], &x| [l.min(x), h.max(x)]);
            let step = if format == ExamFormat::Dicom {
                (hi - lo) / 65535.0
            } else {
                0.0
            };
            let worst = v
                .data
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= step * 0.5 + 1e-3 * step.max(1e-6),
                "{format:?} {}: voxels differ by up to {worst} (step {step})",
                row.exam_id
            );
            assert_eq!(v.plane, Plane::Sagittal, "{format:?}");
            // The npy file carries no spacing: the manifest's column gives it to the exam.
            let spacing = if format == ExamFormat::Npy {
                assert_eq!(v.spacing, [1.0; 3], "npy has no geometry of its own");
                read_exam(&reread, row).unwrap().spacing
            } else {
                v.spacing
            };
            for (a, b) in spacing.iter().zip(expected.spacing) {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{format:?} spacing {:?} vs {:?}",
                    spacing,
                    expected.spacing
                );
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

/// The same, for every finding in every plane of three-plane datasets: the ACL (injured), the
/// meniscus (torn) and abnormal, on the written files of the sagittal, coronal and axial
/// series (160 exams, a third with meniscal tears).
#[test]
fn no_whole_volume_statistic_calls_any_finding_in_any_plane() {
    let dir = tempfile::tempdir().unwrap();
    let options = SynthOptions {
        exams: 160,
        seed: 777,
        size: 64,
        slices: (16, 18),
        planes: vec![Plane::Coronal, Plane::Axial],
        meniscal_tears: 0.35,
        ..SynthOptions::default()
    };
    let manifest = synthesize(dir.path(), &options, &|| {}).unwrap();
    let torn = manifest
        .rows
        .iter()
        .filter(|r| r.meniscus == Some(1))
        .count();
    assert!((35..=80).contains(&torn), "{torn} of 160 torn");
    for plane in ["sagittal", "coronal", "axial"] {
        let stats: Vec<([bool; 3], [f64; 5])> = manifest
            .rows
            .par_iter()
            .map(|row| {
                let path = manifest.resolve(row);
                let path = path
                    .parent()
                    .unwrap()
                    .with_file_name(plane)
                    .join(path.file_name().unwrap());
                let v = read_path(&path, &ReadOptions::default()).unwrap();
                assert_eq!(v.plane.as_str(), plane);
                let findings = [
                    row.label > 0,
                    row.meniscus == Some(1),
                    row.abnormal == Some(1),
                ];
                (findings, whole_volume_statistics(&v.data))
            })
            .collect();
        for (k, finding) in ["ACL", "meniscus", "abnormal"].iter().enumerate() {
            let of: Vec<(bool, [f64; 5])> = stats.iter().map(|(f, s)| (f[k], *s)).collect();
            assert_no_shortcut(&format!("{finding}, {plane}"), &of);
        }
    }
}

fn tear(side: Side, kind: TearKind) -> Option<MeniscalTear> {
    Some(MeniscalTear {
        side,
        kind,
        at_mm: 25.0,
    })
}

/// Voxels of `a` and `b` (same shape) that differ, as the set of their slices and a count.
fn differing(a: &[f32], b: &[f32], per_slice: usize) -> (std::collections::BTreeSet<usize>, usize) {
    let mut slices = std::collections::BTreeSet::new();
    let mut count = 0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            slices.insert(i / per_slice);
            count += 1;
        }
    }
    (slices, count)
}

#[test]
fn a_meniscal_tear_changes_only_its_own_side_and_every_plane_sees_it() {
    // Fine enough (about 0.85 mm pixels) that a 4 mm radial cleft covers tens of pixels.
    let base = ExamSpec {
        planes: vec![Plane::Coronal, Plane::Axial],
        size: 160,
        ..spec(0, 91, Difficulty::Easy)
    };
    let intact = generate(&base);
    // The other planes share the knee, and the sagittal series does not depend on them.
    assert_eq!(intact.planes.len(), 2);
    assert_eq!(intact.planes[0].plane, Plane::Coronal);
    assert_eq!(intact.planes[1].plane, Plane::Axial);
    for v in &intact.planes {
        let normal = v.orientation.unwrap().slice_direction;
        assert_eq!(Plane::from_normal(normal), v.plane);
        assert!(
            v.roi.unwrap().clamp_to(v.shape).is_some(),
            "ACL box inside the {}",
            v.plane
        );
    }
    let alone = generate(&ExamSpec {
        planes: Vec::new(),
        ..base.clone()
    });
    assert_eq!(alone.volume.data, intact.volume.data);
    assert!(!intact.findings.abnormal());

    let per_slice = 160 * 160;
    for kind in [
        TearKind::Horizontal,
        TearKind::Radial,
        TearKind::BucketHandle,
    ] {
        let mut sides = Vec::new();
        for side in [Side::Medial, Side::Lateral] {
            let torn = generate(&ExamSpec {
                meniscal_tear: tear(side, kind),
                ..base.clone()
            });
            assert!(torn.findings.abnormal());
            assert_eq!(torn.findings.meniscal_tear, tear(side, kind));
            let (slices, count) = differing(&intact.volume.data, &torn.volume.data, per_slice);
            assert!(
                count > 20,
                "{kind:?} {side:?}: {count} sagittal voxels differ"
            );
            for (before, after) in intact.planes.iter().zip(&torn.planes) {
                let (_, count) = differing(&before.data, &after.data, per_slice);
                assert!(
                    count > 20,
                    "{kind:?} {side:?}: {count} voxels differ in {}",
                    after.plane
                );
            }
            sides.push(slices);
        }
        // The menisci lie beyond the notch: a medial and a lateral tear share no sagittal
        // slice (a bucket-handle fragment lies in the notch, near its middle).
        if kind != TearKind::BucketHandle {
            assert!(sides[0].is_disjoint(&sides[1]), "{kind:?}: {sides:?}");
        }
    }
}

/// A three-plane DICOM dataset is one study of three series per exam, each valid and read in
/// its plane; the npy layout is MRNet's, one folder per plane.
#[test]
fn three_plane_datasets_are_studies_of_three_series() {
    let dir = tempfile::tempdir().unwrap();
    for format in [ExamFormat::Dicom, ExamFormat::Nifti, ExamFormat::Npy] {
        let options = SynthOptions {
            planes: vec![Plane::Coronal, Plane::Axial],
            meniscal_tears: 0.5,
            ..small_options(format, 12)
        };
        let out = dir.path().join(format!("{format:?}"));
        let manifest = synthesize(&out, &options, &|| {}).unwrap();
        let row = &manifest.rows[0];
        assert!(row.meniscus.is_some() && row.abnormal.is_some());
        let path = manifest.resolve(row);
        let paths = match format {
            ExamFormat::Npy => ["sagittal", "coronal", "axial"]
                .map(|p| {
                    path.parent()
                        .unwrap()
                        .with_file_name(p)
                        .join(path.file_name().unwrap())
                })
                .to_vec(),
            _ => vec![path.clone()],
        };
        let study = read_study(&paths, &ReadOptions::default()).unwrap();
        let mut planes = study.planes();
        planes.sort_by_key(|p| p.as_str());
        assert_eq!(
            planes,
            vec![Plane::Axial, Plane::Coronal, Plane::Sagittal],
            "{format:?}"
        );
        if format == ExamFormat::Dicom {
            // Every series is a valid MR image, and all three are one study in one frame.
            let mut frames = std::collections::BTreeSet::new();
            for plane in ["sagittal", "coronal", "axial"] {
                let first = std::fs::read_dir(path.join(plane))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .find(|p| p.extension().is_some_and(|e| e == "dcm"))
                    .unwrap();
                if let Some(errors) = cruciate_testkit::dciodvfy_errors(&first) {
                    assert!(errors.is_empty(), "{plane}: {errors:#?}");
                }
                let object = dicom_object::open_file(&first).unwrap();
                let text = |tag| object.element(tag).unwrap().to_str().unwrap().to_string();
                frames.insert((
                    text(dicom_dictionary_std::tags::STUDY_INSTANCE_UID),
                    text(dicom_dictionary_std::tags::FRAME_OF_REFERENCE_UID),
                ));
            }
            assert_eq!(frames.len(), 1, "{frames:?}");
        }
        // The manifest's path still reads the sagittal series.
        let v = read_path(&path, &ReadOptions::default()).unwrap();
        assert_eq!(v.plane, Plane::Sagittal, "{format:?}");
    }
}
