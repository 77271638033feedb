//! An analysed exam's results as DICOM: the SR document and the Secondary Capture images of its
//! key slices (a reading's: each finding's, on the series it was seen on), in the exam's
//! original study (re-linked through the pseudonym map when the exam
//! came by DICOM and was de-identified).

use cruciate_dicom_results::sc::RgbPicture;
use cruciate_dicom_results::{
    Algorithm, Evidence, Finding, OutsideDomain, ResultContext, StudyIdentity, secondary_capture,
    structured_report_of,
};
use cruciate_volume::SliceSource;
use dicom_object::InMemDicomObject;

use crate::analysis::{AnalysisResult, DicomSource, ExplanationSummary};
use crate::images::{View, load_slice};
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
    let source = result.exam.dicom.as_ref();
    let stored_study = source.and_then(|s| s.study_uid.clone());
    let original = match &stored_study {
        Some(uid) => store.study_identity(uid).await?,
        None => None,
    };
    let original = original.and_then(|j| serde_json::from_str::<StudyIdentity>(&j).ok());
    let (series, slices) = source_series(store, source, original.is_some()).await?;
    let study = match original {
        // Came by DICOM: back to the original study.
        Some(o) => o,
        None => {
            let (date, time) = utc_date_time(exam.created_ms);
            StudyIdentity {
                patient_id: source
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

/// The series `source` was read from and its slices' instances, back to the original UIDs
/// where the exam came by DICOM and was de-identified (`relinked`).
async fn source_series(
    store: &Store,
    source: Option<&DicomSource>,
    relinked: bool,
) -> Result<(Option<String>, Vec<SliceSource>), sqlx::Error> {
    let mut slices = source.map(|s| s.slices.clone()).unwrap_or_default();
    let mut series = source.and_then(|s| s.series_uid.clone());
    if relinked {
        for s in &mut slices {
            s.sop_instance_uid = store.original_uid(&s.sop_instance_uid).await?;
        }
        if let Some(uid) = &series {
            series = Some(store.original_uid(uid).await?);
        }
    }
    Ok((series, slices))
}

/// One finding to report, as seen on one series.
struct Reported {
    /// The finding.
    finding: Finding,
    /// The context of the series it was seen on.
    seen: ResultContext,
    /// The series and heat its pictures are of.
    view: View,
    /// The series' slices.
    slices: usize,
    /// The call in words, for the pictures' captions.
    call: String,
}

/// The findings of `result`: its one call, or each of a reading's on the plane that explains
/// it best (the first plane it used).
async fn reported(
    store: &Store,
    exam: &ExamRow,
    result: &AnalysisResult,
    ctx: &ResultContext,
) -> Result<Vec<Reported>, sqlx::Error> {
    let outside_domain = exam.not_analysed.as_ref().map(|reasons| OutsideDomain {
        reasons: reasons.clone(),
        call_shown: exam.call_shown(),
    });
    if result.findings.is_empty() {
        let finding = Finding {
            about: result.model.finding,
            grade: result.grade,
            injured: result.prediction.class != 0,
            injured_probability: result.prediction.injured_probability.clamp(0.0, 1.0),
            key_slices: key_slices(
                result.exam.shape[0],
                result.prediction.slices[0],
                result.explanation.as_ref(),
            ),
            outside_domain,
            grade_set: result.prediction.grade_set.as_ref().map(|s| s.to_string()),
        };
        return Ok(vec![Reported {
            finding,
            seen: ctx.clone(),
            view: View::default(),
            slices: result.exam.shape[0],
            call: format!(
                "{} (P {} {:.2})",
                result.prediction.label,
                result.model.finding.positive(),
                result.prediction.injured_probability
            ),
        }]);
    }
    let stored_study = result
        .exam
        .dicom
        .as_ref()
        .and_then(|d| d.study_uid.as_deref());
    let relinked = match stored_study {
        Some(uid) => store.study_identity(uid).await?.is_some(),
        None => false,
    };
    let mut out = Vec::new();
    for f in &result.findings {
        let plane = f
            .call
            .planes_used
            .first()
            .copied()
            .or(f.explanations.first().map(|e| e.plane))
            .unwrap_or(result.exam.plane);
        let Some(series) = result.planes.iter().find(|p| p.plane == plane) else {
            continue;
        };
        let explained = f.explanations.iter().find(|e| e.plane == plane);
        let first = explained.map_or(0, |e| e.slices[0]);
        let explanation = explained.map(|e| &e.explanation);
        let dicom = series.exam.dicom.as_ref();
        let (series_uid, slices) = source_series(store, dicom, relinked).await?;
        let headline = f.finding == result.model.finding;
        let finding = Finding {
            about: f.finding,
            grade: result.grade.filter(|_| headline),
            injured: f.call.positive() == Some(true),
            injured_probability: f.call.probability.unwrap_or(0.0).clamp(0.0, 1.0),
            key_slices: key_slices(series.exam.shape[0], first, explanation),
            outside_domain: match (&outside_domain, f.analysed()) {
                (Some(o), _) => Some(o.clone()),
                (None, true) => None,
                (None, false) => Some(OutsideDomain {
                    reasons: f.text.clone(),
                    call_shown: false,
                }),
            },
            grade_set: None,
        };
        out.push(Reported {
            finding,
            seen: ctx.with_series(
                series_uid,
                dicom.and_then(|d| d.frame_of_reference_uid.clone()),
                slices,
            ),
            view: View {
                plane: Some(plane),
                finding: Some(f.finding),
            },
            slices: series.exam.shape[0],
            call: format!("{} ({plane})", f.text),
        });
    }
    Ok(out)
}

/// The results of exam `exam` (analysed) as DICOM objects: for a reading, a measurement group
/// and key-slice pictures per finding.
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
    let reported = reported(store, exam, &result, &ctx)
        .await
        .map_err(|e| damaged(e.to_string()))?;
    // No pictures of a call that is not shown.
    let wanted: Vec<(usize, View, usize, String)> = reported
        .iter()
        .enumerate()
        .filter(|(_, r)| r.finding.call_shown())
        .flat_map(|(k, r)| {
            r.finding.key_slices.iter().map(move |&s| {
                let caption = format!("Slice {} of {}: {}", s + 1, r.slices, r.call);
                (k, r.view, s, caption)
            })
        })
        .collect();
    let dir = ExamFiles::new(data, &exam.id).result();
    let synthetic = result.model.synthetic;
    let pictures = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (k, view, s, caption) in wanted {
            let slice = load_slice(&dir, &result, view, s).map_err(|e| e.to_string())?;
            out.push((k, s, slice.burned_figure(None, &caption, synthetic)));
        }
        Ok::<_, String>(out)
    })
    .await
    .map_err(|e| damaged(e.to_string()))?
    .map_err(damaged)?;
    let mut sc = Vec::new();
    let mut numbers: Vec<Vec<usize>> = vec![Vec::new(); reported.len()];
    for (n, (k, s, figure)) in pictures.iter().enumerate() {
        let picture = RgbPicture {
            width: figure.width,
            height: figure.height,
            pixels: &figure.pixels,
        };
        let made = secondary_capture(&reported[*k].seen, n, *s, &picture)
            .map_err(|e| damaged(e.to_string()))?;
        sc.push(made);
        numbers[*k].push(n);
    }
    let evidence: Vec<Evidence<'_>> = reported
        .iter()
        .zip(numbers)
        .map(|(r, pictures)| Evidence {
            finding: &r.finding,
            seen: &r.seen,
            pictures,
        })
        .collect();
    let sr = structured_report_of(&ctx, &evidence).map_err(|e| damaged(e.to_string()))?;
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
