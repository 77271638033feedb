//! Patient-level stratified k-fold cross-validation: every exam of a patient lands in the same
//! fold, folds keep the class proportions, each fold is a full run (resumable) and the held-out
//! predictions of all folds are pooled.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use cruciate_data::{Manifest, Split};
use serde::Serialize;

use crate::TrainError;
use crate::config::{Task, TrainConfig};
use crate::loader::mix;
use crate::predict::LoadedRun;
use crate::run::{RunSummary, TrainRequest, prepare_exams, train};

/// A cross-validation.
#[derive(Debug, Clone)]
pub struct CvRequest {
    /// Exams: train and valid rows are folded, test rows left out.
    pub manifest: Manifest,
    /// Number of folds.
    pub folds: usize,
    /// Folder for `fold-1` .. `fold-K`, `cv.json` and `predictions.csv`.
    pub out: PathBuf,
    /// Pretrained backbone weights.
    pub weights: Option<PathBuf>,
    /// Settings of every fold's run.
    pub config: TrainConfig,
}

/// Held-out figures of one fold.
#[derive(Debug, Clone, Serialize)]
pub struct FoldReport {
    /// 1-based fold.
    pub fold: usize,
    /// Held-out exams.
    pub exams: usize,
    /// Accuracy on them.
    pub accuracy: Option<f64>,
    /// Injured-vs-healthy ROC AUC on them.
    pub auc: Option<f64>,
    /// The fold's run summary.
    pub run: RunSummary,
}

/// `cv.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    /// Per fold.
    pub folds: Vec<FoldReport>,
    /// Accuracy over all held-out predictions.
    pub pooled_accuracy: Option<f64>,
    /// AUC over all held-out predictions.
    pub pooled_auc: Option<f64>,
    /// Mean and standard deviation of the fold AUCs.
    pub fold_auc_mean_sd: Option<[f64; 2]>,
}

/// The fold (0-based) of each row of `manifest` taking part (train and valid rows), by patient,
/// stratified on the patient's highest class.
pub fn assign_folds(
    manifest: &Manifest,
    folds: usize,
    task: Task,
    seed: u64,
) -> BTreeMap<String, usize> {
    let mut patients: BTreeMap<&str, usize> = BTreeMap::new();
    for row in manifest.rows.iter().filter(|r| r.split != Split::Test) {
        let class = task.class_of(row.label);
        let entry = patients.entry(row.patient_id()).or_insert(class);
        *entry = (*entry).max(class);
    }
    let mut by_class: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (patient, class) in patients {
        by_class.entry(class).or_default().push(patient);
    }
    let mut fold_of_patient = BTreeMap::new();
    let mut next = 0;
    for (_, mut members) in by_class {
        members.sort_by_key(|p| mix(seed, fnv(p), 0xf01d));
        for p in members {
            fold_of_patient.insert(p.to_string(), next % folds);
            next += 1;
        }
    }
    manifest
        .rows
        .iter()
        .filter(|r| r.split != Split::Test)
        .map(|r| (r.exam_id.clone(), fold_of_patient[r.patient_id()]))
        .collect()
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Runs every fold and pools their held-out predictions.
pub fn cross_validate(request: &CvRequest) -> Result<CvReport, TrainError> {
    let config = &request.config;
    if request.folds < 2 {
        return Err(TrainError::Config("--folds must be at least 2".into()));
    }
    let task = config.model.task;
    let folds = assign_folds(&request.manifest, request.folds, task, config.train.seed);
    let mut reports = Vec::new();
    let mut pooled: Vec<(usize, String, usize, crate::Prediction)> = Vec::new();
    for fold in 0..request.folds {
        let mut manifest = request.manifest.clone();
        manifest.rows.retain(|r| folds.contains_key(&r.exam_id));
        for row in &mut manifest.rows {
            row.split = if folds[&row.exam_id] == fold {
                Split::Valid
            } else {
                Split::Train
            };
        }
        let out = request.out.join(format!("fold-{}", fold + 1));
        let summary_path = out.join("summary.json");
        let run = if summary_path.exists() {
            let json = std::fs::read_to_string(&summary_path)
                .map_err(|e| TrainError::io(&summary_path, e))?;
            serde_json::from_str(&json)
                .map_err(|e| TrainError::Run(format!("{}: {e}", summary_path.display())))?
        } else {
            tracing::info!("fold {} of {}", fold + 1, request.folds);
            train(&TrainRequest {
                manifest: manifest.clone(),
                out: out.clone(),
                weights: request.weights.clone(),
                config: config.clone(),
            })?
        };
        let model = LoadedRun::open(&out)?;
        let held_out = model.held_out(&prepare_exams(&manifest, Split::Valid, config)?);
        let (accuracy, auc) = (held_out.accuracy, held_out.auc);
        let exams = held_out.predictions.len();
        pooled.extend(
            held_out
                .predictions
                .into_iter()
                .map(|(id, class, p)| (fold + 1, id, class, p)),
        );
        reports.push(FoldReport {
            fold: fold + 1,
            exams,
            accuracy,
            auc,
            run,
        });
    }
    let pooled_figures = crate::predict::HeldOut::new(
        pooled
            .iter()
            .map(|(_, id, c, p)| (id.clone(), *c, p.clone()))
            .collect(),
    );
    let (pooled_accuracy, pooled_auc) = (pooled_figures.accuracy, pooled_figures.auc);
    let aucs: Vec<f64> = reports.iter().filter_map(|r| r.auc).collect();
    let fold_auc_mean_sd = (!aucs.is_empty()).then(|| {
        let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
        let var =
            aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (aucs.len().max(2) - 1) as f64;
        [mean, var.sqrt()]
    });
    let report = CvReport {
        folds: reports,
        pooled_accuracy,
        pooled_auc,
        fold_auc_mean_sd,
    };
    let write = |name: &str, body: String| {
        let path = request.out.join(name);
        cruciate_volume::atomic::write_atomically(&path, |w| w.write_all(body.as_bytes()))
            .map_err(|e| TrainError::io(&path, e))
    };
    write(
        "cv.json",
        serde_json::to_string_pretty(&report).expect("report serialises"),
    )?;
    let mut csv = String::from("fold,exam_id,class,predicted,injured_probability\n");
    for (fold, id, class, p) in &pooled {
        csv += &format!(
            "{fold},{id},{class},{},{:.6}\n",
            p.class, p.injured_probability
        );
    }
    write("predictions.csv", csv)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_data::ManifestRow;

    #[test]
    fn folds_keep_patients_together_and_classes_spread() {
        let rows = (0..60)
            .map(|i| ManifestRow {
                exam_id: format!("e{i}"),
                path: format!("{i}.npy"),
                label: if i % 4 == 0 { 2 } else { 0 },
                split: if i >= 57 { Split::Test } else { Split::Train },
                roi: None,
                patient: Some(format!("p{}", i / 2)),
            })
            .collect();
        let manifest = Manifest {
            root: ".".into(),
            rows,
        };
        let folds = assign_folds(&manifest, 3, Task::Binary, 1);
        assert_eq!(folds.len(), 57);
        for i in (0..56).step_by(2) {
            assert_eq!(folds[&format!("e{i}")], folds[&format!("e{}", i + 1)]);
        }
        for f in 0..3 {
            let injured = folds
                .iter()
                .filter(|(id, k)| **k == f && id[1..].parse::<usize>().unwrap() % 4 == 0)
                .count();
            assert!((4..=6).contains(&injured), "fold {f}: {injured}");
        }
    }
}
