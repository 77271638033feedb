//! The exams of a run: the manifest's train and valid rows read and prepared once (in
//! parallel), kept as bytes until a batch is made.

use std::sync::atomic::{AtomicU64, Ordering};

use cruciate_data::{Manifest, Split, Task, read_exam};
use cruciate_infer::{Progress, RoiCrop, RoiSource};
use cruciate_prep::{InputConfig, PreparedInput, prepare_input};
use rayon::prelude::*;

use crate::TrainError;

/// One exam ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedExam {
    /// The exam's identifier.
    pub exam_id: String,
    /// Its class for the task at hand.
    pub class: usize,
    /// Its ACL grade 0..3.
    pub grade: u8,
    /// The network input.
    pub input: PreparedInput,
}

/// The exams of `split`, read, cut to their ACL region when `roi` says so, and prepared in
/// parallel; `progress` counts them. With the manifest's boxes every exam must have one; with a
/// localiser, an exam it finds no region in is taken whole (and logged).
pub fn prepare_exams(
    manifest: &Manifest,
    split: Split,
    task: Task,
    (input, roi): (&InputConfig, Option<&RoiCrop>),
    progress: &dyn Progress,
) -> Result<Vec<PreparedExam>, TrainError> {
    let rows: Vec<_> = manifest.split(split).collect();
    progress.start(&format!("reading {split} exams"), Some(rows.len() as u64));
    let done = AtomicU64::new(0);
    let out = rows
        .par_iter()
        .map(|row| {
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
                class: task.class_of(row.label),
                grade: row.label,
                input: prepared,
            })
        })
        .collect();
    progress.finish();
    out
}

/// Class counts of `exams` for `classes` classes.
pub fn class_counts(exams: &[PreparedExam], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for e in exams {
        counts[e.class] += 1;
    }
    counts
}

/// Whether injured-vs-healthy AUC is defined on `exams`: `None` when it is, else the one side
/// they all lie on ("healthy" or "injured").
pub fn one_sided(exams: &[PreparedExam]) -> Option<&'static str> {
    let injured = exams.iter().filter(|e| e.grade > 0).count();
    match injured {
        0 => Some("healthy"),
        n if n == exams.len() => Some("injured"),
        _ => None,
    }
}

/// Refuses data nothing can be learned from: an empty split, or one class in training.
pub fn check_splits(
    train: &[PreparedExam],
    valid: &[PreparedExam],
    task: Task,
) -> Result<(), TrainError> {
    if train.is_empty() || valid.is_empty() {
        return Err(TrainError::Untrainable(format!(
            "the manifest has {} train and {} valid exams: both splits are needed",
            train.len(),
            valid.len()
        )));
    }
    let counts = class_counts(train, task.classes());
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        return Err(TrainError::Untrainable(format!(
            "the train split has a single class (counts per class {counts:?}): nothing to learn"
        )));
    }
    Ok(())
}
