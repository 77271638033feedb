//! DICOM series: from a folder, a zip archive, one file or a list of files, to one volume.
//!
//! Instances are grouped by SeriesInstanceUID. The series read is the one named by
//! [`ReadOptions::series_uid`], else the sagittal one (judged from ImageOrientationPatient;
//! a proton-density fat-suppressed SeriesDescription wins among several), else the largest.
//! Frames (single-frame instances and the frames of multi-frame ones, with positions from the
//! per-frame functional groups) are ordered by position along the slice normal, or by
//! InstanceNumber when positions are missing; RescaleSlope / RescaleIntercept are applied.
//!
//! Transfer syntaxes: implicit and explicit VR little endian, explicit big endian, deflated,
//! RLE lossless, JPEG baseline / extended / lossless (pure Rust), plus JPEG 2000 (feature
//! `jpeg2000`, pure Rust OpenJPEG port) and JPEG-LS (feature `jpegls`, CharLS). Anything else
//! is refused with "unsupported transfer syntax NAME (UID)".

mod archive;
mod instance;
mod pixels;
mod preflight;
mod series;
mod studies;
mod write;

use std::path::{Path, PathBuf};

pub use pixels::{apply_rescale, to_grey};
pub use series::{
    LOCALISER_WORDS, fat_suppressed_description, localiser_word, pd_fs_score, word_among,
};
pub use studies::{FoundStudy, StudyIndex, index_studies};
pub use write::{SeriesInfo, WriteError, uid_from_seed, write_series};

pub(crate) use archive::{folder_files, folder_paths, is_dicom};
pub(crate) use series::{Series, assemble};

use crate::error::{ErrorKind, ReadError, Result};
use crate::geometry::Plane;
use crate::options::ReadOptions;
use crate::study::{Study, StudySeries};
use crate::volume::Volume;
use archive::NamedBytes;
use instance::Instance;

/// The image series of the DICOM instances `named`, grouped by SeriesInstanceUID (decoded when
/// chosen); unreadable files are skipped (and logged) unless none can be read.
pub(crate) fn study_of(named: Vec<NamedBytes>, source: &Path) -> Result<Study> {
    let mut instances = Vec::with_capacity(named.len());
    let mut first_error = None;
    for (path, bytes) in named {
        match Instance::parse(&path, &bytes) {
            Ok(inst) => instances.push(inst),
            // One unreadable file among many is skipped (and logged); if none can be read,
            // the first reason is the answer.
            Err(e) => {
                tracing::warn!("skipped {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    if let (true, Some(e)) = (instances.is_empty(), first_error) {
        return Err(e);
    }
    let study = Study {
        source: source.to_path_buf(),
        series: series::group(instances, source)?
            .into_iter()
            .map(StudySeries::of_dicom)
            .collect(),
    };
    Ok(study)
}

/// Reads the DICOM instances `named` into a study and chooses the series as
/// [`Study::choose`] does by default (sagittal).
fn read_instances(named: Vec<NamedBytes>, source: &Path, options: &ReadOptions) -> Result<Volume> {
    study_of(named, source)?.choose(Plane::Sagittal, options.series_uid.as_deref(), &mut |_| {
        Ok(())
    })
}

/// The DICOM instances of an exam as sent: the DICOM entries of a zip archive, the DICOM files
/// below a folder, or the file itself; each with its name and bytes, under `limits`. Anything
/// else is an empty list.
pub fn instances(path: &Path, limits: &crate::limits::Limits) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    if path.is_dir() {
        return archive::folder_files(path, limits);
    }
    let io = |e| ReadError::new(path, ErrorKind::Io(e));
    // Its head says what it is: a file of another format is not read whole.
    let mut head = Vec::with_capacity(1024);
    {
        use std::io::Read as _;
        std::fs::File::open(path)
            .map_err(io)?
            .take(1024)
            .read_to_end(&mut head)
            .map_err(io)?;
    }
    let sniffed = crate::detect::sniff(&head);
    match sniffed {
        crate::detect::Sniffed::Zip
        | crate::detect::Sniffed::Dicom
        | crate::detect::Sniffed::DicomNoPreamble => {}
        _ => return Ok(Vec::new()),
    }
    let bytes = std::fs::read(path).map_err(io)?;
    match sniffed {
        crate::detect::Sniffed::Zip => archive::zip_entries(path, &bytes, limits),
        _ => Ok(vec![(path.to_path_buf(), bytes)]),
    }
}

/// One DICOM instance's bytes parsed into an object, after the same preflight checks the
/// readers make (declared lengths past the data and runaway nesting are refused before any
/// parser allocates).
pub fn parse_instance(path: &Path, bytes: &[u8]) -> Result<dicom_object::DefaultDicomObject> {
    instance::parse_object(path, bytes)
}

/// Reads the DICOM series in a zip archive held in `bytes`.
pub fn read_zip(path: &Path, bytes: &[u8], options: &ReadOptions) -> Result<Volume> {
    read_instances(
        archive::zip_entries(path, bytes, &options.limits)?,
        path,
        options,
    )
}

/// Reads one DICOM file (single- or multi-frame) held in `bytes`.
pub fn read_single(path: &Path, bytes: Vec<u8>, options: &ReadOptions) -> Result<Volume> {
    read_instances(vec![(path.to_path_buf(), bytes)], path, options)
}

/// Reads a list of DICOM files as one series (or chooses among the series they form).
pub fn read_file_list(paths: &[PathBuf], options: &ReadOptions) -> Result<Volume> {
    let mut named = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| ReadError::new(path, ErrorKind::Io(e)))?;
        named.push((path.clone(), bytes));
    }
    let source = paths
        .first()
        .and_then(|p| p.parent())
        .unwrap_or(Path::new("."));
    read_instances(named, source, options)
}
