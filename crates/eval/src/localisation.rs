//! A localiser scored on a manifest split: each exam's box found (or the reason none was)
//! against the manifest's box, the summary (mean 3-D IoU, centres within 5 mm, slice hits), and
//! a picture of true and found boxes on a few exams; `report.json` and `report.html`.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use cruciate_data::{Manifest, Split, read_exam};
use cruciate_infer::{Localiser, Progress};
use cruciate_volume::export::{Window, slice_image};
use cruciate_volume::{RoiBox, Volume};
use serde::Serialize;

use crate::EvalError;
use crate::metrics::{LocalisationScores, LocalisationSummary, LocalisedExam};
use crate::report::{Image, Page, Table};
use cruciate_volume::heat::RgbImage;

/// The distance within which a found centre counts as right, mm (the study's target).
pub const CENTRE_TOLERANCE_MM: f64 = 5.0;

/// Exams drawn in the report.
const PICTURES: usize = 6;

/// What `report.json` holds for a localiser.
#[derive(Debug, Clone, Serialize)]
pub struct LocalisationReport {
    /// The localiser's name.
    pub model: String,
    /// The split scored.
    pub split: Split,
    /// Whether it was trained on synthetic data.
    pub synthetic_model: bool,
    /// The summary.
    pub summary: LocalisationSummary,
    /// Seconds per exam (reading excluded).
    pub seconds_per_exam: f64,
    /// Every exam.
    pub exams: Vec<LocalisedExam>,
}

/// A localiser's evaluation and its pictures.
pub struct LocalisationEvaluation {
    /// The report.
    pub report: LocalisationReport,
    pictures: Vec<Image>,
}

fn draw(exam: &Volume, truth: RoiBox, found: Option<RoiBox>, caption: &str) -> Option<Image> {
    let slice = ((truth.s0 + truth.s1) / 2).min(exam.slices().checked_sub(1)?);
    let grey = slice_image(exam, slice, Window::from_percentiles(&exam.data))?;
    let mut img = RgbImage {
        width: grey.width,
        height: grey.height,
        pixels: grey.pixels.iter().flat_map(|&g| [g, g, g]).collect(),
    };
    let rect = |b: RoiBox| (b.c0, b.r0, b.c1 - b.c0, b.r1 - b.r0);
    img.outline(rect(truth), [40, 200, 60], 2);
    if let Some(f) = found {
        img.outline(rect(f), [230, 50, 40], 2);
    }
    Some(Image {
        caption: caption.to_string(),
        png: img.to_png().ok()?,
    })
}

/// Scores `localiser` on the exams of `split` that have a box.
pub fn evaluate_localiser(
    localiser: &dyn Localiser,
    manifest: &Manifest,
    split: Split,
    progress: &dyn Progress,
) -> Result<LocalisationEvaluation, EvalError> {
    let rows: Vec<_> = manifest.split(split).filter(|r| r.roi.is_some()).collect();
    if rows.is_empty() {
        return Err(EvalError::Request(format!(
            "the manifest has no {split} exams with an ACL box (roi column)"
        )));
    }
    let mut scores = LocalisationScores::default();
    let mut pictures = Vec::new();
    let mut seconds = 0.0;
    progress.start("localising", Some(rows.len() as u64));
    for (done, row) in rows.into_iter().enumerate() {
        let exam = read_exam(manifest, row)?;
        let Some(truth) = exam.roi.and_then(|b| b.clamp_to(exam.shape)) else {
            continue;
        };
        let started = Instant::now();
        let found = localiser.locate(&exam).map_err(|e| e.to_string());
        seconds += started.elapsed().as_secs_f64();
        let scored = LocalisedExam::score(&row.exam_id, truth, found, exam.spacing);
        if pictures.len() < PICTURES {
            let caption = format!(
                "exam {}: true box green, found {} (IoU {:.2})",
                row.exam_id,
                if scored.found.is_some() {
                    "red"
                } else {
                    "none"
                },
                scored.iou
            );
            pictures.extend(draw(&exam, truth, scored.found, &caption));
        }
        scores.push(scored);
        progress.set(done as u64 + 1);
    }
    progress.finish();
    let summary = scores
        .summary(CENTRE_TOLERANCE_MM)
        .ok_or_else(|| EvalError::Request("no exam could be scored".into()))?;
    let n = summary.exams as f64;
    Ok(LocalisationEvaluation {
        report: LocalisationReport {
            model: localiser.info().model.name.clone(),
            split,
            synthetic_model: localiser.info().synthetic(),
            seconds_per_exam: seconds / n,
            summary,
            exams: scores.exams().to_vec(),
        },
        pictures,
    })
}

impl LocalisationEvaluation {
    /// Writes `report.json` and `report.html` into `out`.
    pub fn write(&self, out: &Path) -> Result<(), EvalError> {
        std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
        let r = &self.report;
        let s = &r.summary;
        let f = |v: f64| format!("{v:.3}");
        let mut notes = Vec::new();
        if r.synthetic_model {
            notes.push("Localiser trained on synthetic phantoms: synthetic results, not clinical performance.".into());
        }
        let summary = Table {
            heading: "Summary".into(),
            header: vec![
                "exams".into(),
                "not found".into(),
                "mean IoU".into(),
                "median IoU".into(),
                format!("centre within {} mm", s.within_mm),
                "mean centre distance (mm)".into(),
                "slice hits".into(),
                "s / exam".into(),
            ],
            rows: vec![vec![
                s.exams.to_string(),
                s.not_found.to_string(),
                f(s.mean_iou),
                f(s.median_iou),
                f(s.centre_within),
                s.mean_centre_mm.map_or("n/a".into(), |d| format!("{d:.2}")),
                f(s.slice_hit_rate),
                format!("{:.3}", r.seconds_per_exam),
            ]],
        };
        let missed = Table {
            heading: "Exams without a plausible box".into(),
            header: vec!["exam".into(), "reason".into()],
            rows: r
                .exams
                .iter()
                .filter_map(|e| {
                    e.reason
                        .as_ref()
                        .map(|why| vec![e.exam_id.clone(), why.clone()])
                })
                .collect(),
        };
        let page = Page {
            title: format!(
                "Cruciate localisation: {} on the {} split",
                r.model, r.split
            ),
            notes,
            tables: vec![summary, missed],
            figures: Vec::new(),
            images_heading:
                "True (green) and found (red) boxes on the central slice of the true box".into(),
            images: self.pictures.clone(),
        };
        let json = serde_json::to_string_pretty(&self.report).expect("report serialises");
        for (name, body) in [("report.json", json), ("report.html", page.to_html())] {
            let path = out.join(name);
            cruciate_volume::atomic::write_atomically(&path, |w| w.write_all(body.as_bytes()))
                .map_err(|e| EvalError::io(&path, e))?;
        }
        Ok(())
    }
}
