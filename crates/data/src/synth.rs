//! A phantom dataset on disk: exams in npy, DICOM or NIfTI, and `manifest.csv`.
//!
//! Deterministic for a seed whatever the thread count: labels and splits come from the dataset
//! seed, and each exam from its own seed ([`crate::phantom::exam_seed`]).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::manifest::{DataError, Manifest, ManifestRow};
use crate::phantom::{Difficulty, ExamSpec, Phantom, exam_seed, generate};
use crate::provenance::DatasetInfo;
use crate::splits::{STUDY_COUNTS, labels_in_proportion, stratified_splits};
use cruciate_volume::dicom::{SeriesInfo, uid_from_seed, write_series};
use cruciate_volume::stats::percentiles;

/// The file format exams are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExamFormat {
    /// MRNet layout: uint8 `[slices, rows, cols]` in a `sagittal/` folder, windowed to the
    /// 0.5-99.5 percentiles.
    Npy,
    /// A DICOM MR series per exam (16-bit with rescale, sagittal geometry, SAG PD FS).
    Dicom,
    /// NIfTI-1 `.nii.gz`, float32 scanner units.
    Nifti,
}

/// Class proportions of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// The study's 462 / 88 / 59 / 152.
    Study,
    /// Equal counts per grade.
    Equal,
}

/// Everything `cruciate synth` asks for.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of exams.
    pub exams: usize,
    /// Dataset seed.
    pub seed: u64,
    /// Rows and columns per slice.
    pub size: usize,
    /// Smallest and largest slice count.
    pub slices: (usize, usize),
    /// File format.
    pub format: ExamFormat,
    /// Class proportions.
    pub balance: Balance,
    /// How subtle grades 1 and 2 are.
    pub difficulty: Difficulty,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            exams: 100,
            seed: 0,
            size: 256,
            slices: (24, 36),
            format: ExamFormat::Npy,
            balance: Balance::Study,
            difficulty: Difficulty::Easy,
        }
    }
}

/// The exam specifications of a dataset, with their splits (no pixels yet).
pub fn plan(options: &SynthOptions) -> Vec<(ExamSpec, crate::Split)> {
    let weights = match options.balance {
        Balance::Study => STUDY_COUNTS,
        Balance::Equal => [1, 1, 1, 1],
    };
    let labels = labels_in_proportion(options.exams, &weights, options.seed);
    let splits = stratified_splits(&labels, 0.15, 0.15, options.seed ^ 0x5eed);
    labels
        .iter()
        .zip(splits)
        .enumerate()
        .map(|(i, (&grade, split))| {
            let spec = ExamSpec {
                grade,
                size: options.size,
                slices: options.slices,
                difficulty: options.difficulty,
                seed: exam_seed(options.seed, i as u64),
            };
            (spec, split)
        })
        .collect()
}

/// Generates the dataset into `out` and writes `out/manifest.csv`; `on_exam` is called after
/// each exam is written (from worker threads).
pub fn synthesize(
    out: &Path,
    options: &SynthOptions,
    on_exam: &(dyn Fn() + Sync),
) -> Result<Manifest, DataError> {
    let exams_dir = out.join("exams");
    std::fs::create_dir_all(&exams_dir).map_err(|source| DataError::Io {
        path: exams_dir.clone(),
        source,
    })?;
    let rows = plan(options)
        .into_par_iter()
        .enumerate()
        .map(|(i, (spec, split))| {
            let exam_id = format!("{i:05}");
            let phantom = generate(&spec);
            let relative = write_exam(&exams_dir, &exam_id, &phantom, options, spec.seed)?;
            on_exam();
            Ok(ManifestRow {
                exam_id,
                path: format!("exams/{}", relative.display()),
                label: phantom.grade,
                split,
                roi: Some(phantom.roi),
                patient: None,
                spacing: Some(phantom.volume.spacing),
                side: None,
            })
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    let manifest = Manifest {
        root: out.to_path_buf(),
        rows,
    };
    manifest.write(&out.join("manifest.csv"))?;
    DatasetInfo {
        synthetic: true,
        source: format!(
            "cruciate synth: {} exams, seed {}, {}x{} px, {}..{} slices, {:?} balance, {:?} difficulty",
            options.exams,
            options.seed,
            options.size,
            options.size,
            options.slices.0,
            options.slices.1,
            options.balance,
            options.difficulty
        )
        .to_lowercase(),
    }
    .write(out)?;
    Ok(manifest)
}

fn write_exam(
    dir: &Path,
    exam_id: &str,
    phantom: &Phantom,
    options: &SynthOptions,
    seed: u64,
) -> Result<PathBuf, DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    match options.format {
        ExamFormat::Npy => {
            // MRNet keeps one folder per plane; the reader takes the plane from that name.
            let name = PathBuf::from(format!("sagittal/{exam_id}.npy"));
            let path = dir.join(&name);
            std::fs::create_dir_all(dir.join("sagittal")).map_err(io(&dir.join("sagittal")))?;
            cruciate_volume::npy::write_u8(&path, &to_u8_window(&phantom.volume))
                .map_err(io(&path))?;
            Ok(name)
        }
        ExamFormat::Nifti => {
            let name = PathBuf::from(format!("{exam_id}.nii.gz"));
            let path = dir.join(&name);
            cruciate_volume::nifti::write(&path, &phantom.volume).map_err(io(&path))?;
            Ok(name)
        }
        ExamFormat::Dicom => {
            let info = SeriesInfo {
                study_uid: uid_from_seed(seed, 1),
                series_uid: uid_from_seed(seed, 2),
                patient_id: format!("PHANTOM-{exam_id}"),
                patient_name: format!("Phantom^{exam_id}"),
                description: "SAG PD FS".into(),
                manufacturer: "Cruciate phantom (synthetic)".into(),
                field_strength_t: 1.5,
            };
            write_series(&phantom.volume, &dir.join(exam_id), &info)
                .map_err(|e| DataError::Write(e.to_string()))?;
            Ok(PathBuf::from(exam_id))
        }
    }
}

/// The volume windowed to its 0.5-99.5 percentiles and scaled to 0..255, as MRNet's files are.
pub fn to_u8_window(volume: &cruciate_volume::Volume) -> cruciate_volume::Volume {
    let [lo, hi] = percentiles(&volume.data, [0.5, 99.5]).unwrap_or([0.0, 1.0]);
    let range = (hi - lo).max(f32::EPSILON);
    let mut out = volume.clone();
    out.data
        .iter_mut()
        .for_each(|v| *v = ((*v - lo) / range * 255.0).round().clamp(0.0, 255.0));
    out
}
