//! A phantom dataset on disk: exams in npy, DICOM or NIfTI, and `manifest.csv`.
//!
//! Deterministic for a seed whatever the thread count: labels and splits come from the dataset
//! seed, and each exam from its own seed ([`crate::phantom::exam_seed`]).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::manifest::{DataError, Manifest, ManifestRow};
use crate::phantom::{
    Difficulty, ExamSpec, MeniscalTear, Phantom, Side, TearKind, exam_seed, generate,
};
use crate::provenance::DatasetInfo;
use crate::splits::{HeldOut, STUDY_COUNTS, labels_in_proportion, stratified_splits};
use cruciate_volume::Plane;
use cruciate_volume::dicom::{SeriesInfo, uid_from_seed, write_series};
use cruciate_volume::stats::percentiles;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
    /// Planes acquired besides the sagittal one (always written): coronal, axial.
    pub planes: Vec<Plane>,
    /// Share of exams given a meniscal tear (0 to 1).
    pub meniscal_tears: f64,
    /// Share of exams put in the calib split (taken from the training share; 0: none).
    pub calib: f64,
}

/// Share of MRNet's training exams with a meniscal tear (397 of 1,130): the default of
/// three-plane datasets.
pub const MRNET_MENISCAL_TEARS: f64 = 0.35;

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
            planes: Vec::new(),
            meniscal_tears: 0.0,
            calib: 0.0,
        }
    }
}

/// The meniscal tear of exam `index` of a dataset made with `options` (drawn from the dataset
/// seed, so that the ACL grades and the exams' own draws stay as they are without tears):
/// medial twice as often as lateral, the three shapes alike.
fn meniscal_tear(options: &SynthOptions, index: u64) -> Option<MeniscalTear> {
    let mut rng = ChaCha8Rng::seed_from_u64(exam_seed(options.seed ^ 0x6d65_6e69, index));
    if !rng.random_bool(options.meniscal_tears.clamp(0.0, 1.0)) {
        return None;
    }
    let side = if rng.random_bool(2.0 / 3.0) {
        Side::Medial
    } else {
        Side::Lateral
    };
    let kind = [
        TearKind::Horizontal,
        TearKind::Radial,
        TearKind::BucketHandle,
    ][rng.random_range(0..3usize)];
    Some(MeniscalTear {
        side,
        kind,
        at_mm: rng.random_range(20.0..30.0),
    })
}

/// The exam specifications of a dataset, with their splits (no pixels yet).
pub fn plan(options: &SynthOptions) -> Vec<(ExamSpec, crate::Split)> {
    let weights = match options.balance {
        Balance::Study => STUDY_COUNTS,
        Balance::Equal => [1, 1, 1, 1],
    };
    let labels = labels_in_proportion(options.exams, &weights, options.seed);
    let held_out = HeldOut {
        calib: options.calib,
        ..HeldOut::STUDY
    };
    let splits = stratified_splits(&labels, held_out, options.seed ^ 0x5eed);
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
                meniscal_tear: meniscal_tear(options, i as u64),
                planes: options.planes.clone(),
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
                meniscus: (options.meniscal_tears > 0.0)
                    .then_some(phantom.findings.meniscal_tear.is_some() as u8),
                abnormal: (options.meniscal_tears > 0.0 || !options.planes.is_empty())
                    .then_some(phantom.findings.abnormal() as u8),
                plane: None,
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

/// Writes one exam; returns its path below `dir` as the manifest names it. With several
/// planes: `.npy` files in MRNet's plane folders (the manifest names the sagittal one), a DICOM
/// study folder of one series per plane, or a folder of one NIfTI file per plane.
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
    let several = !phantom.planes.is_empty();
    let series = std::iter::once(&phantom.volume).chain(&phantom.planes);
    match options.format {
        ExamFormat::Npy => {
            // MRNet keeps one folder per plane; the reader takes the plane from that name.
            for volume in series {
                let folder = dir.join(volume.plane.as_str());
                std::fs::create_dir_all(&folder).map_err(io(&folder))?;
                let path = folder.join(format!("{exam_id}.npy"));
                cruciate_volume::npy::write_u8(&path, &to_u8_window(volume)).map_err(io(&path))?;
            }
            Ok(PathBuf::from(format!("sagittal/{exam_id}.npy")))
        }
        ExamFormat::Nifti if several => {
            let folder = dir.join(exam_id);
            std::fs::create_dir_all(&folder).map_err(io(&folder))?;
            for volume in series {
                let path = folder.join(format!("{}.nii.gz", volume.plane));
                cruciate_volume::nifti::write(&path, volume).map_err(io(&path))?;
            }
            Ok(PathBuf::from(exam_id))
        }
        ExamFormat::Nifti => {
            let name = PathBuf::from(format!("{exam_id}.nii.gz"));
            let path = dir.join(&name);
            cruciate_volume::nifti::write(&path, &phantom.volume).map_err(io(&path))?;
            Ok(name)
        }
        ExamFormat::Dicom => {
            for (k, volume) in series.enumerate() {
                let info = SeriesInfo {
                    study_uid: uid_from_seed(seed, 1),
                    series_uid: uid_from_seed(seed, 2 + k as u64),
                    patient_id: format!("PHANTOM-{exam_id}"),
                    patient_name: format!("Phantom^{exam_id}"),
                    description: volume
                        .meta
                        .series_description
                        .clone()
                        .unwrap_or_else(|| "SAG PD FS".into()),
                    manufacturer: "Cruciate phantom (synthetic)".into(),
                    field_strength_t: 1.5,
                };
                let folder = match several {
                    true => dir.join(exam_id).join(volume.plane.as_str()),
                    false => dir.join(exam_id),
                };
                write_series(volume, &folder, &info)
                    .map_err(|e| DataError::Write(e.to_string()))?;
            }
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
