//! An analysed exam's results as DICOM: the SR document and the Secondary Capture images of its
//! key slices (a reading's: each finding's, on the series it was seen on), in the exam's
//! original study (re-linked through the pseudonym map when the exam
//! came by DICOM and was de-identified).

use cruciate_dicom_results::sc::RgbPicture;
use cruciate_dicom_results::seg::{
    SegmentKind, Segmentation, SeriesGeometry, attention_frames, box_frames, segmentation,
};
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
    /// The Segmentations: the ACL region where a cascade found one, and each heat map over
    /// the DICOM series it lies on.
    pub seg: Vec<InMemDicomObject>,
}

impl ResultObjects {
    /// Every object, the SR first, as they are sent.
    pub fn into_instances(self) -> Vec<InMemDicomObject> {
        std::iter::once(self.sr)
            .chain(self.seg)
            .chain(self.sc)
            .collect()
    }
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

/// Which study an exam's results are made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InStudy {
    /// The hospital's: re-linked after de-identification (what goes to the PACS and the RIS).
    Original,
    /// The de-identified study Cruciate holds (what its own DICOMweb shows).
    Held,
}

/// The study and series of `exam` as the hospital knows them (re-linked after
/// de-identification when it came by DICOM, unless made `in_study` held), and its slices'
/// instances.
pub(crate) async fn identity(
    store: &Store,
    exam: &ExamRow,
    result: &AnalysisResult,
    in_study: InStudy,
) -> Result<(StudyIdentity, SourceSeries), sqlx::Error> {
    let source = result.exam.dicom.as_ref();
    let stored_study = source.and_then(|s| s.study_uid.clone());
    let original = match (&stored_study, in_study) {
        (Some(uid), InStudy::Original) => store.study_identity(uid).await?,
        _ => None,
    };
    let original = original.and_then(|j| serde_json::from_str::<StudyIdentity>(&j).ok());
    let series = source_series(store, source, original.is_some()).await?;
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
    Ok((study, series))
}

/// A source series as the hospital knows it.
pub(crate) struct SourceSeries {
    /// Its SeriesInstanceUID.
    pub series_uid: Option<String>,
    /// Its FrameOfReferenceUID.
    pub frame_of_reference_uid: Option<String>,
    /// The instance of each slice.
    pub slices: Vec<SliceSource>,
}

/// The series `source` was read from, its frame of reference and its slices' instances, back
/// to the original UIDs where the exam came by DICOM and was de-identified (`relinked`).
async fn source_series(
    store: &Store,
    source: Option<&DicomSource>,
    relinked: bool,
) -> Result<SourceSeries, sqlx::Error> {
    let mut out = SourceSeries {
        series_uid: source.and_then(|s| s.series_uid.clone()),
        frame_of_reference_uid: source.and_then(|s| s.frame_of_reference_uid.clone()),
        slices: source.map(|s| s.slices.clone()).unwrap_or_default(),
    };
    if relinked {
        for s in &mut out.slices {
            s.sop_instance_uid = store.original_uid(&s.sop_instance_uid).await?;
        }
        for uid in [&mut out.series_uid, &mut out.frame_of_reference_uid]
            .into_iter()
            .flatten()
        {
            *uid = store.original_uid(uid).await?;
        }
    }
    Ok(out)
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
    /// Where the series lies, for its segmentations (a DICOM series with its geometry).
    geometry: Option<SeriesGeometry>,
    /// The ACL region the classifier was given, `[s0, s1, r0, r1, c0, c1)`.
    region: Option<[usize; 6]>,
    /// How the heat map was made, where there is one.
    method: Option<String>,
}

/// The findings of `result`: its one call, or each of a reading's on the plane that explains
/// it best (the first plane it used).
async fn reported(
    store: &Store,
    exam: &ExamRow,
    result: &AnalysisResult,
    (ctx, in_study): (&ResultContext, InStudy),
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
            geometry: result.exam.geometry(),
            region: result
                .prediction
                .region
                .map(|b| [b.s0, b.s1, b.r0, b.r1, b.c0, b.c1]),
            method: result.explanation.as_ref().map(|e| e.method.clone()),
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
    let relinked = match (stored_study, in_study) {
        (Some(uid), InStudy::Original) => store.study_identity(uid).await?.is_some(),
        _ => false,
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
        let source = source_series(store, dicom, relinked).await?;
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
                source.series_uid,
                source.frame_of_reference_uid,
                source.slices,
            ),
            view: View {
                plane: Some(plane),
                finding: Some(f.finding),
            },
            geometry: series.exam.geometry(),
            region: None,
            method: explanation.map(|e| e.method.clone()),
            slices: series.exam.shape[0],
            call: format!("{} ({plane})", f.text),
        });
    }
    Ok(out)
}

/// The results of exam `exam` (analysed) as DICOM objects in the hospital's study: for a
/// reading, a measurement group and key-slice pictures per finding.
pub async fn result_objects(
    store: &Store,
    data: &std::path::Path,
    exam: &ExamRow,
) -> Result<ResultObjects, ResultsError> {
    result_objects_in(store, data, exam, InStudy::Original).await
}

/// The results of exam `exam` (analysed) as DICOM objects made `in_study`.
pub async fn result_objects_in(
    store: &Store,
    data: &std::path::Path,
    exam: &ExamRow,
    in_study: InStudy,
) -> Result<ResultObjects, ResultsError> {
    let damaged = |e: String| ResultsError::Damaged(format!("exam {}: {e}", exam.id));
    let text = exam
        .result
        .as_deref()
        .filter(|_| exam.status == crate::store::JobStatus::Done)
        .ok_or_else(|| ResultsError::NotDone(exam.id.clone()))?;
    let result: AnalysisResult = serde_json::from_str(text).map_err(|e| damaged(e.to_string()))?;
    let (study, source) = identity(store, exam, &result, in_study)
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
        // New UIDs derive from it: the held study's results are other objects than the
        // hospital's, with UIDs of their own.
        exam_id: match in_study {
            InStudy::Original => exam.id.clone(),
            InStudy::Held => format!("{}/held", exam.id),
        },
        study,
        source_series_uid: source.series_uid,
        frame_of_reference_uid: source.frame_of_reference_uid,
        slice_sources: source.slices,
        algorithm: Algorithm {
            name: result.model.name.clone(),
            version,
            synthetic: result.model.synthetic,
        },
        notices: result.notices.clone(),
        content_date_time: utc_date_time(exam.finished_ms.unwrap_or(exam.created_ms)),
    };
    let reported = reported(store, exam, &result, (&ctx, in_study))
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
    // Segmentations of DICOM series whose call is shown: the region, and the heat map.
    let heat_maps: Vec<(usize, View, usize)> = reported
        .iter()
        .enumerate()
        .filter(|(_, r)| r.finding.call_shown() && r.geometry.is_some() && r.method.is_some())
        .map(|(k, r)| (k, r.view, r.slices))
        .collect();
    let dir = ExamFiles::new(data, &exam.id).result();
    let synthetic = result.model.synthetic;
    let (pictures, heat_frames) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (k, view, s, caption) in wanted {
            let slice = load_slice(&dir, &result, view, s).map_err(|e| e.to_string())?;
            out.push((k, s, slice.burned_figure(None, &caption, synthetic)));
        }
        let mut heat = Vec::new();
        for (k, view, slices) in heat_maps {
            let mut frames = Vec::new();
            for s in 0..slices {
                let slice = load_slice(&dir, &result, view, s).map_err(|e| e.to_string())?;
                if let Some(h) = slice.heat.filter(|h| h.iter().any(|&v| v > 0)) {
                    frames.push((s, h));
                }
            }
            heat.push((k, frames));
        }
        Ok::<_, String>((out, heat))
    })
    .await
    .map_err(|e| damaged(e.to_string()))?
    .map_err(damaged)?;
    let mut seg = Vec::new();
    let mut segmented: Vec<Vec<SegmentKind>> = vec![Vec::new(); reported.len()];
    let region_frames = reported.iter().enumerate().filter_map(|(k, r)| {
        let geometry = r.geometry.as_ref().filter(|_| r.finding.call_shown())?;
        let frames = box_frames(geometry, r.region?);
        Some((k, SegmentKind::AclRegion, frames))
    });
    let heat = heat_frames.into_iter().flat_map(|(k, frames)| {
        let attention = attention_frames(&frames);
        [
            (k, SegmentKind::HeatMap, frames),
            (k, SegmentKind::AttentionRegion, attention),
        ]
    });
    for (k, kind, frames) in region_frames.collect::<Vec<_>>().into_iter().chain(heat) {
        let r = &reported[k];
        let (Some(geometry), false) = (&r.geometry, frames.is_empty()) else {
            continue;
        };
        let method = match kind {
            SegmentKind::AclRegion => "the cascade's ACL localiser".to_string(),
            SegmentKind::HeatMap | SegmentKind::AttentionRegion => {
                r.method.clone().unwrap_or_default()
            }
        };
        let made = segmentation(
            &r.seen,
            geometry,
            &Segmentation {
                kind,
                finding: r.finding.about,
                method: &method,
                frames,
            },
        );
        // A source the segmentation cannot lie on (no frame of reference) has none.
        if let Ok(made) = made {
            seg.push(made);
            segmented[k].push(kind);
        }
    }
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
        .zip(segmented)
        .map(|((r, pictures), segmentations)| Evidence {
            finding: &r.finding,
            seen: &r.seen,
            pictures,
            segmentations,
        })
        .collect();
    let sr = structured_report_of(&ctx, &evidence).map_err(|e| damaged(e.to_string()))?;
    Ok(ResultObjects { sr, sc, seg })
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
