//! An analysed exam's results as DICOM: the SR document and the Secondary Capture images of its
//! key slices, in the exam's original study (re-linked through the pseudonym map when the exam
//! came by DICOM and was de-identified).

use cruciate_dicom_results::sc::RgbPicture;
use cruciate_dicom_results::{
    Algorithm, Finding, OutsideDomain, ResultContext, StudyIdentity, secondary_capture,
    structured_report,
};
use cruciate_volume::SliceSource;
use dicom_object::InMemDicomObject;

use crate::analysis::{AnalysisResult, ExplanationSummary};
use crate::images::load_slice;
use crate::storage::ExamFiles;
use crate::store::{ExamRow, Store};

/// Key slices shown as Secondary Capture images, at most.
pub const KEY_SLICES: usize = 3;

/// The DICOM objects of one exam's results.
pub struct ResultObjects {
    /// The SR document.
    pub sr: InMemDicomObject,
    /// The Secondary Capture images, most telling slice first.
    pub sc: Vec<InMemDicomObject>,
}

/// Why an exam's results cannot be given as DICOM.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The exam is not analysed.
    #[error("exam {0} has no result yet")]
    NotDone(String),
    /// Its stored files or records are unusable.
    #[error("{0}")]
    Damaged(String),
}

/// `YYYYMMDD` and `HHMMSS` (UTC) of `ms` since the epoch.
pub fn utc_date_time(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}{month:02}{day:02}"),
        format!("{:02}{:02}{:02}", rest / 3600, rest / 60 % 60, rest % 60),
    )
}

/// The slices worth showing of an exam of `slices` slices whose model saw them from `first`:
/// the explanation's most important ones, else the middle one.
fn key_slices(slices: usize, first: usize, explanation: Option<&ExplanationSummary>) -> Vec<usize> {
    // Shares are of the slices the model saw, from its first.
    let mut order: Vec<(usize, f64)> = match explanation {
        Some(e) => e
            .slice_importance
            .iter()
            .enumerate()
            .map(|(k, w)| (first + k, *w))
            .collect(),
        None => Vec::new(),
    };
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut keys: Vec<usize> = order
        .into_iter()
        .filter(|(s, w)| *s < slices && *w > 0.0)
        .map(|(s, _)| s)
        .take(KEY_SLICES)
        .collect();
    if let Some(e) = explanation
        && e.key_slice < slices
        && !keys.contains(&e.key_slice)
    {
        keys.insert(0, e.key_slice);
        keys.truncate(KEY_SLICES);
    }
    if keys.is_empty() {
        keys.push(slices / 2);
    }
    keys
}

/// The study and series of `exam` as the hospital knows them (re-linked after
/// de-identification when it came by DICOM), and its slices' instances.
pub(crate) async fn identity(
    store: &Store,
    exam: &ExamRow,
    result: &AnalysisResult,
) -> Result<(StudyIdentity, Option<String>, Vec<SliceSource>), sqlx::Error> {
    let source = result.exam.dicom.clone();
    let mut slices = source
        .as_ref()
        .map(|s| s.slices.clone())
        .unwrap_or_default();
    let mut series = source.as_ref().and_then(|s| s.series_uid.clone());
    let stored_study = source.as_ref().and_then(|s| s.study_uid.clone());
    let original = match &stored_study {
        Some(uid) => store.study_identity(uid).await?,
        None => None,
    };
    let study = match original.and_then(|j| serde_json::from_str::<StudyIdentity>(&j).ok()) {
        Some(o) => {
            // Came by DICOM: back to the original study, series and instances.
            for s in &mut slices {
                s.sop_instance_uid = store.original_uid(&s.sop_instance_uid).await?;
            }
            if let Some(uid) = &series {
                series = Some(store.original_uid(uid).await?);
            }
            o
        }
        None => {
            let (date, time) = utc_date_time(exam.created_ms);
            StudyIdentity {
                patient_id: source
                    .as_ref()
                    .and_then(|s| s.patient_id.clone())
                    .unwrap_or_else(|| exam.id.clone()),
                study_uid: stored_study.unwrap_or_else(|| {
                    cruciate_dicom_results::context::derived_uid(&format!("{}/study", exam.id))
                }),
                study_id: exam.id.chars().take(16).collect(),
                study_date: date,
                study_time: time,
                ..StudyIdentity::default()
            }
        }
    };
    Ok((study, series, slices))
}

/// The results of exam `exam` (analysed) as DICOM objects.
pub async fn result_objects(
    store: &Store,
    data: &std::path::Path,
    exam: &ExamRow,
) -> Result<ResultObjects, ResultsError> {
    let damaged = |e: String| ResultsError::Damaged(format!("exam {}: {e}", exam.id));
    let text = exam
        .result
        .as_deref()
        .filter(|_| exam.status == crate::store::JobStatus::Done)
        .ok_or_else(|| ResultsError::NotDone(exam.id.clone()))?;
    let result: AnalysisResult = serde_json::from_str(text).map_err(|e| damaged(e.to_string()))?;
    let (study, series, slice_sources) = identity(store, exam, &result)
        .await
        .map_err(|e| damaged(e.to_string()))?;
    let keys = key_slices(
        result.exam.shape[0],
        result.prediction.slices[0],
        result.explanation.as_ref(),
    );
    let version = match &result.model.hash {
        Some(h) => format!(
            "{} (model sha256 {})",
            result.software,
            &h[..h.len().min(16)]
        ),
        None => result.software.clone(),
    };
    let ctx = ResultContext {
        exam_id: exam.id.clone(),
        study,
        source_series_uid: series,
        frame_of_reference_uid: result
            .exam
            .dicom
            .as_ref()
            .and_then(|d| d.frame_of_reference_uid.clone()),
        slice_sources,
        algorithm: Algorithm {
            name: result.model.name.clone(),
            version,
            synthetic: result.model.synthetic,
        },
        notices: result.notices.clone(),
        content_date_time: utc_date_time(exam.finished_ms.unwrap_or(exam.created_ms)),
    };
    let finding = Finding {
        about: result.model.finding,
        grade: result.grade,
        injured: result.prediction.class != 0,
        injured_probability: result.prediction.injured_probability.clamp(0.0, 1.0),
        key_slices: keys.clone(),
        outside_domain: exam.not_analysed.as_ref().map(|reasons| OutsideDomain {
            reasons: reasons.clone(),
            call_shown: exam.call_shown(),
        }),
        grade_set: result.prediction.grade_set.as_ref().map(|s| s.to_string()),
    };
    // No pictures of a call that is not shown.
    let keys = if finding.call_shown() {
        keys
    } else {
        Vec::new()
    };
    let dir = ExamFiles::new(data, &exam.id).result();
    let pictures = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (n, &s) in keys.iter().enumerate() {
            let slice = load_slice(&dir, &result, s).map_err(|e| e.to_string())?;
            let caption = format!(
                "Slice {} of {}: {} (P {} {:.2})",
                s + 1,
                result.exam.shape[0],
                result.prediction.label,
                result.model.finding.positive(),
                result.prediction.injured_probability
            );
            out.push((
                n,
                s,
                slice.burned_figure(None, &caption, result.model.synthetic),
            ));
        }
        Ok::<_, String>(out)
    })
    .await
    .map_err(|e| damaged(e.to_string()))?
    .map_err(damaged)?;
    let mut sc = Vec::new();
    for (n, s, figure) in &pictures {
        let picture = RgbPicture {
            width: figure.width,
            height: figure.height,
            pixels: &figure.pixels,
        };
        sc.push(secondary_capture(&ctx, *n, *s, &picture).map_err(|e| damaged(e.to_string()))?);
    }
    let sr = structured_report(&ctx, &finding, sc.len()).map_err(|e| damaged(e.to_string()))?;
    Ok(ResultObjects { sr, sc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_milliseconds_become_dicom_dates_and_times() {
        assert_eq!(utc_date_time(0), ("19700101".into(), "000000".into()));
        // 2026-11-27 18:30:05 UTC.
        assert_eq!(
            utc_date_time(1_795_804_205_000),
            ("20261127".into(), "183005".into())
        );
        assert_eq!(utc_date_time(951_782_400_000).0, "20000229");
    }

    /// Shares are of the slices the model saw: a model that saw slices 10 to 13 of 20 shows
    /// those, the key slice first.
    #[test]
    fn key_slices_are_counted_from_the_first_slice_seen() {
        let e = ExplanationSummary {
            method: "grad-cam".into(),
            target: 1,
            key_slice: 12,
            slice_importance: vec![0.1, 0.2, 0.6, 0.1],
        };
        assert_eq!(key_slices(20, 10, Some(&e)), vec![12, 11, 10]);
        assert_eq!(key_slices(20, 0, None), vec![10]);
    }
}
