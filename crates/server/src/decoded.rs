//! An exam decoded once. The probe of an exam writes the volume it read under
//! `DATA/exams/ID/decoded/`: `volume.f32` (the voxels, little-endian f32, slice after slice) and
//! `volume.json` (the rest of the [`Volume`]: shape, spacing, orientation, where it came from).
//! The analysis reads that folder instead of decoding the upload again, and the analysis
//! folder's `volume.f32`, which the viewer reads one slice at a time, is a hard link to the same
//! file: an exam is decoded once and its voxels written once.
//!
//! For a reading of several planes, the probe keeps each plane's chosen series in a decoded
//! folder of its own, `decoded/PLANE/`, and lists them in `decoded/planes.json`, written last.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cruciate_volume::{Plane, Volume};

use crate::job::JobError;

/// The voxels' file in a decoded folder.
pub const VOXELS: &str = "volume.f32";
/// The description's file; written last, so that its presence says the folder is whole.
pub const HEADER: &str = "volume.json";

/// The list of a study's decoded planes; written last, so that its presence says all are whole.
pub const PLANES: &str = "planes.json";

/// Whether `path` is a whole decoded folder (of one volume, or of a study's planes).
pub fn is_decoded(path: &Path) -> bool {
    path.join(HEADER).is_file() || path.join(PLANES).is_file()
}

/// Writes each of `volumes` (one per plane) as the decoded folder `dir/PLANE`, then the list.
pub fn write_planes(volumes: &[Volume], dir: &Path) -> Result<(), JobError> {
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let list = dir.join(PLANES);
    let _ = std::fs::remove_file(&list);
    for volume in volumes {
        write(volume, &dir.join(volume.plane.as_str()))?;
    }
    let planes: Vec<Plane> = volumes.iter().map(|v| v.plane).collect();
    let json = serde_json::to_vec(&planes).map_err(JobError::internal)?;
    cruciate_volume::atomic::write_atomically(&list, |w| w.write_all(&json))
        .map_err(|e| failed(&list, e))
}

/// The planes of the decoded study `dir`, each with its folder, or `None` when `dir` is not a
/// study's.
pub fn planes(dir: &Path) -> Result<Option<Vec<(Plane, PathBuf)>>, JobError> {
    let list = dir.join(PLANES);
    if !list.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(&list).map_err(|e| failed(&list, e))?;
    let planes: Vec<Plane> = serde_json::from_slice(&text).map_err(|e| failed(&list, e))?;
    Ok(Some(
        planes
            .into_iter()
            .map(|p| (p, dir.join(p.as_str())))
            .collect(),
    ))
}

fn failed(path: &Path, e: impl std::fmt::Display) -> JobError {
    JobError::internal(format!("{}: {e}", path.display()))
}

/// Writes `volume`'s voxels to `path` (atomically, a slice at a time rather than a copy of all).
pub fn write_voxels(volume: &Volume, path: &Path) -> Result<(), JobError> {
    let per_slice = (volume.shape[1] * volume.shape[2]).max(1);
    cruciate_volume::atomic::write_atomically(path, |w| {
        let mut bytes = Vec::with_capacity(per_slice * 4);
        for slice in volume.data.chunks(per_slice) {
            bytes.clear();
            bytes.extend(slice.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&bytes)?;
        }
        Ok(())
    })
    .map_err(|e| failed(path, e))
}

/// Writes `volume` as the decoded folder `dir`.
pub fn write(volume: &Volume, dir: &Path) -> Result<(), JobError> {
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    // A folder left by an earlier try is not whole until its header is written again.
    let header = dir.join(HEADER);
    let _ = std::fs::remove_file(&header);
    write_voxels(volume, &dir.join(VOXELS))?;
    let json = serde_json::to_vec(volume).map_err(JobError::internal)?;
    cruciate_volume::atomic::write_atomically(&header, |w| w.write_all(&json))
        .map_err(|e| failed(&header, e))
}

/// The volume of the decoded folder `dir`.
pub fn read(dir: &Path) -> Result<Volume, JobError> {
    let header = dir.join(HEADER);
    let text = std::fs::read(&header).map_err(|e| failed(&header, e))?;
    let mut volume: Volume = serde_json::from_slice(&text).map_err(|e| failed(&header, e))?;
    let voxels = dir.join(VOXELS);
    let bytes = std::fs::read(&voxels).map_err(|e| failed(&voxels, e))?;
    let count = volume.shape.iter().product::<usize>();
    if bytes.len() != count * 4 {
        return Err(failed(
            &voxels,
            format!("{} bytes for {:?} voxels", bytes.len(), volume.shape),
        ));
    }
    volume.data = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(volume)
}

/// Puts `volume`'s voxels at `target`: a hard link to the decoded folder's file when the
/// volume came from `decoded`, else (or when the link cannot be made) written.
pub fn place_voxels(
    volume: &Volume,
    decoded: Option<&Path>,
    target: &Path,
) -> Result<(), JobError> {
    if let Some(dir) = decoded {
        let _ = std::fs::remove_file(target);
        if std::fs::hard_link(dir.join(VOXELS), target).is_ok() {
            return Ok(());
        }
    }
    write_voxels(volume, target)
}

/// Where the analysis of an exam reads it from: its `decoded` folder when the probe wrote one,
/// else `upload` (exams queued before decoding was kept, the demo exams).
pub fn analysis_input(decoded: PathBuf, upload: Option<PathBuf>) -> Option<PathBuf> {
    if is_decoded(&decoded) {
        Some(decoded)
    } else {
        upload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_volume_reads_back_whole_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32 * 0.5 - 3.0).collect();
        let mut meta = cruciate_volume::SourceMetadata::new(cruciate_volume::Format::Npy, "x");
        meta.series_description = Some("SAG PD FS".into());
        let mut volume = Volume::new(data, [2, 3, 4], meta).unwrap();
        volume.spacing = [3.0, 0.5, 0.5];
        let folder = dir.path().join("decoded");
        assert!(!is_decoded(&folder));
        write(&volume, &folder).unwrap();
        assert!(is_decoded(&folder));
        assert_eq!(read(&folder).unwrap(), volume);
        // The analysis folder's voxels are the same file.
        let target = dir.path().join("volume.f32");
        place_voxels(&volume, Some(&folder), &target).unwrap();
        assert_eq!(
            std::fs::read(&target).unwrap(),
            std::fs::read(folder.join(VOXELS)).unwrap()
        );
        std::fs::write(folder.join(VOXELS), [0u8; 10]).unwrap();
        assert!(read(&folder).is_err());
        assert_eq!(planes(&folder).unwrap(), None);
    }

    #[test]
    fn a_studys_planes_are_decoded_each_in_its_folder_and_listed_last() {
        let dir = tempfile::tempdir().unwrap();
        let volume = |plane: Plane, value: f32| {
            let meta = cruciate_volume::SourceMetadata::new(cruciate_volume::Format::Npy, "x");
            let mut v = Volume::new(vec![value; 2 * 3 * 4], [2, 3, 4], meta).unwrap();
            v.plane = plane;
            v
        };
        let volumes = [volume(Plane::Sagittal, 1.0), volume(Plane::Axial, 2.0)];
        let folder = dir.path().join("decoded");
        write_planes(&volumes, &folder).unwrap();
        assert!(is_decoded(&folder));
        let planes = planes(&folder).unwrap().unwrap();
        assert_eq!(
            planes.iter().map(|p| p.0).collect::<Vec<_>>(),
            [Plane::Sagittal, Plane::Axial]
        );
        assert_eq!(read(&planes[1].1).unwrap(), volumes[1]);
        // Without its list the folder is not whole.
        std::fs::remove_file(folder.join(PLANES)).unwrap();
        assert!(!is_decoded(&folder));
    }
}
