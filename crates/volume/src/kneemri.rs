//! The KneeMRI dataset (Štajduhar et al. 2017): `.pck` volumes and `metadata.csv`.
//!
//! Each volume is a numpy array `[slices, rows, cols]` of 12-bit sagittal PD-FS intensities,
//! pickled whole (see [`crate::pickle`]). `metadata.csv` gives each volume's ACL diagnosis
//! (0 healthy, 1 partial, 2 complete rupture) and a region of interest around the ligament.
//! When a `.pck` is read and a `metadata.csv` beside it lists the file, its ROI, exam and
//! series numbers are attached to the volume.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::elements::{ElementType, RawArray};
use crate::error::{ErrorKind, ReadError, Result};
use crate::geometry::Plane;
use crate::pickle::load_numpy_array;
use crate::volume::{Format, RoiBox, SourceMetadata, Volume};

/// One row of KneeMRI's `metadata.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KneeMriRecord {
    /// Exam number.
    pub exam_id: u64,
    /// Series number within the exam.
    pub serie_no: u64,
    /// ACL diagnosis: 0 healthy, 1 partially injured, 2 completely ruptured.
    pub acl_diagnosis: u8,
    /// 0 left knee, 1 right knee.
    #[serde(rename = "kneeLR")]
    pub knee_lr: u8,
    /// ROI first column.
    pub roi_x: usize,
    /// ROI first row.
    pub roi_y: usize,
    /// ROI first slice.
    pub roi_z: usize,
    /// ROI height in rows.
    pub roi_height: usize,
    /// ROI width in columns.
    pub roi_width: usize,
    /// ROI depth in slices.
    pub roi_depth: usize,
    /// The `.pck` file this row describes.
    pub volume_filename: String,
}

impl KneeMriRecord {
    /// The ROI as a voxel box on the volume.
    pub fn roi(&self) -> RoiBox {
        RoiBox {
            s0: self.roi_z,
            s1: self.roi_z.saturating_add(self.roi_depth),
            r0: self.roi_y,
            r1: self.roi_y.saturating_add(self.roi_height),
            c0: self.roi_x,
            c1: self.roi_x.saturating_add(self.roi_width),
        }
    }
}

/// Reads a KneeMRI `metadata.csv`.
pub fn read_metadata(path: &Path) -> Result<Vec<KneeMriRecord>> {
    let err = |kind| ReadError::new(path, kind);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| err(ErrorKind::invalid(e)))?;
    let mut records = Vec::new();
    for (i, row) in reader.deserialize::<KneeMriRecord>().enumerate() {
        let record = row.map_err(|e| err(ErrorKind::invalid(format!("row {}: {e}", i + 2))))?;
        if record.acl_diagnosis > 2 {
            return Err(err(ErrorKind::invalid(format!(
                "row {}: aclDiagnosis {} is not 0, 1 or 2",
                i + 2,
                record.acl_diagnosis
            ))));
        }
        records.push(record);
    }
    Ok(records)
}

/// Reads a `.pck` volume held in `bytes`; KneeMRI volumes are sagittal.
pub fn read_pck(path: &Path, bytes: &[u8]) -> Result<Volume> {
    let err = |kind| ReadError::new(path, kind);
    let array = load_numpy_array(bytes).map_err(|e| err(ErrorKind::invalid(e)))?;
    let element = ElementType::from_numpy(&array.descr).ok_or_else(|| {
        err(ErrorKind::invalid(format!(
            "dtype {} is not an integer or float type",
            array.descr
        )))
    })?;
    let raw = RawArray {
        shape: &array.shape,
        element,
        fortran_order: array.fortran_order,
        bytes: &array.data,
    };
    let (data, shape) = raw.into_volume_data().map_err(err)?;
    let mut meta = SourceMetadata::new(Format::KneeMriPickle, path.display().to_string());
    meta.stored_type = Some(element.name());
    meta.spacing_unknown = true;
    let mut volume = Volume::new(data, shape, meta)
        .ok_or_else(|| err(ErrorKind::invalid("voxel count does not match the shape")))?;
    volume.plane = Plane::Sagittal;
    volume
        .meta
        .notes
        .push("plane sagittal: every KneeMRI volume is sagittal PD-FS".into());
    attach_metadata(path, &mut volume);
    Ok(volume)
}

fn attach_metadata(path: &Path, volume: &mut Volume) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let csv_path = dir.join("metadata.csv");
    if !csv_path.is_file() {
        return;
    }
    match read_metadata(&csv_path) {
        Ok(records) => {
            if let Some(r) = records.iter().find(|r| r.volume_filename == name) {
                volume.roi = r.roi().clamp_to(volume.shape);
                volume.meta.study_id = Some(r.exam_id.to_string());
                volume.meta.series_id = Some(r.serie_no.to_string());
                volume.meta.notes.push(format!(
                    "metadata.csv: aclDiagnosis {}, {} knee",
                    r.acl_diagnosis,
                    if r.knee_lr == 0 { "left" } else { "right" }
                ));
            }
        }
        Err(e) => volume.meta.notes.push(format!("metadata.csv ignored: {e}")),
    }
}
