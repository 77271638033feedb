//! A manifest row's exam read from disk, with the manifest's ACL box attached to the volume
//! (the reader's own box, such as KneeMRI's metadata.csv, when the manifest has none).

use std::path::PathBuf;

use cruciate_volume::{Plane, ReadError, ReadOptions, Study, Volume};

use crate::manifest::{Manifest, ManifestRow};

/// An exam of a manifest that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("exam {exam_id} ({}): {source}", path.display())]
pub struct ExamError {
    /// The manifest's exam id.
    pub exam_id: String,
    /// Where it was looked for.
    pub path: PathBuf,
    /// Why reading failed.
    pub source: ReadError,
}

/// Reads the exam of `row` (the series of its `plane` where the row names one); its `roi` is
/// the manifest's box, else the reader's; its spacing the manifest's where the file carries
/// none.
pub fn read_exam(manifest: &Manifest, row: &ManifestRow) -> Result<Volume, ExamError> {
    let path = manifest.resolve(row);
    let options = ReadOptions::default();
    let read = match row.plane {
        None => cruciate_volume::read_path(&path, &options),
        Some(plane) => cruciate_volume::read_study(std::slice::from_ref(&path), &options)
            .and_then(|study| study.read_plane(plane)),
    };
    let mut volume = read.map_err(|source| ExamError {
        exam_id: row.exam_id.clone(),
        path,
        source,
    })?;
    volume.roi = row.roi.or(volume.roi);
    if let Some(spacing) = row.spacing.filter(|_| !volume.meta.format.has_geometry()) {
        volume.spacing = spacing;
        volume.meta.spacing_unknown = false;
    }
    Ok(volume)
}

/// Every series of the study of `row`, none decoded: the file or folder it names, and in
/// MRNet's layout (`PLANE/ID.npy`) each plane's file of the case that is there. For models of
/// several planes or findings reading one exam.
pub fn read_exam_study(manifest: &Manifest, row: &ManifestRow) -> Result<Study, ExamError> {
    let path = manifest.resolve(row);
    let planes: Vec<PathBuf> = Plane::ACQUIRED
        .iter()
        .map(|&plane| crate::finding::plane_file(&path, plane))
        .filter(|p| *p != path && p.is_file())
        .collect();
    let mut paths = vec![path.clone()];
    paths.extend(planes);
    cruciate_volume::read_study(&paths, &ReadOptions::default()).map_err(|source| ExamError {
        exam_id: row.exam_id.clone(),
        path,
        source,
    })
}
