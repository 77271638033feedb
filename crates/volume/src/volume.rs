//! The `Volume` type: one exam as f32 voxels with its geometry and provenance.

use serde::{Deserialize, Serialize};

use crate::geometry::{Orientation, Plane};

/// The file format a volume was read from.
///
/// Written by serde as [`Format::as_str`] says (older spellings are still read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A DICOM series (Part 10 files, a folder or a zip of them).
    Dicom,
    /// NIfTI-1 (`.nii`, `.nii.gz`).
    #[serde(rename = "nifti-1", alias = "nifti1")]
    Nifti1,
    /// NIfTI-2.
    #[serde(rename = "nifti-2", alias = "nifti2")]
    Nifti2,
    /// A numpy `.npy` array (MRNet's layout among others).
    Npy,
    /// A KneeMRI `.pck`: a pickled numpy array.
    #[serde(rename = "kneemri-pck", alias = "kneemripickle")]
    KneeMriPickle,
    /// Made in memory (synthetic exams, tests).
    Memory,
}

impl Format {
    /// Whether files of this format say where their voxels lie (spacing and orientation).
    pub fn has_geometry(&self) -> bool {
        matches!(self, Format::Dicom | Format::Nifti1 | Format::Nifti2)
    }

    /// The name printed by `cruciate inspect`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Dicom => "dicom",
            Format::Nifti1 => "nifti-1",
            Format::Nifti2 => "nifti-2",
            Format::Npy => "npy",
            Format::KneeMriPickle => "kneemri-pck",
            Format::Memory => "memory",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The DICOM instance one slice was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceSource {
    /// SOPClassUID.
    pub sop_class_uid: String,
    /// SOPInstanceUID.
    pub sop_instance_uid: String,
    /// The frame within the instance, from 1 (1 for single-frame images).
    pub frame: u32,
}

/// Where a volume came from: what its file says about the acquisition and the patient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMetadata {
    /// The format it was read from.
    pub format: Format,
    /// The path given to the reader.
    pub path: String,
    /// DICOM Modality (`MR`, `CT`...), when known.
    pub modality: Option<String>,
    /// SeriesDescription (DICOM) or `descrip` (NIfTI), when present.
    pub series_description: Option<String>,
    /// Scanner manufacturer, when present.
    pub manufacturer: Option<String>,
    /// True when the file gives no voxel spacing (MRNet's `.npy`, KneeMRI's pickles) and none
    /// was given beside it (a manifest's `spacing` column): `spacing` is then 1 mm each way
    /// by assumption.
    #[serde(default)]
    pub spacing_unknown: bool,
    /// EchoTime in ms (DICOM), when present.
    #[serde(default)]
    pub echo_time_ms: Option<f64>,
    /// RepetitionTime in ms (DICOM), when present.
    #[serde(default)]
    pub repetition_time_ms: Option<f64>,
    /// ScanOptions (DICOM: `FS` for fat saturation, ...), when present.
    #[serde(default)]
    pub scan_options: Option<String>,
    /// Scanner model (DICOM ManufacturerModelName), when present.
    #[serde(default)]
    pub scanner_model: Option<String>,
    /// Magnetic field strength in tesla, when present.
    pub field_strength_t: Option<f64>,
    /// Patient identifier, when present.
    pub patient_id: Option<String>,
    /// Study identifier (DICOM StudyInstanceUID, KneeMRI examId), when present.
    pub study_id: Option<String>,
    /// Series identifier (DICOM SeriesInstanceUID, KneeMRI serieNo), when present.
    pub series_id: Option<String>,
    /// The element type stored in the file (`uint16`, `float32`...).
    pub stored_type: Option<String>,
    /// DICOM: the instance (and frame) each slice came from, in slice order, so that results
    /// can reference the source images.
    pub slice_sources: Vec<SliceSource>,
    /// DICOM FrameOfReferenceUID, when present.
    pub frame_of_reference_uid: Option<String>,
    /// The part of the source exam this volume was cut from (the ACL region a model trained on
    /// regions expects); `None` for a whole exam.
    pub cut_from: Option<RoiBox>,
    /// Things the reader did that a user should know (a 4-D file cut to its first volume,
    /// a series chosen among several, an inverted MONOCHROME1 image).
    pub notes: Vec<String>,
}

impl SourceMetadata {
    /// The scanner in one line ("Siemens Avanto 1.5 T"), from what the headers give;
    /// `None` when they give nothing.
    pub fn scanner(&self) -> Option<String> {
        let parts: Vec<String> = [self.manufacturer.clone(), self.scanner_model.clone()]
            .into_iter()
            .flatten()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .chain(self.field_strength_t.map(|t| format!("{t} T")))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Metadata with only the format and path known.
    pub fn new(format: Format, path: impl Into<String>) -> Self {
        Self {
            format,
            path: path.into(),
            modality: None,
            series_description: None,
            manufacturer: None,
            spacing_unknown: false,
            echo_time_ms: None,
            repetition_time_ms: None,
            scan_options: None,
            scanner_model: None,
            field_strength_t: None,
            patient_id: None,
            study_id: None,
            series_id: None,
            stored_type: None,
            slice_sources: Vec::new(),
            frame_of_reference_uid: None,
            cut_from: None,
            notes: Vec::new(),
        }
    }
}

/// A box of voxels, half-open on each axis: slices `s0..s1`, rows `r0..r1`, columns `c0..c1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoiBox {
    /// First slice.
    pub s0: usize,
    /// One past the last slice.
    pub s1: usize,
    /// First row.
    pub r0: usize,
    /// One past the last row.
    pub r1: usize,
    /// First column.
    pub c0: usize,
    /// One past the last column.
    pub c1: usize,
}

impl RoiBox {
    /// The box cut to a volume of `shape`, or `None` when nothing of it lies inside.
    pub fn clamp_to(&self, shape: [usize; 3]) -> Option<Self> {
        let b = Self {
            s0: self.s0.min(shape[0]),
            s1: self.s1.min(shape[0]),
            r0: self.r0.min(shape[1]),
            r1: self.r1.min(shape[1]),
            c0: self.c0.min(shape[2]),
            c1: self.c1.min(shape[2]),
        };
        (b.s0 < b.s1 && b.r0 < b.r1 && b.c0 < b.c1).then_some(b)
    }

    /// The box's centre slice (rounded down).
    pub fn centre_slice(&self) -> usize {
        (self.s0 + self.s1.saturating_sub(1)) / 2
    }
}

/// One exam: f32 voxels `[slices, rows, cols]` in row-major order, with geometry and provenance.
/// Its serde form is everything but the voxels (which a reader of it gets empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Voxels, slice after slice, each slice row after row.
    #[serde(skip)]
    pub data: Vec<f32>,
    /// `[slices, rows, cols]`.
    pub shape: [usize; 3],
    /// Voxel spacing in mm: `[between slices, between rows, between columns]`.
    pub spacing: [f64; 3],
    /// Place in patient space, when the file says.
    pub orientation: Option<Orientation>,
    /// The acquisition plane.
    pub plane: Plane,
    /// A region of interest known from the source (KneeMRI metadata, synthetic ground truth).
    pub roi: Option<RoiBox>,
    /// Where it came from.
    pub meta: SourceMetadata,
}

impl Volume {
    /// A volume from voxels and shape, with unit spacing and no orientation; `None` when the
    /// voxel count does not match the shape.
    pub fn new(data: Vec<f32>, shape: [usize; 3], meta: SourceMetadata) -> Option<Self> {
        (data.len() == shape.iter().product::<usize>()).then_some(Self {
            data,
            shape,
            spacing: [1.0; 3],
            orientation: None,
            plane: Plane::Unknown,
            roi: None,
            meta,
        })
    }

    /// What a reader should know about the spacing, when the file gives none.
    pub fn spacing_note(&self) -> Option<&'static str> {
        self.meta.spacing_unknown.then_some(
            "voxel spacing unknown: the file carries none, 1 x 1 x 1 mm is assumed \
             (a manifest's spacing column gives it)",
        )
    }

    /// Number of slices.
    pub fn slices(&self) -> usize {
        self.shape[0]
    }

    /// Rows per slice.
    pub fn rows(&self) -> usize {
        self.shape[1]
    }

    /// Columns per slice.
    pub fn cols(&self) -> usize {
        self.shape[2]
    }

    /// The voxels of slice `s` (`rows * cols` values), or `None` past the last slice.
    pub fn slice(&self, s: usize) -> Option<&[f32]> {
        let n = self.shape[1] * self.shape[2];
        self.data.get(s * n..(s + 1) * n)
    }

    /// Sets the orientation and derives the plane from it.
    pub fn with_orientation(mut self, orientation: Orientation) -> Self {
        self.plane = orientation.plane();
        self.orientation = Some(orientation);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_voxel_count_and_slices_index_the_data() {
        let meta = SourceMetadata::new(Format::Memory, "mem");
        assert!(Volume::new(vec![0.0; 5], [1, 2, 3], meta.clone()).is_none());
        let v = Volume::new((0..12).map(|x| x as f32).collect(), [2, 2, 3], meta).unwrap();
        assert_eq!(v.slice(1).unwrap(), &[6., 7., 8., 9., 10., 11.]);
        assert!(v.slice(2).is_none());
    }

    #[test]
    fn formats_are_written_as_inspect_names_them_and_old_spellings_still_read() {
        for format in [
            Format::Dicom,
            Format::Nifti1,
            Format::Nifti2,
            Format::Npy,
            Format::KneeMriPickle,
            Format::Memory,
        ] {
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(json, format!("\"{}\"", format.as_str()));
            assert_eq!(serde_json::from_str::<Format>(&json).unwrap(), format);
        }
        for (old, format) in [
            ("\"nifti1\"", Format::Nifti1),
            ("\"kneemripickle\"", Format::KneeMriPickle),
        ] {
            assert_eq!(serde_json::from_str::<Format>(old).unwrap(), format);
        }
    }

    #[test]
    fn roi_boxes_clamp_to_the_volume() {
        let b = RoiBox {
            s0: 1,
            s1: 9,
            r0: 2,
            r1: 4,
            c0: 0,
            c1: 100,
        };
        let c = b.clamp_to([5, 10, 10]).unwrap();
        assert_eq!((c.s1, c.c1), (5, 10));
        assert_eq!(c.centre_slice(), 2);
        assert!(RoiBox { s0: 7, s1: 9, ..b }.clamp_to([5, 10, 10]).is_none());
    }
}
