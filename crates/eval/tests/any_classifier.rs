//! Evaluation, comparison and cross-validation work on the `Classifier` seam, not on networks:
//! a trivial model defined here (the mean intensity inside the exam's ACL box against a
//! threshold) is registered as a run kind, opened from its run folder through
//! `Registry::open_run`, evaluated, compared and cross-validated, and every figure is checked
//! against values computed here independently. Synthetic phantoms, synthetic figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cruciate_data::synth::{SynthOptions, synthesize};
use cruciate_data::{Manifest, Split, Task, read_exam};
use cruciate_eval::compare::{SortBy, compare, table, to_markdown};
use cruciate_eval::cv::{CvRequest, cross_validate};
use cruciate_eval::evaluate::{EvaluationRequest, evaluate};
use cruciate_infer::{
    Classifier, ClassifierFactory, ExplainMethod, ExplainRequest, Explanation, HeatMap, InferError,
    Prediction, Progress, Registry, RunInfo, RunKind, Silent,
};
use cruciate_volume::Volume;
use serde::{Deserialize, Serialize};

const KIND: &str = "roi-brightness";

#[derive(Serialize, Deserialize)]
struct Settings {
    /// Mean 0..1-scaled intensity inside the box above which the exam is called injured.
    threshold: f64,
}

/// Calls an exam injured when the ACL box is bright (oedema, fluid in a torn ligament).
struct RoiBrightness {
    info: RunInfo,
    threshold: f64,
}

impl RoiBrightness {
    fn brightness(exam: &Volume) -> Result<f64, InferError> {
        let b = exam
            .roi
            .ok_or_else(|| InferError::Input("the exam has no ACL box".into()))?;
        let (lo, hi) = exam
            .data
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let [_, rows, cols] = exam.shape;
        let mut sum = 0.0;
        let mut n = 0usize;
        for s in b.s0..b.s1 {
            for r in b.r0..b.r1 {
                for c in b.c0..b.c1 {
                    sum += f64::from((exam.data[(s * rows + r) * cols + c] - lo) / (hi - lo));
                    n += 1;
                }
            }
        }
        Ok(sum / n as f64)
    }
}

impl Classifier for RoiBrightness {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        let injured = 1.0 / (1.0 + (-(Self::brightness(exam)? - self.threshold) * 40.0).exp());
        Ok(Prediction::new(
            self.info.classes.clone(),
            vec![1.0 - injured, injured],
            [0, exam.slices()],
            Vec::new(),
        ))
    }

    /// Heat exactly on the ACL box: every figure of where it looks is known in advance.
    fn explain(&self, exam: &Volume, _: &ExplainRequest) -> Result<Explanation, InferError> {
        let prediction = self.predict(exam)?;
        let b = exam.roi.expect("predict checked the box");
        let [slices, rows, cols] = exam.shape;
        let mut values = vec![0.0; slices * rows * cols];
        for s in b.s0..b.s1 {
            for r in b.r0..b.r1 {
                for c in b.c0..b.c1 {
                    values[(s * rows + r) * cols + c] = 1.0;
                }
            }
        }
        let whole = cruciate_volume::RoiBox {
            s0: 0,
            s1: slices,
            r0: 0,
            r1: rows,
            c0: 0,
            c1: cols,
        };
        Ok(Explanation {
            target: prediction.class,
            slice_importance: vec![1.0 / slices as f64; slices],
            prediction,
            method: ExplainMethod::Occlusion,
            heat: HeatMap::normalised(exam.shape, values, whole),
        })
    }
}

/// A progress sink that remembers every count it was given and whether it was finished.
#[derive(Default)]
struct Counted {
    total: std::sync::Mutex<Option<u64>>,
    counts: std::sync::Mutex<Vec<u64>>,
    finished: std::sync::atomic::AtomicBool,
}

impl Progress for Counted {
    fn start(&self, _: &str, total: Option<u64>) {
        *self.total.lock().unwrap() = total;
    }
    fn set(&self, done: u64) {
        self.counts.lock().unwrap().push(done);
    }
    fn message(&self, _: &str) {}
    fn finish(&self) {
        self.finished
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn registry() -> Registry {
    Registry::new().with(RunKind::classifier(
        KIND,
        Arc::new(|run: &Path, info: RunInfo, _: &Registry| {
            let settings: Settings = info.settings(run)?;
            Ok(Box::new(RoiBrightness {
                info,
                threshold: settings.threshold,
            }) as Box<dyn Classifier>)
        }),
    ))
}

/// Writes a run folder of the trivial kind.
fn write_run(dir: &Path, threshold: f64) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut info = RunInfo::new(KIND, Task::Binary, "roi brightness");
    info.model.description = format!("threshold {threshold}");
    info.training.synthetic = true;
    info.settings = serde_json::to_value(Settings { threshold }).unwrap();
    info.write(dir).unwrap();
    dir.to_path_buf()
}

fn phantoms(dir: &Path) -> Manifest {
    let options = SynthOptions {
        exams: 40,
        seed: 11,
        size: 64,
        slices: (8, 10),
        ..SynthOptions::default()
    };
    synthesize(&dir.join("data"), &options, &|| {}).unwrap()
}

#[test]
fn a_model_outside_train_is_evaluated_and_compared_through_open_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let registry = registry();
    let run = write_run(&dir.path().join("run"), 0.35);
    let model = registry.open_run(&run).unwrap();
    assert_eq!(model.info().kind, KIND);

    // Independent figures: the calls and the injured probabilities computed directly.
    let rows: Vec<_> = manifest.split(Split::Test).collect();
    let mut correct = 0;
    let mut matrix = [[0u64; 2]; 2];
    for row in &rows {
        let p = model.predict(&read_exam(&manifest, row).unwrap()).unwrap();
        let actual = usize::from(row.label > 0);
        matrix[actual][p.class] += 1;
        correct += usize::from(p.class == actual);
    }

    let progress = Counted::default();
    let evaluation = evaluate(
        &EvaluationRequest {
            classifier: model.as_ref(),
            run: Some(run.clone()),
            manifest: &manifest,
            split: Split::Test,
            threshold: 0.3,
        },
        &progress,
    )
    .unwrap();
    assert_eq!(*progress.total.lock().unwrap(), Some(rows.len() as u64));
    // One step per exam, counted from one.
    assert_eq!(
        *progress.counts.lock().unwrap(),
        (1..=rows.len() as u64).collect::<Vec<_>>()
    );
    assert!(progress.finished.load(std::sync::atomic::Ordering::SeqCst));
    // The most confident errors: wrong calls only (six at most), each with its picture.
    let wrong = rows.len() - correct;
    assert!(wrong > 0, "the phantoms fool the threshold sometimes");
    assert_eq!(evaluation.errors.len(), wrong.min(6));
    for e in &evaluation.errors {
        assert!(e.picture.is_some(), "{}", e.caption);
        let (truth, called) = e
            .caption
            .split_once("(true ")
            .unwrap()
            .1
            .split_once(", called ")
            .unwrap();
        assert!(!called.starts_with(truth), "{}", e.caption);
    }
    let r = &evaluation.report;
    assert_eq!(r.exams, rows.len());
    assert_eq!(r.accuracy.unwrap(), correct as f64 / rows.len() as f64);
    assert_eq!(
        r.confusion_matrix,
        matrix.iter().map(|row| row.to_vec()).collect::<Vec<_>>()
    );
    assert!(r.synthetic_model);
    assert_eq!(r.threshold, 0.3);
    // The heat lies exactly on each exam's box: share 1 and a hit, for every exam with a box.
    assert_eq!(
        r.explanation_method.as_deref(),
        Some("occlusion sensitivity")
    );
    let boxed: usize = r.cam_in_roi.iter().map(|f| f.exams).sum();
    assert_eq!(boxed, rows.len(), "every phantom has an ACL box");
    for f in r.cam_in_roi.iter().filter(|f| f.exams > 0) {
        assert_eq!(f.energy_share, Some(1.0), "{}", f.class);
        assert_eq!(f.pointing_hit_rate, Some(1.0), "{}", f.class);
    }
    let out = dir.path().join("report");
    evaluation.write(&out).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("sensitivity / specificity at 0.3"),
        "the threshold row says 0.3"
    );
    assert!(html.contains("not for clinical use"));

    // compare: a threshold of 2 calls everything healthy, so its accuracy is the healthy
    // share; the table is sorted by accuracy, each row's figure counted here.
    let never = write_run(&dir.path().join("never"), 2.0);
    let other = registry.open_run(&never).unwrap();
    let named: Vec<(String, &dyn Classifier)> = vec![
        ("never".into(), other.as_ref()),
        ("tuned".into(), model.as_ref()),
    ];
    let counted = Counted::default();
    let table = compare(
        &named,
        &manifest,
        (Split::Test, SortBy::Accuracy, 2),
        &counted,
    )
    .unwrap();
    // Each run's exams counted from one.
    let steps: Vec<u64> = (1..=rows.len() as u64).collect();
    assert_eq!(
        *counted.counts.lock().unwrap(),
        [steps.clone(), steps].concat()
    );
    let healthy = rows.iter().filter(|r| r.label == 0).count() as f64 / rows.len() as f64;
    let tuned = correct as f64 / rows.len() as f64;
    let mut expected = vec![("never", healthy), ("tuned", tuned)];
    // Best first; equal figures keep the order given.
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(
        table
            .iter()
            .map(|r| (r.run.as_str(), r.accuracy.unwrap()))
            .collect::<Vec<_>>(),
        expected
    );
    let tuned_row = table.iter().find(|r| r.run == "tuned").unwrap();
    assert_eq!(tuned_row.settings, "threshold 0.35");
    assert_eq!(tuned_row.exams, rows.len());
    // Two injured exams explained: the heat lies on their boxes.
    let injured = rows.iter().filter(|r| r.label > 0).count();
    assert_eq!(tuned_row.explained, injured.min(2));
    assert_eq!(tuned_row.heat_in_box, Some(1.0));
    assert!(tuned_row.seconds_per_exam > 0.0);
    // The same rows as a table and as Markdown: a header, a rule, one line per run.
    let drawn = self::table(&table);
    assert_eq!(drawn.rows.len(), 2);
    assert_eq!(drawn.rows[0][0], table[0].run);
    let markdown = to_markdown(&drawn);
    let lines: Vec<&str> = markdown.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), 4, "{markdown}");
    assert!(
        lines[0].contains("run") && lines[1].contains("---"),
        "{markdown}"
    );
    assert!(lines[2].contains(&table[0].run) && lines[3].contains(&table[1].run));
    assert!(
        lines[3].contains(&format!("{:.3}", table[1].accuracy.unwrap())),
        "{markdown}"
    );
}

#[test]
fn unknown_kinds_and_missing_run_json_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut info = RunInfo::new("svm-from-the-future", Task::Binary, "x");
    info.write(dir.path()).unwrap();
    let e = registry().open_run(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("\"svm-from-the-future\"") && e.contains(KIND),
        "{e}"
    );
    info.kind = KIND.into();
    info.write(dir.path()).unwrap();
    let e = registry().open_run(dir.path()).err().unwrap().to_string();
    assert!(e.contains("settings"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = registry().open_run(empty.path()).err().unwrap().to_string();
    assert!(e.contains("holds no run.json"), "{e}");
    assert_eq!(e.lines().count(), 1);
}

/// A factory that "fits" by choosing the threshold halfway between the classes' mean
/// brightness on the fold's training exams.
struct FitThreshold;

impl ClassifierFactory for FitThreshold {
    fn describe(&self) -> String {
        "roi brightness, threshold fitted".into()
    }

    fn fit(
        &self,
        manifest: &Manifest,
        out: &Path,
        _: &dyn Progress,
    ) -> Result<Box<dyn Classifier>, InferError> {
        let mut sums = [(0.0, 0usize); 2];
        for row in manifest.split(Split::Train) {
            let v = read_exam(manifest, row).map_err(|e| InferError::Fit(Box::new(e)))?;
            let k = usize::from(row.label > 0);
            sums[k].0 += RoiBrightness::brightness(&v)?;
            sums[k].1 += 1;
        }
        let threshold = (sums[0].0 / sums[0].1 as f64 + sums[1].0 / sums[1].1 as f64) / 2.0;
        registry().open_run(&write_run(out, threshold))
    }
}

#[test]
fn cross_validation_fits_any_factory_and_pools_the_folds() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let out = dir.path().join("cv");
    let report = cross_validate(
        &CvRequest {
            manifest: &manifest,
            folds: 3,
            seed: 1,
            task: Task::Binary,
            out: out.clone(),
            factory: &FitThreshold,
        },
        &Silent,
    )
    .unwrap();
    let taking_part = manifest
        .rows
        .iter()
        .filter(|r| r.split != Split::Test)
        .count();
    assert_eq!(report.folds.len(), 3);
    assert_eq!(
        report.folds.iter().map(|f| f.figures.exams).sum::<usize>(),
        taking_part
    );
    assert_eq!(report.pooled.exams, taking_part);
    for fold in 1..=3 {
        assert!(out.join(format!("fold-{fold}/run.json")).is_file());
    }
    // The pooled figures are those of predictions.csv, recounted here.
    let mut reader = csv::Reader::from_path(out.join("predictions.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        [
            "fold",
            "finding",
            "exam_id",
            "class",
            "predicted",
            "injured_probability",
            "verdict"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), taking_part);
    let right = rows.iter().filter(|r| r[3] == r[4]).count();
    assert_eq!(
        report.pooled.accuracy,
        Some(right as f64 / taking_part as f64)
    );
    let mut ids: Vec<&str> = rows.iter().map(|r| &r[2]).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        taking_part,
        "every exam is held out exactly once"
    );
    // Each fold's figures are those of its rows, its AUC counted here pair by pair.
    for (i, fold) in report.folds.iter().enumerate() {
        assert_eq!(fold.fold, i + 1);
        assert_eq!(Path::new(&fold.run), out.join(format!("fold-{}", i + 1)));
        let in_fold: Vec<_> = rows
            .iter()
            .filter(|r| r[0] == *(i + 1).to_string())
            .collect();
        assert_eq!(fold.figures.exams, in_fold.len());
        let score = |r: &&csv::StringRecord| r[5].parse::<f64>().unwrap();
        let (injured, healthy): (Vec<_>, Vec<_>) = in_fold.iter().partition(|r| &r[3] != "0");
        let mut wins = 0.0;
        for a in &injured {
            for b in &healthy {
                wins += match score(a).total_cmp(&score(b)) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
        let auc = wins / (injured.len() * healthy.len()) as f64;
        let reported = fold.figures.auc.unwrap();
        // predictions.csv holds the probabilities to its own precision.
        assert!(
            (reported - auc).abs() < 1e-6,
            "fold {}: {reported} vs {auc}",
            i + 1
        );
    }
    // Mean and sample standard deviation of the three fold AUCs, recomputed here.
    let aucs: Vec<f64> = report
        .folds
        .iter()
        .map(|f| f.figures.auc.unwrap())
        .collect();
    let mean = (aucs[0] + aucs[1] + aucs[2]) / 3.0;
    let sd = (aucs.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / 2.0).sqrt();
    let [m, d] = report.fold_auc_mean_sd.unwrap();
    assert!(
        (m - mean).abs() < 1e-12 && (d - sd).abs() < 1e-12,
        "{m} {d} vs {mean} {sd}"
    );
    assert!(sd > 0.0, "the folds differ");
}

#[test]
fn cross_validation_needs_two_folds() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = phantoms(dir.path());
    let request = |folds| CvRequest {
        manifest: &manifest,
        folds,
        seed: 1,
        task: Task::Binary,
        out: dir.path().join(format!("cv-{folds}")),
        factory: &FitThreshold,
    };
    let e = cross_validate(&request(1), &Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 2"), "{e}");
    assert_eq!(cross_validate(&request(2), &Silent).unwrap().folds.len(), 2);
}

#[test]
fn a_class_without_exams_has_no_explanation_figures() {
    // Only healthy exams held out: the injured row of CAM-in-ROI is empty, not a division by 0.
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = phantoms(dir.path());
    for row in manifest.rows.iter_mut() {
        if row.split == Split::Test && row.label > 0 {
            row.split = Split::Train;
        }
    }
    let model = registry()
        .open_run(&write_run(&dir.path().join("run"), 0.35))
        .unwrap();
    let evaluation = evaluate(
        &EvaluationRequest {
            classifier: model.as_ref(),
            run: None,
            manifest: &manifest,
            split: Split::Test,
            threshold: 0.5,
        },
        &Silent,
    )
    .unwrap();
    let figures = &evaluation.report.cam_in_roi;
    assert_eq!(figures.len(), 2);
    assert!(figures[0].exams > 0);
    assert_eq!(figures[0].energy_share, Some(1.0));
    assert_eq!(figures[1].exams, 0);
    assert_eq!(figures[1].energy_share, None);
    assert_eq!(figures[1].pointing_hit_rate, None);
}
