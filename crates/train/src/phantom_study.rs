//! Train on synthetic phantoms, test on separately generated ones: the reproducible check that
//! a model and its training learn what the phantoms show (the ACL's grade). Synthetic figures,
//! never clinical ones.

use std::path::Path;
use std::sync::Arc;

use cruciate_data::phantom::Difficulty;
use cruciate_data::synth::{Balance, ExamFormat, SynthOptions, synthesize};
use cruciate_data::{DatasetInfo, Manifest, Split};
use cruciate_eval::scoring::{HeadlineFigures, ScoredExam};
use cruciate_infer::{Progress, RunInfo, Silent};
use cruciate_models::{Compute, NetworkClassifier};

use crate::exams::{Labels, prepare_exams};
use crate::run::{RunSummary, TrainRequest, train};
use crate::{TrainConfig, TrainError};

/// What to generate and train.
#[derive(Debug, Clone)]
pub struct PhantomStudy {
    /// Model name.
    pub model: String,
    /// Exams for training and validation (85 / 15).
    pub train_exams: usize,
    /// Held-out exams, generated with another seed.
    pub test_exams: usize,
    /// Seed of data and training.
    pub seed: u64,
    /// In-plane size of the generated exams.
    pub exam_size: usize,
    /// Slice count range of the generated exams.
    pub exam_slices: (usize, usize),
    /// `--set` overrides of the training config.
    pub overrides: Vec<String>,
}

impl Default for PhantomStudy {
    fn default() -> Self {
        Self {
            model: "small".into(),
            train_exams: 400,
            test_exams: 200,
            seed: 1,
            exam_size: 256,
            exam_slices: (24, 36),
            overrides: Vec::new(),
        }
    }
}

/// What a phantom study measured.
pub struct PhantomResult {
    /// The training run.
    pub summary: RunSummary,
    /// The calls on the held-out phantoms.
    pub held_out: Vec<ScoredExam>,
    /// Their accuracy and AUC.
    pub figures: HeadlineFigures,
}

/// Generates both sets under `out`, trains into `out/run`, and scores the held-out set.
pub fn run_phantom_study(study: &PhantomStudy, out: &Path) -> Result<PhantomResult, TrainError> {
    let generate = |name: &str, exams: usize, seed: u64| -> Result<Manifest, TrainError> {
        let options = SynthOptions {
            exams,
            seed,
            size: study.exam_size,
            slices: study.exam_slices,
            format: ExamFormat::Npy,
            balance: Balance::Study,
            difficulty: Difficulty::Easy,
            ..SynthOptions::default()
        };
        Ok(synthesize(&out.join(name), &options, &|| {})?)
    };
    let fit = generate("train-data", study.train_exams, study.seed)?;
    let test = generate("test-data", study.test_exams, study.seed + 1_000_003)?;
    let mut rows = Vec::new();
    for (m, folder, held_out) in [(&fit, "train-data", false), (&test, "test-data", true)] {
        for row in &m.rows {
            let mut row = row.clone();
            row.path = format!("{folder}/{}", row.path);
            row.exam_id = format!("{folder}-{}", row.exam_id);
            row.split = match (held_out, row.split) {
                (true, _) => Split::Test,
                (false, Split::Valid) => Split::Valid,
                (false, _) => Split::Train,
            };
            rows.push(row);
        }
    }
    let manifest = Manifest {
        root: out.to_path_buf(),
        rows,
    };
    manifest.write(&out.join("manifest.csv"))?;
    DatasetInfo {
        synthetic: true,
        source: format!(
            "phantom study: {} training and {} held-out phantoms, seed {}",
            study.train_exams, study.test_exams, study.seed
        ),
    }
    .write(out)?;
    let mut overrides = vec![
        format!("model.name=\"{}\"", study.model),
        format!("train.seed={}", study.seed),
    ];
    overrides.extend(study.overrides.iter().cloned());
    let config = TrainConfig::load(None, &overrides)?;
    let run = out.join("run");
    let progress: Arc<dyn Progress> = Arc::new(Silent);
    let summary = train(
        &TrainRequest {
            manifest: manifest.clone(),
            out: run.clone(),
            weights: None,
            config: config.clone(),
            compute: Compute::CPU,
            roi: None,
        },
        progress.clone(),
    )?;
    let info = RunInfo::read(&run)?
        .ok_or_else(|| TrainError::run_folder(&run, "the finished run has no run.json"))?;
    let model = NetworkClassifier::open(&run, info, Compute::CPU.device())?;
    let exams = prepare_exams(
        &manifest,
        Split::Test,
        Labels::Task(config.model.task),
        (&config.data, None),
        progress.as_ref(),
    )?;
    let held_out: Vec<ScoredExam> = exams
        .iter()
        .map(|e| ScoredExam {
            exam_id: e.exam_id.clone(),
            class: e.targets[0],
            prediction: model.predict_prepared(&e.input),
        })
        .collect();
    Ok(PhantomResult {
        summary,
        figures: HeadlineFigures::of(&held_out),
        held_out,
    })
}
