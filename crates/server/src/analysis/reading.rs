//! One exam read by a reading of several findings (`reading.json`): each finding's plane
//! networks on their planes' series, combined where a finding reads several planes, each
//! network's explanation kept per plane. The probe chooses one series per plane (by the gate of
//! the plane's first network) and keeps it decoded, so that the study is decoded once whatever
//! number of findings read it.

use std::path::Path;

use cruciate_data::{Finding, Task};
use cruciate_infer::{
    Classifier, ExplainRequest, FindingCall, FindingModel, Gate, PlaneReading, Prediction,
    ReadingModel, Verdict,
    gate::{Reason, Rule},
};
use cruciate_volume::{Plane, Study, Volume};
use serde::{Deserialize, Serialize};

use super::{
    AnalysisFiles, AnalysisResult, ExamSummary, ExplanationSummary, ModelSummary,
    NOT_FOR_DIAGNOSIS, all_numbers, heat_bytes, read_upload_study, write, write_result,
};
use crate::job::JobError;

/// One plane's series of a reading's exam, as read (its voxels in `planes/PLANE.f32`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlaneSummary {
    /// The plane.
    #[schema(value_type = String)]
    pub plane: Plane,
    /// Its series as read.
    pub exam: ExamSummary,
}

/// Where one plane network's part in a finding's call came from (its heat in
/// `heat/FINDING-PLANE.u8`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlaneExplanation {
    /// The plane.
    #[schema(value_type = String)]
    pub plane: Plane,
    /// The explanation's method, key slice and shares.
    pub explanation: ExplanationSummary,
    /// The slices the plane's network saw, `[first, end)` (the shares are of these).
    pub slices: [usize; 2],
}

/// One finding of a reading's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FindingResult {
    /// The finding.
    #[schema(value_type = String)]
    pub finding: Finding,
    /// The call in words ("meniscal tear 0.912", "not analysed (axial: no axial series)").
    pub text: String,
    /// The probability, the planes it comes from and each plane's part or why it took none.
    #[schema(value_type = Object)]
    pub call: FindingCall,
    /// Each plane network's explanation, where it explains itself.
    pub explanations: Vec<PlaneExplanation>,
}

impl FindingResult {
    /// Whether the finding was analysed (any plane read and accepted).
    pub fn analysed(&self) -> bool {
        self.call.probability.is_some()
    }
}

/// One series of each plane of `plane_gates` that the upload at `input` holds, chosen by that
/// gate, in the order of the gates; a refusal when it holds none of them.
pub fn read_planes(input: &Path, plane_gates: &[Gate]) -> Result<Vec<Volume>, JobError> {
    let study = read_upload_study(input)?;
    let mut volumes = Vec::new();
    for gate in plane_gates {
        let of_plane = study.of_plane(gate.plane());
        if of_plane.series.is_empty() {
            continue;
        }
        let volume = gate.choose(of_plane, None).map_err(JobError::bad_exam)?;
        volumes.push(all_numbers(volume, input)?);
    }
    if volumes.is_empty() {
        let wanted: Vec<String> = plane_gates.iter().map(|g| g.plane().to_string()).collect();
        let found: Vec<String> = study.planes().iter().map(ToString::to_string).collect();
        return Err(JobError::bad_exam(format!(
            "{}: no {} series to read (the study has {})",
            input.display(),
            wanted.join(", "),
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        )));
    }
    Ok(volumes)
}

/// Each decoded plane's folder.
type DecodedPlanes = Vec<(Plane, std::path::PathBuf)>;

/// The study at `input`: the planes its probe decoded (and their folders), else the upload's
/// series.
fn study_of(input: &Path) -> Result<(Study, Option<DecodedPlanes>), JobError> {
    match crate::decoded::planes(input)? {
        Some(planes) => {
            let volumes = planes
                .iter()
                .map(|(_, dir)| crate::decoded::read(dir))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((Study::of_read(input.to_path_buf(), volumes), Some(planes)))
        }
        None => Ok((read_upload_study(input)?, None)),
    }
}

/// The finding whose call heads the result: the ACL where it was analysed, else the first
/// finding analysed, else (none analysed) the ACL or the first.
fn headline(calls: &[FindingCall]) -> usize {
    let acl = calls.iter().position(|c| c.finding == Finding::Acl);
    let analysed = |i: &usize| calls[*i].probability.is_some();
    acl.filter(analysed)
        .or_else(|| (0..calls.len()).find(analysed))
        .or(acl)
        .unwrap_or(0)
}

/// The headline's one-model prediction: a one-plane finding's own; for a combined finding, a
/// binary call of the combined probability on the slices its headline plane's network saw.
fn headline_prediction(call: &FindingCall, seen: Option<&Prediction>) -> Prediction {
    if let Some(p) = &call.prediction {
        return p.clone();
    }
    let probability = call.probability.unwrap_or(0.0);
    let classes = call.finding.class_names(Task::Binary);
    let class = usize::from(probability >= 0.5);
    let slices = seen.map_or([0, 0], |p| p.slices);
    let verdict = match (call.probability, seen) {
        (Some(_), _) => Verdict::Accepted,
        (None, Some(p)) if !p.verdict.is_accepted() => p.verdict.clone(),
        (None, _) => Verdict::from_reasons(vec![Reason::new(Rule::Plane, call.describe())]),
    };
    Prediction {
        label: classes[class].clone(),
        probabilities: vec![1.0 - probability, probability],
        classes,
        class,
        injured_probability: probability,
        slices,
        strongest_slices: seen
            .map(|p| p.strongest_slices.clone())
            .filter(|s| s.len() == 2)
            .unwrap_or(vec![slices[0]; 2]),
        slice_scores: Vec::new(),
        region: None,
        warnings: Vec::new(),
        verdict,
        uncalibrated: None,
        grade_set: None,
        signals: None,
        features: Vec::new(),
    }
}

/// The signals drift is watched on: those of the drift finding's first plane network
/// ([`cruciate_infer::reading::drift_finding`]), where that plane was read; `None` otherwise
/// (the exam then leaves its stream's window as it was).
fn drift_signals(
    reading: &ReadingModel,
    shown: &[Vec<PlaneReading>],
) -> Option<cruciate_infer::drift::ExamSignals> {
    let i = cruciate_infer::reading::drift_finding(&reading.findings())?;
    let plane = *reading.models()[i].planes().first()?;
    shown[i]
        .iter()
        .find(|r| r.plane == plane)
        .and_then(|r| r.prediction.signals.clone())
}

/// Reads the exam at `input` (its decoded planes, or an upload) with `reading` and writes the
/// result into `out`.
pub fn analyse(
    reading: &ReadingModel,
    name: &str,
    input: &Path,
    out: &Path,
) -> Result<AnalysisResult, JobError> {
    let (study, decoded) = study_of(input)?;
    let (exam, shown) = reading.read_shown(&study, Some(&ExplainRequest::default()))?;
    let files = AnalysisFiles {
        dir: out.to_path_buf(),
    };
    for dir in ["planes", "heat"] {
        let dir = out.join(dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| JobError::internal(format!("{}: {e}", dir.display())))?;
    }
    // Each plane's series once, whichever findings read it.
    let mut planes: Vec<PlaneSummary> = Vec::new();
    for r in shown.iter().flatten() {
        if planes.iter().any(|p| p.plane == r.plane) {
            continue;
        }
        let from = decoded
            .as_ref()
            .and_then(|d| d.iter().find(|(p, _)| *p == r.plane))
            .map(|(_, dir)| dir.as_path());
        crate::decoded::place_voxels(&r.volume, from, &files.plane_volume(r.plane))?;
        planes.push(PlaneSummary {
            plane: r.plane,
            exam: ExamSummary::of(&r.volume),
        });
    }
    let mut findings = Vec::new();
    for (call, readings) in exam.findings.iter().zip(&shown) {
        let mut explanations = Vec::new();
        for r in readings {
            if let Some(e) = &r.explanation {
                write(&files.plane_heat(call.finding, r.plane), &heat_bytes(e))?;
                explanations.push(PlaneExplanation {
                    plane: r.plane,
                    explanation: ExplanationSummary::of(e),
                    slices: r.prediction.slices,
                });
            }
        }
        findings.push(FindingResult {
            finding: call.finding,
            text: call.describe(),
            call: call.clone(),
            explanations,
        });
    }
    let head = headline(&exam.findings);
    let head_call = &exam.findings[head];
    // The headline's plane: the first it used, else the first its networks read.
    let head_shown: Vec<&PlaneReading> = {
        let mut readings: Vec<&PlaneReading> = shown[head].iter().collect();
        readings.sort_by_key(|r| !head_call.planes_used.contains(&r.plane));
        readings
    };
    let head_plane = head_shown
        .first()
        .map(|r| r.plane)
        .or(planes.first().map(|p| p.plane))
        .ok_or_else(|| JobError::bad_exam("no plane of the study could be read"))?;
    let head_volume = shown
        .iter()
        .flatten()
        .find(|r| r.plane == head_plane)
        .map(|r| &r.volume)
        .expect("the headline plane was read");
    let plane_dir = decoded
        .as_ref()
        .and_then(|d| d.iter().find(|(p, _)| *p == head_plane))
        .map(|(_, dir)| dir.as_path());
    crate::decoded::place_voxels(head_volume, plane_dir, &files.volume())?;
    let head_explanation = head_shown
        .first()
        .filter(|r| r.plane == head_plane)
        .and_then(|r| r.explanation.as_ref());
    if let Some(e) = head_explanation {
        write(&files.heat(), &heat_bytes(e))?;
    }
    let mut prediction = headline_prediction(
        head_call,
        shown[head]
            .iter()
            .find(|r| r.plane == head_plane)
            .map(|r| &r.prediction),
    );
    prediction.signals = drift_signals(reading, &shown);
    let task = match &reading.models()[head] {
        FindingModel::Single(model) => model.info().task,
        FindingModel::Combined { .. } => Task::Binary,
    };
    let synthetic = reading.synthetic();
    let result = AnalysisResult {
        grade: (task == Task::Grade).then_some(prediction.class as u8),
        model: ModelSummary {
            name: name.to_string(),
            kind: "reading".into(),
            task,
            finding: head_call.finding,
            hash: None,
            synthetic,
        },
        software: format!("cruciate {}", env!("CARGO_PKG_VERSION")),
        exam: ExamSummary::of(head_volume),
        explanation: head_explanation.map(ExplanationSummary::of),
        prediction,
        notices: vec![NOT_FOR_DIAGNOSIS.to_string(), exam.notice.clone()],
        planes,
        findings,
    };
    write_result(&files, &result)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(finding: Finding, probability: Option<f64>) -> FindingCall {
        FindingCall {
            finding,
            probability,
            planes_used: probability.map_or(Vec::new(), |_| vec![Plane::Sagittal]),
            planes: vec![cruciate_infer::PlaneCall {
                plane: Plane::Axial,
                probability: None,
                not_used: Some("no axial series".into()),
                notes: Vec::new(),
            }],
            prediction: None,
            raised_by: None,
            own_probability: None,
            informed_by: Vec::new(),
        }
    }

    #[test]
    fn the_headline_is_the_acl_where_analysed_else_the_first_analysed() {
        let (a, m, k) = (Finding::Abnormal, Finding::Meniscus, Finding::Acl);
        assert_eq!(
            headline(&[call(a, Some(0.9)), call(k, Some(0.2)), call(m, None)]),
            1
        );
        assert_eq!(
            headline(&[call(a, None), call(k, None), call(m, Some(0.4))]),
            2
        );
        assert_eq!(headline(&[call(a, None), call(k, None)]), 1);
        assert_eq!(headline(&[call(m, None), call(a, None)]), 0);
    }

    #[test]
    fn a_combined_call_heads_as_a_binary_prediction_of_its_finding() {
        let p = headline_prediction(&call(Finding::Meniscus, Some(0.7)), None);
        assert_eq!(p.classes, ["no meniscal tear", "meniscal tear"]);
        assert_eq!((p.class, p.label.as_str()), (1, "meniscal tear"));
        assert!((p.probabilities[0] - 0.3).abs() < 1e-12);
        assert_eq!(p.injured_probability, 0.7);
        assert!(p.verdict.is_accepted());
        // Not analysed: abstained, saying why.
        let p = headline_prediction(&call(Finding::Meniscus, None), None);
        assert!(!p.verdict.is_accepted());
        assert!(p.verdict.summary().contains("no axial series"), "{p:?}");
    }
}
