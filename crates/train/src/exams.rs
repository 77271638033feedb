//! The exams of a run: the manifest's train and valid rows read and prepared once (in
//! parallel), kept as bytes until a batch is made.

use std::sync::atomic::{AtomicU64, Ordering};

use cruciate_data::{Finding, Manifest, ManifestRow, Split, Task, read_exam};
use cruciate_infer::{Progress, RoiCrop, RoiSource};
use cruciate_prep::{InputConfig, PreparedInput, prepare_input};
use rayon::prelude::*;

use crate::TrainError;

/// One exam ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedExam {
    /// The exam's identifier.
    pub exam_id: String,
    /// Its class for each head: one for a single-finding network (the task's class), one per
    /// finding of a joint network (0 or 1).
    pub targets: Vec<usize>,
    /// Its ACL grade 0..3.
    pub grade: u8,
    /// The network input.
    pub input: PreparedInput,
}

/// What a network is asked of each exam: a task's class, or yes or no for each finding of a
/// joint network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Labels<'a> {
    /// One finding's class for `Task` (the manifest's `label`, viewed for that finding).
    Task(Task),
    /// Each of these findings yes or no.
    Joint(&'a [Finding]),
}

impl Labels<'_> {
    /// The labels a config's model is trained on.
    pub fn of(model: &crate::config::ModelConfig) -> Labels<'_> {
        match model.joint() {
            Some(findings) => Labels::Joint(findings),
            None => Labels::Task(model.task),
        }
    }

    /// The network's heads and each head's classes.
    pub fn heads(self) -> Vec<usize> {
        match self {
            Labels::Task(task) => vec![task.classes()],
            Labels::Joint(findings) => vec![2; findings.len()],
        }
    }

    fn targets(self, row: &ManifestRow) -> Result<Vec<usize>, TrainError> {
        match self {
            Labels::Task(task) => Ok(vec![task.class_of(row.label)]),
            Labels::Joint(findings) => findings
                .iter()
                .map(|f| {
                    f.grade_of(row)
                        .map(|g| Task::Binary.class_of(g))
                        .ok_or_else(|| {
                            TrainError::Untrainable(format!(
                                "exam {} has no {} label, which the joint network needs",
                                row.exam_id,
                                f.name()
                            ))
                        })
                })
                .collect(),
        }
    }
}

/// The exams of `split`, read, cut to their ACL region when `roi` says so, and prepared in
/// parallel; `progress` counts them. With the manifest's boxes every exam must have one; with a
/// localiser, an exam it finds no region in is taken whole (and logged).
pub fn prepare_exams(
    manifest: &Manifest,
    split: Split,
    labels: Labels,
    (input, roi): (&InputConfig, Option<&RoiCrop>),
    progress: &dyn Progress,
) -> Result<Vec<PreparedExam>, TrainError> {
    let rows: Vec<_> = manifest.split(split).collect();
    progress.start(&format!("reading {split} exams"), Some(rows.len() as u64));
    let done = AtomicU64::new(0);
    let out = rows
        .par_iter()
        .map(|row| {
            let targets = labels.targets(row)?;
            let mut volume = read_exam(manifest, row)?;
            if let Some(crop) = roi {
                let cropped = crop.apply(volume);
                if let Some(why) = cropped.fallback {
                    if matches!(crop.source, RoiSource::Manifest) {
                        return Err(TrainError::Untrainable(format!(
                            "exam {}: {why}; --roi manifest needs a box for every exam",
                            row.exam_id
                        )));
                    }
                    tracing::warn!("exam {}: {why}; trained on the whole exam", row.exam_id);
                }
                volume = cropped.volume;
            }
            let prepared =
                prepare_input(&volume, input).map_err(|source| TrainError::UnusableExam {
                    exam_id: row.exam_id.clone(),
                    path: manifest.resolve(row),
                    source,
                })?;
            progress.set(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok(PreparedExam {
                exam_id: row.exam_id.clone(),
                targets,
                grade: row.label,
                input: prepared,
            })
        })
        .collect();
    progress.finish();
    out
}

/// Class counts of `exams` for each head (`heads`: each head's classes).
pub fn class_counts(exams: &[PreparedExam], heads: &[usize]) -> Vec<Vec<usize>> {
    let mut counts: Vec<Vec<usize>> = heads.iter().map(|&k| vec![0; k]).collect();
    for e in exams {
        for (head, &class) in counts.iter_mut().zip(&e.targets) {
            head[class] += 1;
        }
    }
    counts
}

/// Whether injured-vs-healthy AUC is defined on `exams`: `None` when it is, else the one side
/// they all lie on ("healthy" or "injured"). A joint network's AUC is pooled over its
/// (exam, finding) pairs, and so are the sides.
pub fn one_sided(exams: &[PreparedExam]) -> Option<&'static str> {
    let answers = exams.iter().flat_map(|e| &e.targets);
    let injured = answers.clone().filter(|&&c| c > 0).count();
    match injured {
        0 => Some("healthy"),
        n if n == answers.count() => Some("injured"),
        _ => None,
    }
}

/// Refuses data nothing can be learned from: an empty split, or one class in training.
pub fn check_splits(
    train: &[PreparedExam],
    valid: &[PreparedExam],
    labels: Labels,
) -> Result<(), TrainError> {
    if train.is_empty() || valid.is_empty() {
        return Err(TrainError::Untrainable(format!(
            "the manifest has {} train and {} valid exams: both splits are needed",
            train.len(),
            valid.len()
        )));
    }
    for counts in class_counts(train, &labels.heads()) {
        if counts.iter().filter(|&&c| c > 0).count() < 2 {
            return Err(TrainError::Untrainable(format!(
                "the train split has a single class (counts per class {counts:?}): nothing to learn"
            )));
        }
    }
    Ok(())
}
