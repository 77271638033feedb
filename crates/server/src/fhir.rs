//! An analysed exam's result as an HL7 FHIR R4 `DiagnosticReport` (see `cruciate_fhir`): the
//! call as the worklist shows it (none for an exam the input gate abstained on, unless an
//! admin had it shown), the patient and study as the hospital knows them (re-linked after
//! de-identification, as the DICOM results are); a reading's report holds an Observation for
//! each of its findings.

use cruciate_fhir::{ExamReport, FindingReport, ModelDevice, ShownCall};

use crate::analysis::AnalysisResult;
use crate::dicom::results::{InStudy, identity, utc_date_time};
use crate::store::{ExamRow, Store};

/// An instant in FHIR's form from `ms` since the epoch: `2026-12-07T10:00:00Z`.
pub fn instant(ms: i64) -> String {
    let (date, time) = utc_date_time(ms);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    )
}

/// What the report of `exam` (analysed, with `result`) says.
pub async fn exam_report(
    store: &Store,
    exam: &ExamRow,
    result: &AnalysisResult,
) -> Result<ExamReport, sqlx::Error> {
    let (study, ..) = identity(store, exam, result, InStudy::Original).await?;
    let from_dicom = result.exam.dicom.is_some();
    let p = &result.prediction;
    Ok(ExamReport {
        exam_id: exam.id.clone(),
        issued: instant(exam.finished_ms.unwrap_or(exam.created_ms)),
        patient_id: from_dicom.then_some(study.patient_id.clone()),
        study_uid: from_dicom.then_some(study.study_uid),
        device: ModelDevice {
            name: result.model.name.clone(),
            version: result.software.clone(),
            sha256: result.model.hash.clone(),
        },
        findings: if result.findings.is_empty() {
            vec![FindingReport {
                finding: result.model.finding,
                call: exam.call_shown().then(|| ShownCall {
                    label: p.label.clone(),
                    probability: p.injured_probability.clamp(0.0, 1.0),
                    present: p.class > 0,
                }),
                outside_domain: exam.not_analysed.clone(),
                grade_set: p.grade_set.as_ref().map(|s| s.to_string()),
            }]
        } else {
            // A reading: each finding's call, the headline's as a one-model call.
            result
                .findings
                .iter()
                .map(|f| {
                    let headline = f.finding == result.model.finding;
                    let probability = f.call.probability.filter(|_| exam.call_shown());
                    FindingReport {
                        finding: f.finding,
                        call: probability.map(|probability| {
                            let present = if headline {
                                p.class > 0
                            } else {
                                probability >= 0.5
                            };
                            ShownCall {
                                label: if headline {
                                    p.label.clone()
                                } else {
                                    f.finding.class_names(cruciate_data::Task::Binary)
                                        [usize::from(present)]
                                    .clone()
                                },
                                probability: probability.clamp(0.0, 1.0),
                                present,
                            }
                        }),
                        outside_domain: exam
                            .not_analysed
                            .clone()
                            .or_else(|| (!f.analysed()).then(|| f.text.clone())),
                        grade_set: p
                            .grade_set
                            .as_ref()
                            .filter(|_| headline)
                            .map(|s| s.to_string()),
                    }
                })
                .collect()
        },
        notices: result.notices.clone(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn instants_are_written_as_fhir_asks() {
        // 2026-11-27 18:30:05 UTC.
        assert_eq!(super::instant(1_795_804_205_000), "2026-11-27T18:30:05Z");
    }
}
