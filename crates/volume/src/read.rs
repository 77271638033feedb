//! One entry point that reads any supported exam, picking the reader by content.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::detect::{Sniffed, sniff};
use crate::error::{ErrorKind, ReadError, Result};
use crate::options::ReadOptions;
use crate::volume::Volume;
use crate::{dicom, kneemri, nifti, npy};

/// Reads the exam at `path`: a DICOM folder (or a folder of volume files, one per plane), a
/// zip of DICOM files, or one file of any supported format; of several series, the reader's
/// choice ([`crate::Study::choose`], sagittal first).
pub fn read_path(path: &Path, options: &ReadOptions) -> Result<Volume> {
    if path.is_dir() {
        return crate::read_study(&[path.to_path_buf()], options)?.choose(
            crate::Plane::Sagittal,
            options.series_uid.as_deref(),
            &mut |_| Ok(()),
        );
    }
    let bytes = std::fs::read(path).map_err(|e| ReadError::new(path, ErrorKind::Io(e)))?;
    read_bytes(path, bytes, options)
}

/// Reads several files as one DICOM series (or, for a single path, as [`read_path`] does).
pub fn read_paths(paths: &[PathBuf], options: &ReadOptions) -> Result<Volume> {
    match paths {
        [] => Err(ReadError::new(
            "",
            ErrorKind::Empty("no input files given".into()),
        )),
        [one] => read_path(one, options),
        many => dicom::read_file_list(many, options),
    }
}

/// Reads an exam held in memory; `path` is used for messages and the format hint only.
pub fn read_bytes(path: &Path, bytes: Vec<u8>, options: &ReadOptions) -> Result<Volume> {
    let kind = sniff(&bytes);
    match kind {
        Sniffed::Gzip => {
            let inner = gunzip(path, &bytes, options.limits.gunzip_bytes)?;
            match sniff(&inner) {
                Sniffed::Gzip | Sniffed::Zip => Err(ReadError::new(
                    path,
                    ErrorKind::UnknownFormat("a gzip stream wrapping another archive".into()),
                )),
                _ => read_bytes(path, inner, options),
            }
        }
        Sniffed::Zip => dicom::read_zip(path, &bytes, options),
        Sniffed::Dicom | Sniffed::DicomNoPreamble => dicom::read_single(path, bytes, options),
        Sniffed::Nifti1 | Sniffed::Nifti2 => nifti::read(path, &bytes),
        Sniffed::Analyze => Err(ReadError::new(
            path,
            ErrorKind::NotAnImage(
                "an Analyze 7.5 header without NIfTI magic: convert it to NIfTI (.nii)".into(),
            ),
        )),
        Sniffed::Npy => npy::read(path, &bytes),
        Sniffed::Pickle => kneemri::read_pck(path, &bytes),
        Sniffed::Png | Sniffed::Jpeg | Sniffed::Unknown => Err(unrecognised(path, &bytes, kind)),
    }
}

fn unrecognised(path: &Path, bytes: &[u8], kind: Sniffed) -> ReadError {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let claimed = match ext.as_str() {
        "dcm" | "dicom" | "ima" => Some("DICOM"),
        "nii" | "gz" | "hdr" => Some("NIfTI"),
        "npy" => Some("numpy"),
        "pck" | "pkl" | "pickle" => Some("pickle"),
        _ => None,
    };
    let what = if bytes.is_empty() {
        "an empty file"
    } else {
        kind.describe()
    };
    let message = match claimed {
        Some(format) => format!("named .{ext} but holds {what}, not {format} content"),
        None => format!("{what}, not a medical volume"),
    };
    ReadError::new(path, ErrorKind::UnknownFormat(message))
}

fn gunzip(path: &Path, bytes: &[u8], limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(limit + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        ReadError::new(
            path,
            ErrorKind::Truncated(format!("gzip stream is damaged: {e}")),
        )
    })?;
    if out.len() as u64 > limit {
        return Err(ReadError::new(
            path,
            ErrorKind::Limit(format!("gzip expands past {limit} bytes")),
        ));
    }
    Ok(out)
}
