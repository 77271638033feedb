//! Writing a volume as a DICOM MR series: one Part 10 file per slice, explicit VR little
//! endian, 16-bit unsigned pixels with RescaleSlope / RescaleIntercept carrying the f32 range.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use super::instance::one_line;
use crate::atomic::write_atomically;
use crate::geometry::{Orientation, default_sagittal};
use crate::volume::Volume;

/// Identity and description of the series to write.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// SeriesInstanceUID; instance UIDs are made from it.
    pub series_uid: String,
    /// PatientID.
    pub patient_id: String,
    /// PatientName.
    pub patient_name: String,
    /// SeriesDescription (`SAG PD FS` for the study's sequence).
    pub description: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// MagneticFieldStrength in tesla.
    pub field_strength_t: f64,
}

/// Why a series could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct WriteError {
    /// The file being written.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// A DICOM UID under the `2.25` root (a UUID as a decimal number) derived from `seed`, so that
/// the same inputs give the same UIDs.
pub fn uid_from_seed(seed: u64, salt: u64) -> String {
    // SplitMix64 twice: 128 well-mixed bits from (seed, salt).
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let hi = mix(seed ^ mix(salt));
    let lo = mix(hi ^ salt.rotate_left(17));
    format!("2.25.{}", ((hi as u128) << 64 | lo as u128) >> 1)
}

/// Writes `volume` into `dir` as `IM0001.dcm`, `IM0002.dcm`, ... and returns the paths.
pub fn write_series(
    volume: &Volume,
    dir: &Path,
    info: &SeriesInfo,
) -> Result<Vec<PathBuf>, WriteError> {
    let fail = |path: &Path, message: String| WriteError {
        path: path.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    let o = volume.orientation.unwrap_or_else(default_sagittal);
    let (lo, hi) = volume
        .data
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let (lo, hi) = if lo > hi {
        (0.0, 0.0)
    } else {
        (lo as f64, hi as f64)
    };
    let slope = if hi > lo { (hi - lo) / 65535.0 } else { 1.0 };
    let mut paths = Vec::with_capacity(volume.slices());
    for s in 0..volume.slices() {
        let path = dir.join(format!("IM{:04}.dcm", s + 1));
        let slice = volume.slice(s).expect("s < slices");
        let pixels: Vec<u16> = slice
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    ((v as f64 - lo) / slope).round().clamp(0.0, 65535.0) as u16
                } else {
                    0
                }
            })
            .collect();
        let step = volume.spacing[0] * s as f64;
        let position: Vec<f64> = (0..3)
            .map(|a| o.origin[a] + o.slice_direction[a] * step)
            .collect();
        let obj = slice_object(volume, info, s, &o, &position, pixels, (slope, lo));
        let file = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .map_err(|e| fail(&path, one_line(&e)))?;
        write_atomically(&path, |w| file.write_all(w).map_err(std::io::Error::other))
            .map_err(|e| fail(&path, e.to_string()))?;
        paths.push(path);
    }
    Ok(paths)
}

fn slice_object(
    volume: &Volume,
    info: &SeriesInfo,
    s: usize,
    o: &Orientation,
    position: &[f64],
    pixels: Vec<u16>,
    (slope, intercept): (f64, f64),
) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    let ds = |v: f64| {
        format!("{:.6}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    };
    let ds_multi = |vs: &[f64]| vs.iter().map(|&v| ds(v)).collect::<Vec<_>>().join("\\");
    let iop: Vec<f64> = o
        .row_direction
        .iter()
        .chain(&o.column_direction)
        .copied()
        .collect();
    put(tags::SOP_CLASS_UID, VR::UI, uids::MR_IMAGE_STORAGE.into());
    put(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        format!("{}.{}", info.series_uid, s + 1).into(),
    );
    put(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        info.study_uid.clone().into(),
    );
    put(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        info.series_uid.clone().into(),
    );
    put(
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        format!("{}.0", info.study_uid).into(),
    );
    put(tags::MODALITY, VR::CS, "MR".into());
    put(tags::PATIENT_ID, VR::LO, info.patient_id.clone().into());
    put(tags::PATIENT_NAME, VR::PN, info.patient_name.clone().into());
    put(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        info.description.clone().into(),
    );
    put(tags::MANUFACTURER, VR::LO, info.manufacturer.clone().into());
    put(
        tags::MAGNETIC_FIELD_STRENGTH,
        VR::DS,
        ds(info.field_strength_t).into(),
    );
    put(tags::SERIES_NUMBER, VR::IS, "1".into());
    // What the MR Image IOD requires (PS3.3 C.7.1.1, C.7.2.1, C.7.3.1, C.7.4.1, C.8.3.1): a
    // synthetic exam describes itself as the study's sequence, a 2-D turbo spin echo with fat
    // saturation; unknown Type 2 values stay empty.
    put(tags::PATIENT_BIRTH_DATE, VR::DA, PrimitiveValue::Empty);
    put(tags::PATIENT_SEX, VR::CS, "O".into());
    put(tags::STUDY_DATE, VR::DA, "20260101".into());
    put(tags::STUDY_TIME, VR::TM, "120000".into());
    put(
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        PrimitiveValue::Empty,
    );
    put(tags::STUDY_ID, VR::SH, "1".into());
    put(tags::ACCESSION_NUMBER, VR::SH, PrimitiveValue::Empty);
    put(tags::LATERALITY, VR::CS, "R".into());
    put(tags::PATIENT_POSITION, VR::CS, "FFS".into());
    put(tags::BODY_PART_EXAMINED, VR::CS, "KNEE".into());
    put(
        tags::POSITION_REFERENCE_INDICATOR,
        VR::LO,
        PrimitiveValue::Empty,
    );
    put(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\OTHER".into());
    put(tags::SCANNING_SEQUENCE, VR::CS, "SE".into());
    put(tags::SEQUENCE_VARIANT, VR::CS, "SK\\SP".into());
    put(tags::SCAN_OPTIONS, VR::CS, "FS".into());
    put(tags::MR_ACQUISITION_TYPE, VR::CS, "2D".into());
    put(tags::REPETITION_TIME, VR::DS, "3000".into());
    put(tags::ECHO_TIME, VR::DS, "30".into());
    put(tags::ECHO_TRAIN_LENGTH, VR::IS, "8".into());
    put(tags::INSTANCE_NUMBER, VR::IS, (s + 1).to_string().into());
    put(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        ds_multi(&iop).into(),
    );
    put(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ds_multi(position).into(),
    );
    put(tags::SLICE_THICKNESS, VR::DS, ds(volume.spacing[0]).into());
    put(
        tags::SPACING_BETWEEN_SLICES,
        VR::DS,
        ds(volume.spacing[0]).into(),
    );
    put(
        tags::PIXEL_SPACING,
        VR::DS,
        ds_multi(&volume.spacing[1..]).into(),
    );
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2".into(),
    );
    put(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(volume.rows() as u16),
    );
    put(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(volume.cols() as u16),
    );
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    put(tags::RESCALE_SLOPE, VR::DS, format!("{slope:.10e}").into());
    put(
        tags::RESCALE_INTERCEPT,
        VR::DS,
        format!("{intercept:.10e}").into(),
    );
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into()));
    obj
}
