//! A reading of several findings scored on a manifest split: each exam's study read once and
//! every finding called from it, then per finding the ROC AUC of its probability against the
//! manifest's label, with a bootstrap interval, and the macro AUC over the findings (their
//! mean, as RSNA's knee challenge and MRNet's paper average them).

use cruciate_data::{Finding, Manifest, ManifestRow, Split, read_exam_study};
use cruciate_infer::reading::{FindingWeights, input_sets};
use cruciate_infer::{AcrossFindings, FindingCall, Progress, ReadingModel};
use serde::Serialize;

use crate::EvalError;
use crate::combine::{RESAMPLES, fit_logistic};
use crate::metrics::{bootstrap_auc_interval, roc_auc};
use crate::report::Table;

/// One finding's figures on a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingFigure {
    /// The finding.
    pub finding: Finding,
    /// Exams of the split with this finding's label.
    pub labelled: usize,
    /// Of them, those with the finding present.
    pub positive: usize,
    /// Of them, those the model gave a probability for (the rest not analysed: no plane it
    /// reads was there or accepted).
    pub analysed: usize,
    /// ROC AUC of the probability on the analysed exams; `None` when they hold one class.
    pub auc: Option<f64>,
    /// Its 95 % bootstrap interval.
    pub interval: Option<[f64; 2]>,
    /// Accuracy of the call at probability one half, on the analysed exams.
    pub accuracy: Option<f64>,
}

/// A reading's figures on a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadingReport {
    /// The split scored.
    pub split: Split,
    /// Its exams.
    pub exams: usize,
    /// One row per finding, in the reading's order.
    pub findings: Vec<FindingFigure>,
    /// The mean of the findings' AUCs, where every finding has one.
    pub macro_auc: Option<f64>,
    /// True when any model was trained on synthetic exams.
    pub synthetic_model: bool,
}

/// One exam's calls, with its labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadExam {
    /// The exam.
    pub exam_id: String,
    /// Each finding's call.
    pub calls: Vec<FindingCall>,
}

/// Scores `model` on the exams of `split`: each study read once for every finding.
pub fn score_reading(
    model: &ReadingModel,
    manifest: &Manifest,
    split: Split,
    seed: u64,
    progress: &dyn Progress,
) -> Result<(ReadingReport, Vec<ReadExam>), EvalError> {
    let (rows, read) = read_split(manifest, split, progress, |study| {
        model.read(study).map(|reading| reading.findings)
    })?;
    let report = report_of(model, split, &rows, &read, seed);
    Ok((report, read))
}

/// Scores `model` on the exams of `split` as it is and with each of `across` in place of its
/// own regressions across findings (`None`: without any), each study read once for all: the
/// models' own calls, finished each way. One report per entry of `across`.
pub fn score_reading_variants(
    model: &ReadingModel,
    across: &[Option<&AcrossFindings>],
    manifest: &Manifest,
    split: Split,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Vec<ReadingReport>, EvalError> {
    let (rows, own) = read_split(manifest, split, progress, |study| model.read_own(study))?;
    Ok(across
        .iter()
        .map(|variant| {
            let finished: Vec<ReadExam> = own
                .iter()
                .map(|exam| {
                    let mut calls = exam.calls.clone();
                    ReadingModel::finish(&mut calls, *variant);
                    ReadExam {
                        exam_id: exam.exam_id.clone(),
                        calls,
                    }
                })
                .collect();
            report_of(model, split, &rows, &finished, seed)
        })
        .collect())
}

/// The figures of `model`'s calls `read` on `rows` of `split`.
fn report_of(
    model: &ReadingModel,
    split: Split,
    rows: &[&ManifestRow],
    read: &[ReadExam],
    seed: u64,
) -> ReadingReport {
    let findings: Vec<FindingFigure> = model
        .findings()
        .into_iter()
        .enumerate()
        .map(|(k, finding)| {
            let labelled: Vec<(Option<f64>, bool)> = rows
                .iter()
                .zip(read)
                .filter_map(|(row, exam)| {
                    let present = finding.grade_of(row)? > 0;
                    Some((exam.calls[k].probability, present))
                })
                .collect();
            figure(finding, &labelled, seed)
        })
        .collect();
    let aucs: Vec<f64> = findings.iter().filter_map(|f| f.auc).collect();
    ReadingReport {
        split,
        exams: rows.len(),
        macro_auc: (aucs.len() == findings.len())
            .then(|| aucs.iter().sum::<f64>() / aucs.len() as f64),
        findings,
        synthetic_model: model.synthetic(),
    }
}

/// The rows of `split` and each exam's calls by `read` from its study.
fn read_split<'m>(
    manifest: &'m Manifest,
    split: Split,
    progress: &dyn Progress,
    read: impl Fn(&cruciate_volume::Study) -> Result<Vec<FindingCall>, cruciate_infer::InferError>,
) -> Result<(Vec<&'m ManifestRow>, Vec<ReadExam>), EvalError> {
    let rows: Vec<_> = manifest.split(split).collect();
    if rows.is_empty() {
        return Err(EvalError::EmptySplit(split));
    }
    progress.start(&format!("reading on {split}"), Some(rows.len() as u64));
    let mut exams = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let study = read_exam_study(manifest, row)?;
        let calls = read(&study).map_err(|source| EvalError::OnExam {
            exam_id: row.exam_id.clone(),
            source,
        })?;
        exams.push(ReadExam {
            exam_id: row.exam_id.clone(),
            calls,
        });
        progress.set(i as u64 + 1);
    }
    progress.finish();
    Ok((rows, exams))
}

/// Fits the regressions by which a reading's findings inform each other
/// ([`AcrossFindings`]) on the exams of `split` (none of the models' training exams): for each
/// finding, over its own model's probability and those of every set of the other findings,
/// on the exams labelled for it where each of those findings was analysed. L2-penalised with
/// inverse strength `c`, as MRNet's combiner ([`crate::combine::fit_logistic`]).
pub fn fit_across(
    model: &ReadingModel,
    manifest: &Manifest,
    split: Split,
    c: f64,
    progress: &dyn Progress,
) -> Result<AcrossFindings, EvalError> {
    let findings = model.findings();
    if findings.len() < 2 {
        return Err(EvalError::Request(
            "a reading of one finding has no other finding to inform it".into(),
        ));
    }
    if let Some(finding) = findings
        .iter()
        .find(|f| !manifest.split(split).any(|row| f.grade_of(row).is_some()))
    {
        return Err(EvalError::Request(format!(
            "the {split} exams carry no {} label: add the `{}` column",
            finding.describe(),
            finding.name()
        )));
    }
    let (rows, exams) = read_split(manifest, split, progress, |study| model.read_own(study))?;
    let mut combiners = Vec::new();
    for (target, finding) in findings.iter().enumerate() {
        for set in input_sets(&findings, target) {
            let (inputs, positive): (Vec<Vec<f64>>, Vec<bool>) = rows
                .iter()
                .zip(&exams)
                .filter_map(|(row, exam)| {
                    let present = finding.grade_of(row)? > 0;
                    let inputs: Option<Vec<f64>> =
                        set.iter().map(|&i| exam.calls[i].probability).collect();
                    Some((inputs?, present))
                })
                .unzip();
            if !(positive.contains(&true) && positive.contains(&false)) {
                return Err(EvalError::Request(format!(
                    "the {split} exams analysed for {finding} hold one class only: no \
                     regression across findings can be fitted"
                )));
            }
            let (weights, bias) = fit_logistic(&inputs, &positive, c)?;
            combiners.push(FindingWeights {
                finding: *finding,
                inputs: set.iter().map(|&i| findings[i]).collect(),
                weights,
                bias,
            });
        }
    }
    Ok(AcrossFindings {
        combiners,
        fitted_on: format!("{} {split} exams", rows.len()),
    })
}

/// Readings side by side, best macro AUC first: a column per finding any of them reads (its
/// AUC with the interval, "-" where a reading lacks the finding) and the macro AUC.
pub fn comparison_table(named: &[(String, ReadingReport)]) -> Table {
    let mut findings: Vec<Finding> = Vec::new();
    for f in named.iter().flat_map(|(_, r)| &r.findings) {
        if !findings.contains(&f.finding) {
            findings.push(f.finding);
        }
    }
    let mut order: Vec<&(String, ReadingReport)> = named.iter().collect();
    order.sort_by(|a, b| {
        let key = |r: &ReadingReport| r.macro_auc.unwrap_or(f64::NEG_INFINITY);
        key(&b.1).total_cmp(&key(&a.1))
    });
    let mut header = vec!["reading".to_string(), "exams".to_string()];
    header.extend(
        findings
            .iter()
            .map(|f| format!("{} AUC (95 % CI)", f.describe())),
    );
    header.push("macro AUC".into());
    let rows = order
        .iter()
        .map(|(name, report)| {
            let mut row = vec![
                if report.synthetic_model {
                    format!("{name} (synthetic data)")
                } else {
                    name.clone()
                },
                report.exams.to_string(),
            ];
            row.extend(findings.iter().map(|f| {
                report
                    .findings
                    .iter()
                    .find(|x| x.finding == *f)
                    .map_or("-".into(), auc_text)
            }));
            row.push(report.macro_auc.map_or("n/a".into(), |m| format!("{m:.3}")));
            row
        })
        .collect();
    Table {
        heading: "Readings".into(),
        header,
        rows,
    }
}

/// A finding's AUC with its interval, as tables print it.
pub fn auc_text(f: &FindingFigure) -> String {
    crate::report::auc_with_interval(f.auc, f.interval)
}

/// The figures of one finding from its `(probability, present)` pairs.
fn figure(finding: Finding, labelled: &[(Option<f64>, bool)], seed: u64) -> FindingFigure {
    let (scores, present): (Vec<f64>, Vec<bool>) = labelled
        .iter()
        .filter_map(|(p, present)| p.map(|p| (p, *present)))
        .unzip();
    let right = scores
        .iter()
        .zip(&present)
        .filter(|(p, y)| (**p >= 0.5) == **y)
        .count();
    let auc = roc_auc(&scores, &present);
    FindingFigure {
        finding,
        labelled: labelled.len(),
        positive: labelled.iter().filter(|(_, y)| *y).count(),
        analysed: scores.len(),
        auc,
        interval: bootstrap_auc_interval(&scores, &present, RESAMPLES, 0.95, seed),
        accuracy: (!scores.is_empty()).then(|| right as f64 / scores.len() as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_scored_on_the_exams_it_analysed() {
        let labelled = [
            (Some(0.9), true),
            (Some(0.2), false),
            (Some(0.6), false),
            (None, true),
            (Some(0.7), true),
        ];
        let f = figure(Finding::Meniscus, &labelled, 0);
        assert_eq!((f.labelled, f.positive, f.analysed), (5, 3, 4));
        // Positives 0.9 and 0.7 against negatives 0.2 and 0.6: all four pairs ordered.
        assert_eq!(f.auc, Some(1.0));
        assert_eq!(f.accuracy, Some(0.75));
        let one_class = figure(Finding::Acl, &[(Some(0.4), false), (Some(0.1), false)], 0);
        assert_eq!(one_class.auc, None);
        assert_eq!(one_class.interval, None);
    }

    #[test]
    fn readings_are_compared_per_finding_best_macro_first() {
        let report = |macro_auc, findings: Vec<FindingFigure>| ReadingReport {
            split: Split::Test,
            exams: 5,
            findings,
            macro_auc,
            synthetic_model: true,
        };
        let acl = figure(Finding::Acl, &[(Some(0.9), true), (Some(0.2), false)], 0);
        let meniscus = figure(
            Finding::Meniscus,
            &[(Some(0.1), true), (Some(0.2), false)],
            0,
        );
        let table = comparison_table(&[
            ("a".into(), report(Some(0.5), vec![acl.clone(), meniscus])),
            ("b".into(), report(Some(1.0), vec![acl])),
        ]);
        assert_eq!(
            table.header,
            [
                "reading",
                "exams",
                "ACL tear AUC (95 % CI)",
                "meniscal tear AUC (95 % CI)",
                "macro AUC"
            ]
        );
        assert_eq!(table.rows[0][0], "b (synthetic data)");
        assert_eq!(table.rows[0][3], "-", "b reads no menisci");
        assert_eq!(table.rows[1][3], "0.000 (0.000-0.000)");
        assert_eq!(table.rows[1][4], "0.500");
    }
}
