//! Patient-level stratified k-fold cross-validation of any model kind: every exam of a patient
//! lands in the same fold, folds keep the class proportions, each fold is a fit by a
//! [`ClassifierFactory`] (resumable), and the held-out calls of all folds are pooled. A model
//! answering several findings at once (a joint network) is scored on each finding's labels,
//! its figures the mean over its findings (the macro figures, as RSNA's knee challenge scores).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use cruciate_data::folds::{assign_folds, fold_manifest};
use cruciate_data::{Finding, Manifest, Split, Task};
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
    /// Held-out accuracy and AUC (for a model of several findings, their mean over them).
    #[serde(flatten)]
    pub figures: HeadlineFigures,
    /// Each finding's, for a model of several findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingFigures>,
}

/// One finding's figures, for a model answering several.
#[derive(Debug, Clone, Serialize)]
pub struct FindingFigures {
    /// The finding.
    pub finding: Finding,
    /// Its figures.
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
    /// Over all held-out calls (for a model of several findings, the mean of theirs).
    pub pooled: HeadlineFigures,
    /// Each finding's over all held-out calls, for a model of several findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pooled_findings: Vec<FindingFigures>,
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
    finding: Finding,
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

/// A fitted fold: its manifest, its run folder and every finding's classifier.
type FittedFold = (Manifest, PathBuf, Vec<Box<dyn Classifier>>);

/// Held-out calls, per finding.
type ByFinding = Vec<(Finding, Vec<ScoredExam>)>;

/// Fits fold `fold` (0-based) with patients assigned as `folds` says: its manifest (the fold
/// held out as the valid split), its run folder `out/fold-K` and every finding's classifier.
fn fit(
    request: &CvRequest,
    folds: &BTreeMap<String, usize>,
    fold: usize,
    progress: &dyn Progress,
) -> Result<FittedFold, EvalError> {
    let manifest = fold_manifest(request.manifest, folds, fold);
    let out = request.out.join(format!("fold-{}", fold + 1));
    tracing::info!("fold {} of {}", fold + 1, request.folds);
    let classifiers = request.factory.fit_findings(&manifest, &out, progress)?;
    Ok((manifest, out, classifiers))
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

/// Every finding's held-out calls in a fold, behind the gate's rules as every opened run;
/// with several findings, each scored on its own labels.
fn score_fold(
    manifest: &Manifest,
    fitted: Vec<Box<dyn Classifier>>,
    progress: &dyn Progress,
) -> Result<(Option<usize>, ByFinding), EvalError> {
    let several = fitted.len() > 1;
    let mut epoch = None;
    let mut scored = Vec::new();
    for fitted in fitted {
        let classifier = cruciate_infer::Gated::new(fitted);
        let info = classifier.info();
        epoch = epoch.or(info.model.epoch);
        let view = match several {
            true => info
                .view(manifest)
                .map_err(|e| EvalError::Request(e.to_string()))?,
            false => manifest.clone(),
        };
        let held_out = score_split(&classifier, &view, Split::Valid, progress)?;
        scored.push((info.finding, held_out));
    }
    Ok((epoch, scored))
}

/// The figures of each finding's calls, and the figures they make together: the finding's own
/// where there is one, else the mean over them.
fn figures_of<'a>(
    by_finding: impl Iterator<Item = (Finding, &'a [ScoredExam])>,
) -> (HeadlineFigures, Vec<FindingFigures>) {
    let findings: Vec<FindingFigures> = by_finding
        .map(|(finding, scored)| FindingFigures {
            finding,
            figures: HeadlineFigures::of(scored),
        })
        .collect();
    if let [one] = &findings[..] {
        return (one.figures, Vec::new());
    }
    let all: Vec<HeadlineFigures> = findings.iter().map(|f| f.figures).collect();
    (HeadlineFigures::mean(&all), findings)
}

/// Fits and scores every fold, pools their held-out calls, and writes `cv.json` and
/// `predictions.csv`.
pub fn cross_validate(request: &CvRequest, progress: &dyn Progress) -> Result<CvReport, EvalError> {
    let folds = assign(request)?;
    let mut reports = Vec::new();
    // Per finding, every fold's held-out calls.
    let mut pooled: Vec<(Finding, Vec<(usize, ScoredExam)>)> = Vec::new();
    for fold in 0..request.folds {
        let (manifest, out, fitted) = fit(request, &folds, fold, progress)?;
        let (epoch, scored) = score_fold(&manifest, fitted, progress)?;
        let (figures, findings) = figures_of(scored.iter().map(|(f, s)| (*f, &s[..])));
        reports.push(FoldReport {
            fold: fold + 1,
            run: out.display().to_string(),
            epoch,
            figures,
            findings,
        });
        for (finding, held_out) in scored {
            let calls = held_out.into_iter().map(|s| (fold + 1, s));
            match pooled.iter_mut().find(|(f, _)| *f == finding) {
                Some((_, all)) => all.extend(calls),
                None => pooled.push((finding, calls.collect())),
            }
        }
    }
    let all: ByFinding = pooled
        .iter()
        .map(|(f, calls)| (*f, calls.iter().map(|(_, s)| s.clone()).collect()))
        .collect();
    let (pooled_figures, pooled_findings) = figures_of(all.iter().map(|(f, s)| (*f, &s[..])));
    let aucs: Vec<f64> = reports.iter().filter_map(|r| r.figures.auc).collect();
    let fold_auc_mean_sd = (!aucs.is_empty()).then(|| {
        let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
        let var =
            aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (aucs.len().max(2) - 1) as f64;
        [mean, var.sqrt()]
    });
    // Each exam once: the first finding's calls (every finding reads the same series).
    let mut gate = crate::evaluate::GateFigures::default();
    for s in all.first().map_or(&[][..], |(_, s)| &s[..]) {
        gate.count(&s.exam_id, &s.prediction.verdict);
    }
    let report = CvReport {
        model: request.factory.describe(),
        folds: reports,
        pooled: pooled_figures,
        pooled_findings,
        fold_auc_mean_sd,
        gate,
    };
    write_outputs(request, &report, &pooled)?;
    Ok(report)
}

fn write_outputs(
    request: &CvRequest,
    report: &CvReport,
    pooled: &[(Finding, Vec<(usize, ScoredExam)>)],
) -> Result<(), EvalError> {
    let json_path = request.out.join("cv.json");
    let json = serde_json::to_string_pretty(report).expect("report serialises");
    cruciate_volume::atomic::write_atomically(&json_path, |w| w.write_all(json.as_bytes()))
        .map_err(|e| EvalError::io(&json_path, e))?;
    let csv_path = request.out.join("predictions.csv");
    cruciate_volume::atomic::write_atomically(&csv_path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for (fold, finding, s) in pooled
            .iter()
            .flat_map(|(f, calls)| calls.iter().map(move |(fold, s)| (fold, *f, s)))
        {
            writer
                .serialize(PooledCall {
                    fold: *fold,
                    finding,
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
