//! Patient-level stratified k-fold cross-validation of any model kind: every exam of a patient
//! lands in the same fold, folds keep the class proportions, each fold is a fit by a
//! [`ClassifierFactory`] (resumable), and the held-out calls of all folds are pooled.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use cruciate_data::folds::{assign_folds, fold_manifest};
use cruciate_data::{Manifest, Split, Task};
use cruciate_infer::{Classifier, ClassifierFactory, Progress};
use serde::Serialize;

use crate::EvalError;
use crate::scoring::{HeadlineFigures, ScoredExam, score_split};

/// A cross-validation.
pub struct CvRequest<'a> {
    /// Exams: train and valid rows are folded, test rows left out.
    pub manifest: &'a Manifest,
    /// Number of folds.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// The task the folds are stratified for.
    pub task: Task,
    /// Folder for `fold-1` .. `fold-K`, `cv.json` and `predictions.csv`.
    pub out: PathBuf,
    /// What makes each fold's model.
    pub factory: &'a dyn ClassifierFactory,
}

/// Held-out figures of one fold.
#[derive(Debug, Clone, Serialize)]
pub struct FoldReport {
    /// 1-based fold.
    pub fold: usize,
    /// The fold's run folder.
    pub run: String,
    /// The epoch whose weights were scored, for models trained by epochs.
    pub epoch: Option<usize>,
    /// Held-out accuracy and AUC.
    #[serde(flatten)]
    pub figures: HeadlineFigures,
}

/// `cv.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    /// What was fitted.
    pub model: String,
    /// Per fold.
    pub folds: Vec<FoldReport>,
    /// Over all held-out calls.
    pub pooled: HeadlineFigures,
    /// Mean and standard deviation of the fold AUCs.
    pub fold_auc_mean_sd: Option<[f64; 2]>,
    /// What the input gate's rules made of the held-out exams (the figures above score every
    /// one; a fold's run has no domain reference of its own).
    pub gate: crate::evaluate::GateFigures,
}

/// One held-out call, as `predictions.csv` lists it.
#[derive(Debug, Clone, Serialize)]
struct PooledCall<'a> {
    fold: usize,
    exam_id: &'a str,
    class: usize,
    predicted: usize,
    injured_probability: f64,
    /// `accepted`, or `abstained: REASONS`.
    verdict: String,
}

/// The fold of each patient, after checking that there are at least two folds.
fn assign(request: &CvRequest) -> Result<BTreeMap<String, usize>, EvalError> {
    if request.folds < 2 {
        return Err(EvalError::Request("--folds must be at least 2".into()));
    }
    Ok(assign_folds(
        request.manifest,
        request.folds,
        request.task,
        request.seed,
    ))
}

/// Fits fold `fold` (0-based) with patients assigned as `folds` says: its manifest (the fold
/// held out as the valid split) and its run folder `out/fold-K`.
fn fit(
    request: &CvRequest,
    folds: &BTreeMap<String, usize>,
    fold: usize,
    progress: &dyn Progress,
) -> Result<(Manifest, PathBuf, Box<dyn Classifier>), EvalError> {
    let manifest = fold_manifest(request.manifest, folds, fold);
    let out = request.out.join(format!("fold-{}", fold + 1));
    tracing::info!("fold {} of {}", fold + 1, request.folds);
    let classifier = request.factory.fit(&manifest, &out, progress)?;
    Ok((manifest, out, classifier))
}

/// Fits fold `fold` (0-based) of `request` alone, as [`cross_validate`] fits it, into
/// `out/fold-K`: folds fitted apart (on other machines) are then found there by the
/// cross-validation, which scores them.
pub fn fit_fold(
    request: &CvRequest,
    fold: usize,
    progress: &dyn Progress,
) -> Result<PathBuf, EvalError> {
    let folds = assign(request)?;
    if fold >= request.folds {
        return Err(EvalError::Request(format!(
            "fold {} of {}: no such fold",
            fold + 1,
            request.folds
        )));
    }
    Ok(fit(request, &folds, fold, progress)?.1)
}

/// Fits and scores every fold, pools their held-out calls, and writes `cv.json` and
/// `predictions.csv`.
pub fn cross_validate(request: &CvRequest, progress: &dyn Progress) -> Result<CvReport, EvalError> {
    let folds = assign(request)?;
    let mut reports = Vec::new();
    let mut pooled: Vec<(usize, ScoredExam)> = Vec::new();
    for fold in 0..request.folds {
        let (manifest, out, fitted) = fit(request, &folds, fold, progress)?;
        // Behind the gate's rules, as every opened run.
        let classifier = cruciate_infer::Gated::new(fitted);
        let held_out = score_split(&classifier, &manifest, Split::Valid, progress)?;
        reports.push(FoldReport {
            fold: fold + 1,
            run: out.display().to_string(),
            epoch: classifier.info().model.epoch,
            figures: HeadlineFigures::of(&held_out),
        });
        pooled.extend(held_out.into_iter().map(|s| (fold + 1, s)));
    }
    let all: Vec<ScoredExam> = pooled.iter().map(|(_, s)| s.clone()).collect();
    let aucs: Vec<f64> = reports.iter().filter_map(|r| r.figures.auc).collect();
    let fold_auc_mean_sd = (!aucs.is_empty()).then(|| {
        let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
        let var =
            aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (aucs.len().max(2) - 1) as f64;
        [mean, var.sqrt()]
    });
    let mut gate = crate::evaluate::GateFigures::default();
    for s in &all {
        gate.count(&s.exam_id, &s.prediction.verdict);
    }
    let report = CvReport {
        model: request.factory.describe(),
        folds: reports,
        pooled: HeadlineFigures::of(&all),
        fold_auc_mean_sd,
        gate,
    };
    write_outputs(request, &report, &pooled)?;
    Ok(report)
}

fn write_outputs(
    request: &CvRequest,
    report: &CvReport,
    pooled: &[(usize, ScoredExam)],
) -> Result<(), EvalError> {
    let json_path = request.out.join("cv.json");
    let json = serde_json::to_string_pretty(report).expect("report serialises");
    cruciate_volume::atomic::write_atomically(&json_path, |w| w.write_all(json.as_bytes()))
        .map_err(|e| EvalError::io(&json_path, e))?;
    let csv_path = request.out.join("predictions.csv");
    cruciate_volume::atomic::write_atomically(&csv_path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for (fold, s) in pooled {
            writer
                .serialize(PooledCall {
                    fold: *fold,
                    exam_id: &s.exam_id,
                    class: s.class,
                    predicted: s.prediction.class,
                    injured_probability: s.prediction.injured_probability,
                    verdict: match &s.prediction.verdict {
                        cruciate_infer::Verdict::Accepted => "accepted".into(),
                        v => v.summary(),
                    },
                })
                .map_err(std::io::Error::other)?;
        }
        writer.flush()
    })
    .map_err(|e| EvalError::io(&csv_path, e))
}
