//! Where DICOM instances come from: folders walked recursively and zip archives, both with
//! limits on what they may expand to.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use crate::detect::{Sniffed, sniff};
use crate::error::{ErrorKind, ReadError, Result};
use crate::limits::Limits;

/// A DICOM file's name and bytes.
pub(crate) type NamedBytes = (PathBuf, Vec<u8>);

pub(crate) fn is_dicom(bytes: &[u8]) -> bool {
    matches!(sniff(bytes), Sniffed::Dicom | Sniffed::DicomNoPreamble)
}

/// Every file below `root`, in path order; at most `limits.folder_files`.
pub(crate) fn folder_paths(root: &Path, limits: &Limits) -> Result<Vec<PathBuf>> {
    let mut pending = vec![root.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| ReadError::new(&dir, ErrorKind::Io(e)))?;
        for entry in entries {
            let entry = entry.map_err(|e| ReadError::new(&dir, ErrorKind::Io(e)))?;
            let kind = entry
                .file_type()
                .map_err(|e| ReadError::new(entry.path(), ErrorKind::Io(e)))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                paths.push(entry.path());
            }
            if paths.len() > limits.folder_files {
                return Err(ReadError::new(
                    root,
                    ErrorKind::Limit(format!(
                        "more than {} files below the folder",
                        limits.folder_files
                    )),
                ));
            }
        }
    }
    paths.sort();
    Ok(paths)
}

/// Every DICOM file below `root` (others are skipped), in path order.
pub(crate) fn folder_files(root: &Path, limits: &Limits) -> Result<Vec<NamedBytes>> {
    let mut out = Vec::new();
    for path in folder_paths(root, limits)? {
        let bytes = std::fs::read(&path).map_err(|e| ReadError::new(&path, ErrorKind::Io(e)))?;
        if is_dicom(&bytes) {
            out.push((path, bytes));
        } else {
            tracing::debug!(path = %path.display(), "skipped: not DICOM");
        }
    }
    Ok(out)
}

/// Every DICOM entry of the zip archive in `bytes`, named `archive.zip!entry`.
pub(crate) fn zip_entries(path: &Path, bytes: &[u8], limits: &Limits) -> Result<Vec<NamedBytes>> {
    let err = |kind| ReadError::new(path, kind);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| err(ErrorKind::invalid(format!("bad zip archive: {e}"))))?;
    if archive.is_empty() {
        return Err(err(ErrorKind::Empty("empty zip archive".into())));
    }
    if archive.len() > limits.zip_entries {
        return Err(err(ErrorKind::Limit(format!(
            "zip archive has {} entries, more than {}",
            archive.len(),
            limits.zip_entries
        ))));
    }
    let mut budget = limits.zip_bytes;
    let too_big = || {
        err(ErrorKind::Limit(format!(
            "zip archive expands past {} bytes",
            limits.zip_bytes
        )))
    };
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| err(ErrorKind::invalid(format!("zip entry {i}: {e}"))))?;
        if !entry.is_file() {
            continue;
        }
        if entry.size() > budget {
            return Err(too_big());
        }
        let entry_name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("entry{i}"));
        let name = PathBuf::from(format!("{}!{entry_name}", path.display()));
        let mut data = Vec::new();
        (&mut entry)
            .take(budget + 1)
            .read_to_end(&mut data)
            .map_err(|e| ReadError::new(&name, ErrorKind::invalid(format!("cannot unzip: {e}"))))?;
        if data.len() as u64 > budget {
            return Err(too_big());
        }
        budget -= data.len() as u64;
        if is_dicom(&data) {
            out.push((name, data));
        }
    }
    if out.is_empty() {
        return Err(err(ErrorKind::Empty(format!(
            "zip archive holds no DICOM files ({} entries)",
            archive.len()
        ))));
    }
    Ok(out)
}
