//! One exam analysed by one model: what an analyser process ([`crate::analyser`]) does for a
//! job. The probe reads the upload under strict limits once and keeps the volume
//! ([`crate::decoded`]); the analysis runs the model on it and writes into its output folder:
//!
//! ```text
//! result.json   the call, the model (name, kind, SHA-256, synthetic or not), the software,
//!               the exam's geometry, the explanation's summary, the "not for diagnostic use"
//!               notice
//! volume.f32    the exam's voxels, little-endian float32, [slices, rows, cols] (a hard
//!               link to the decoded volume's)
//! heat.u8       the explanation's heat over the same voxels, 0..255 (when the model explains)
//! ```
//!
//! A reading of several findings ([`reading`]) also writes each plane's voxels and each
//! finding's heat on each plane:
//!
//! ```text
//! planes/PLANE.f32            the plane's series, as `volume.f32`
//! heat/FINDING-PLANE.u8       the finding's heat over that series
//! ```
//!
//! and its `result.json` holds the calls of every finding; its headline (the ACL's call where
//! the reading has one and it was analysed, else the first finding analysed) fills the fields
//! a one-model result has, so that every consumer of one call (the worklist's columns, reads,
//! drift) works on it unchanged.
//!
//! Running in an analyser process under a memory limit and a timeout, a reader that a crafted
//! file drives into a huge allocation or a crash takes down that process alone.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cruciate_data::Task;
use cruciate_infer::{Classifier, ExplainRequest, Explanation, Gate, InferError, Prediction};
use cruciate_volume::{Format, Limits, Plane, ReadOptions, Volume};
use serde::{Deserialize, Serialize};

pub mod reading;

pub use reading::{FindingResult, PlaneExplanation, PlaneSummary};

use crate::deidentify::{DeidentifiedUpload, deidentify_upload};
use crate::job::{DeidentifyInto, FailureKind, JobError};

/// The notice every result and every image carries.
pub const NOT_FOR_DIAGNOSIS: &str = "Not for diagnostic use.";

/// Results written before the service said whether it knew an exam's spacing.
fn known() -> bool {
    true
}

/// The model behind a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelSummary {
    /// Its name.
    pub name: String,
    /// Its run kind.
    pub kind: String,
    /// Binary or grade.
    #[schema(value_type = String)]
    pub task: Task,
    /// What it reads: the ACL, a meniscal tear or any abnormality (results written before
    /// findings were recorded are of the ACL).
    #[serde(default)]
    #[schema(value_type = String)]
    pub finding: cruciate_data::Finding,
    /// Its file's SHA-256.
    pub hash: Option<String>,
    /// Whether it was trained on synthetic data.
    pub synthetic: bool,
}

/// The exam as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExamSummary {
    /// The format found.
    #[schema(value_type = String)]
    pub format: Format,
    /// `[slices, rows, cols]`.
    pub shape: [usize; 3],
    /// Millimetres per voxel, `[slice, row, col]`.
    pub spacing: [f64; 3],
    /// False when the file gives no spacing (MRNet's `.npy`): `spacing` is then assumed.
    #[serde(default = "known")]
    pub spacing_known: bool,
    /// The acquisition plane.
    #[schema(value_type = String)]
    pub plane: Plane,
    /// The 1st and 99th percentiles of its voxels (the viewer's default window and the scale of
    /// its presets).
    pub intensity_range: [f32; 2],
    /// What the reader decided on the way.
    pub notes: Vec<String>,
    /// Where the slices came from, when the exam was DICOM (results reference them).
    #[serde(default)]
    pub dicom: Option<DicomSource>,
    /// Where the slices lie in the patient, when the headers say (segmentations of the result
    /// are placed by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub orientation: Option<cruciate_volume::Orientation>,
}

/// The DICOM series an exam was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DicomSource {
    /// PatientID as read.
    pub patient_id: Option<String>,
    /// StudyInstanceUID as read.
    pub study_uid: Option<String>,
    /// SeriesInstanceUID as read.
    pub series_uid: Option<String>,
    /// FrameOfReferenceUID as read.
    pub frame_of_reference_uid: Option<String>,
    /// The instance of each slice, in slice order.
    #[schema(value_type = Vec<Object>)]
    pub slices: Vec<cruciate_volume::SliceSource>,
}

impl ExamSummary {
    /// The summary of `volume` as read.
    pub fn of(volume: &Volume) -> Self {
        Self {
            format: volume.meta.format,
            shape: volume.shape,
            spacing: volume.spacing,
            spacing_known: !volume.meta.spacing_unknown,
            plane: volume.plane,
            intensity_range: {
                let w = cruciate_volume::export::Window::from_percentiles(&volume.data);
                [w.centre - w.width / 2.0, w.centre + w.width / 2.0]
            },
            notes: volume
                .meta
                .notes
                .iter()
                .cloned()
                .chain(volume.spacing_note().map(String::from))
                .collect(),
            dicom: DicomSource::of(volume),
            orientation: volume.orientation,
        }
    }

    /// The series' geometry as a segmentation needs it, where its headers gave one.
    pub fn geometry(&self) -> Option<cruciate_dicom_results::seg::SeriesGeometry> {
        let o = self.orientation.as_ref()?;
        let [slices, rows, cols] = self.shape;
        let step = self.spacing[0];
        let positions = (0..slices)
            .map(|k| {
                let d = k as f64 * step;
                [0, 1, 2].map(|i| o.origin[i] + d * o.slice_direction[i])
            })
            .collect();
        let [r, c] = [o.row_direction, o.column_direction];
        Some(cruciate_dicom_results::seg::SeriesGeometry {
            rows,
            cols,
            pixel_spacing: [self.spacing[1], self.spacing[2]],
            slice_spacing: step,
            orientation: [r[0], r[1], r[2], c[0], c[1], c[2]],
            positions,
        })
    }
}

impl DicomSource {
    fn of(volume: &Volume) -> Option<Self> {
        let m = &volume.meta;
        (m.format == cruciate_volume::Format::Dicom).then(|| Self {
            patient_id: m.patient_id.clone(),
            study_uid: m.study_id.clone(),
            series_uid: m.series_id.clone(),
            frame_of_reference_uid: m.frame_of_reference_uid.clone(),
            slices: m.slice_sources.clone(),
        })
    }
}

/// Where the call came from, in brief (the heat map is in `heat.u8`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExplanationSummary {
    /// How it was computed.
    pub method: String,
    /// The class it explains.
    pub target: usize,
    /// The slice with the largest share.
    pub key_slice: usize,
    /// Each slice's share, for the slices the model saw.
    pub slice_importance: Vec<f64>,
}

impl ExplanationSummary {
    /// The summary of `explanation`.
    pub fn of(explanation: &Explanation) -> Self {
        Self {
            method: explanation.method.title().into(),
            target: explanation.target,
            key_slice: explanation.key_slice(),
            slice_importance: explanation.slice_importance.clone(),
        }
    }
}

/// `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnalysisResult {
    /// The grade called, for models of the four grades.
    pub grade: Option<u8>,
    /// The call.
    #[schema(value_type = Object)]
    pub prediction: Prediction,
    /// The model.
    pub model: ModelSummary,
    /// The software that ran it.
    pub software: String,
    /// The exam.
    pub exam: ExamSummary,
    /// The explanation, when the model gives one.
    pub explanation: Option<ExplanationSummary>,
    /// "Not for diagnostic use", and the synthetic-model notice when it applies.
    pub notices: Vec<String>,
    /// A reading's planes, each series as read (empty for one model's result, whose one
    /// series is `exam`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planes: Vec<PlaneSummary>,
    /// A reading's findings, each call with its planes and explanations (empty for one
    /// model's result, whose one call is `prediction`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingResult>,
}

impl AnalysisResult {
    /// The call on `finding` (the headline's by default) in words, as captions read it:
    /// "injured P=0.91", a reading's "meniscal tear 0.912".
    pub fn call_text(&self, finding: Option<cruciate_data::Finding>) -> String {
        match self
            .findings
            .iter()
            .find(|f| Some(f.finding) == finding && f.finding != self.model.finding)
        {
            Some(f) => f.text.clone(),
            None => format!(
                "{} P={:.2}",
                self.prediction.label,
                self.prediction.confidence()
            ),
        }
    }

    /// The call as the worklist's columns hold it.
    pub fn call(&self) -> crate::store::Call {
        crate::store::Call {
            class: self.prediction.class as i64,
            label: self.prediction.label.clone(),
            injured_probability: self.prediction.injured_probability,
        }
    }
}

/// What the probe says of an upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The format found.
    pub format: Format,
    /// `[slices, rows, cols]`.
    pub shape: [usize; 3],
    /// StudyInstanceUID, for a DICOM exam.
    pub study_uid: Option<String>,
    /// The series read's description (DICOM SeriesDescription, NIfTI `descrip`).
    pub series_description: Option<String>,
    /// The upload's DICOM instances as de-identified, when the probe was asked to.
    pub deidentified: Option<DeidentifiedUpload>,
    /// The scanner in one line (Manufacturer, ManufacturerModelName, field strength), when
    /// the headers say: the stream its drift is watched in.
    #[serde(default)]
    pub scanner: Option<String>,
}

/// The limits uploads are read under: tighter than the command line's, so that an analysis
/// stays well inside its memory allowance.
pub fn upload_limits() -> Limits {
    Limits {
        gunzip_bytes: 512 << 20,
        zip_bytes: 512 << 20,
        zip_entries: 5_000,
        folder_files: 5_000,
    }
}

/// Reads an upload under [`upload_limits`], the series chosen with `gate` where given (the
/// most suitable one its rules accept); a volume with values that are not numbers (NaN,
/// infinities) is refused, since every normalisation after it would spread them.
fn read_upload(input: &Path, gate: Option<&Gate>) -> Result<Volume, JobError> {
    let volume = match gate {
        Some(gate) => gate
            .choose(read_upload_study(input)?, None)
            .map_err(JobError::bad_exam)?,
        None => cruciate_volume::read_path(input, &upload_options()).map_err(JobError::bad_exam)?,
    };
    all_numbers(volume, input)
}

/// The reader's options for uploads: the [`upload_limits`].
fn upload_options() -> ReadOptions {
    ReadOptions {
        limits: upload_limits(),
        ..ReadOptions::default()
    }
}

/// Every series of the upload at `input` (none decoded yet), read under [`upload_limits`].
fn read_upload_study(input: &Path) -> Result<cruciate_volume::Study, JobError> {
    cruciate_volume::read_study(&[input.to_path_buf()], &upload_options())
        .map_err(JobError::bad_exam)
}

/// `volume`, refused where any of its voxels is not a number (NaN, infinities).
fn all_numbers(volume: Volume, input: &Path) -> Result<Volume, JobError> {
    let bad = volume.data.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(JobError::bad_exam(format!(
            "{}: {bad} of {} voxels are not numbers (NaN or infinite)",
            input.display(),
            volume.data.len()
        )));
    }
    Ok(volume)
}

/// Reads the upload at `input` and says what it is (or why it cannot be read); keeps the
/// volume read in `decoded` when given; of a study's series, reads the one `gate` chooses
/// where given, or with `plane_gates` (a reading's) one series of each plane the study has,
/// each chosen by its plane's gate and kept under `decoded/PLANE`. With `deidentify`, the upload's DICOM instances are
/// de-identified first and the volume is read from them, so that nothing kept of it (the
/// decoded volume's description included) names the patient.
pub fn probe(
    input: &Path,
    decoded: Option<&Path>,
    deidentify: Option<&DeidentifyInto>,
    gate: Option<&Gate>,
    plane_gates: &[Gate],
) -> Result<Probe, JobError> {
    let deidentified = match deidentify {
        Some(into) => match deidentify_upload(input, &into.deid, &into.out) {
            Ok(done) => Some((done, into.out.as_path())),
            // No DICOM in it: read as it is.
            Err(e) if e.kind == FailureKind::BadExam => {
                let _ = std::fs::remove_dir_all(&into.out);
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let source = deidentified.as_ref().map_or(input, |(_, out)| out);
    let volume = if plane_gates.is_empty() {
        let volume = read_upload(source, gate)?;
        if let Some(dir) = decoded {
            crate::decoded::write(&volume, dir)?;
        }
        volume
    } else {
        let volumes = reading::read_planes(source, plane_gates)?;
        if let Some(dir) = decoded {
            crate::decoded::write_planes(&volumes, dir)?;
        }
        volumes
            .into_iter()
            .next()
            .expect("read_planes gives one or more")
    };
    let meta = volume.meta;
    Ok(Probe {
        scanner: meta.scanner().map(|s| crate::intake::bounded_name(&s)),
        format: meta.format,
        shape: volume.shape,
        study_uid: meta.study_id.filter(|_| meta.format == Format::Dicom),
        series_description: meta
            .series_description
            .map(|d| crate::intake::bounded_name(&d)),
        deidentified: deidentified.map(|(done, _)| done),
    })
}

/// The files of an analysis folder.
pub struct AnalysisFiles {
    /// The folder.
    pub dir: PathBuf,
}

impl AnalysisFiles {
    /// `result.json`.
    pub fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }
    /// `volume.f32`.
    pub fn volume(&self) -> PathBuf {
        self.dir.join("volume.f32")
    }
    /// `heat.u8`.
    pub fn heat(&self) -> PathBuf {
        self.dir.join("heat.u8")
    }
    /// A reading's voxels of `plane`.
    pub fn plane_volume(&self, plane: Plane) -> PathBuf {
        self.dir.join("planes").join(format!("{plane}.f32"))
    }
    /// A reading's heat of `finding` over its series of `plane`.
    pub fn plane_heat(&self, finding: cruciate_data::Finding, plane: Plane) -> PathBuf {
        self.dir
            .join("heat")
            .join(format!("{}-{plane}.u8", finding.name()))
    }
}

/// The heat of `explanation` as `heat.u8` holds it, 0..255 per voxel.
fn heat_bytes(explanation: &Explanation) -> Vec<u8> {
    explanation
        .heat
        .values
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    cruciate_volume::atomic::write_atomically(path, |w| w.write_all(bytes))
        .map_err(|e| JobError::internal(format!("{}: {e}", path.display())))
}

/// Analyses the exam at `input` (its decoded folder, or an upload) with `model` and writes the
/// result into `out`.
pub fn analyse(
    model: &dyn Classifier,
    input: &Path,
    out: &Path,
) -> Result<AnalysisResult, JobError> {
    let decoded = crate::decoded::is_decoded(input).then_some(input);
    let volume = match decoded {
        Some(dir) => crate::decoded::read(dir)?,
        None => read_upload(input, Some(&Gate::for_run(model.info())))?,
    };
    let info = model.info().clone();
    let (prediction, explanation) = match model.explain(&volume, &ExplainRequest::default()) {
        Ok(e) => (e.prediction.clone(), Some(e)),
        Err(InferError::Request(_)) => (model.predict(&volume)?, None),
        Err(e) => return Err(e.into()),
    };
    std::fs::create_dir_all(out)
        .map_err(|e| JobError::internal(format!("{}: {e}", out.display())))?;
    let files = AnalysisFiles {
        dir: out.to_path_buf(),
    };
    crate::decoded::place_voxels(&volume, decoded, &files.volume())?;
    if let Some(e) = &explanation {
        write(&files.heat(), &heat_bytes(e))?;
    }
    let notices = vec![NOT_FOR_DIAGNOSIS.to_string(), info.notice().to_string()];
    let result = AnalysisResult {
        grade: (info.task == Task::Grade).then_some(prediction.class as u8),
        model: ModelSummary {
            name: info.model.name.clone(),
            kind: info.kind.clone(),
            task: info.task,
            finding: info.finding,
            hash: info.model.sha256.clone(),
            synthetic: info.synthetic(),
        },
        software: format!("{} {}", info.software.name, env!("CARGO_PKG_VERSION")),
        exam: ExamSummary::of(&volume),
        explanation: explanation.as_ref().map(ExplanationSummary::of),
        prediction,
        notices,
        planes: Vec::new(),
        findings: Vec::new(),
    };
    write_result(&files, &result)?;
    Ok(result)
}

/// Writes `result.json`, last: its presence says the folder is whole.
fn write_result(files: &AnalysisFiles, result: &AnalysisResult) -> Result<(), JobError> {
    let json = serde_json::to_vec_pretty(result).map_err(JobError::internal)?;
    write(&files.result(), &json)
}
