//! The DICOM studies below a folder: which files hold which study, so that a folder of many
//! studies (a PACS export, a research archive) can become one exam per study. Files are read
//! one at a time, so the folder may be far larger than memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;

use super::archive::{folder_paths, is_dicom};
use super::instance::Instance;
use crate::error::{ErrorKind, ReadError, Result};
use crate::limits::Limits;

/// One study found below the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundStudy {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// AccessionNumber, when the files carry one.
    pub accession: Option<String>,
    /// PatientID, when the files carry one.
    pub patient_id: Option<String>,
    /// The deepest folder holding every one of its image files.
    pub folder: PathBuf,
    /// Its image files.
    pub files: Vec<PathBuf>,
    /// Its series (SeriesInstanceUID), each with its file count.
    pub series: BTreeMap<String, usize>,
}

/// What was found below a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyIndex {
    /// The studies, by StudyInstanceUID.
    pub studies: Vec<FoundStudy>,
    /// Files that are not part of any study, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The deepest folder that holds every path of `files` (all below `root`).
fn common_folder(files: &[PathBuf], root: &Path) -> PathBuf {
    let mut folder = files
        .first()
        .and_then(|f| f.parent())
        .unwrap_or(root)
        .to_path_buf();
    while !files.iter().all(|f| f.starts_with(&folder)) && folder.starts_with(root) {
        if !folder.pop() {
            break;
        }
    }
    folder
}

/// Indexes the image files below `root` by study, reading each once.
pub fn index_studies(root: &Path, limits: &Limits) -> Result<StudyIndex> {
    if !root.is_dir() {
        return Err(ReadError::new(
            root,
            ErrorKind::Empty("not a folder".into()),
        ));
    }
    let mut index = StudyIndex::default();
    let mut by_uid: BTreeMap<String, FoundStudy> = BTreeMap::new();
    for path in folder_paths(root, limits)? {
        let bytes = std::fs::read(&path).map_err(|e| ReadError::new(&path, ErrorKind::Io(e)))?;
        if !is_dicom(&bytes) {
            index.skipped.push((path, "not a DICOM file".into()));
            continue;
        }
        let instance = match Instance::parse(&path, &bytes) {
            Ok(i) => i,
            Err(e) => {
                index.skipped.push((path, e.kind.to_string()));
                continue;
            }
        };
        if !instance.has_pixels() {
            let why = instance.why_not_an_image();
            index.skipped.push((path, why));
            continue;
        }
        let Some(uid) = instance.text(tags::STUDY_INSTANCE_UID) else {
            index.skipped.push((path, "no StudyInstanceUID".into()));
            continue;
        };
        let study = by_uid.entry(uid.clone()).or_insert_with(|| FoundStudy {
            study_uid: uid,
            accession: None,
            patient_id: None,
            folder: PathBuf::new(),
            files: Vec::new(),
            series: BTreeMap::new(),
        });
        study.accession = study
            .accession
            .take()
            .or_else(|| instance.text(tags::ACCESSION_NUMBER));
        study.patient_id = study
            .patient_id
            .take()
            .or_else(|| instance.text(tags::PATIENT_ID));
        let series = instance
            .series_uid
            .clone()
            .unwrap_or_else(|| "(no SeriesInstanceUID)".into());
        *study.series.entry(series).or_default() += 1;
        study.files.push(path);
    }
    index.studies = by_uid
        .into_values()
        .map(|mut s| {
            s.folder = common_folder(&s.files, root);
            s
        })
        .collect();
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_folder_is_the_deepest_one_holding_every_file() {
        let root = Path::new("/data");
        let files = [
            PathBuf::from("/data/p1/s1/a/1.dcm"),
            PathBuf::from("/data/p1/s1/b/2.dcm"),
        ];
        assert_eq!(common_folder(&files, root), PathBuf::from("/data/p1/s1"));
        assert_eq!(
            common_folder(&files[..1], root),
            PathBuf::from("/data/p1/s1/a")
        );
        let apart = [
            PathBuf::from("/data/x/1.dcm"),
            PathBuf::from("/data/y/2.dcm"),
        ];
        assert_eq!(common_folder(&apart, root), PathBuf::from("/data"));
    }
}
