//! numpy `.npy` arrays: MRNet's exams (uint8 `[slices, 256, 256]`) and any 3-D integer or
//! float array.
//!
//! The header is parsed by `npyz`; the data is converted to f32 by the same code that serves
//! NIfTI and KneeMRI pickles. MRNet keeps one file per plane in folders named `sagittal`,
//! `coronal` and `axial`: the plane is taken from that folder name when present.

use std::io::Cursor;
use std::path::Path;

use crate::elements::{ElementType, RawArray};
use crate::error::{ErrorKind, ReadError, Result};
use crate::geometry::Plane;
use crate::volume::{Format, SourceMetadata, Volume};

/// Reads a `.npy` file held in `bytes`.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Volume> {
    let err = |kind| ReadError::new(path, kind);
    check_header(bytes).map_err(|m| err(ErrorKind::invalid(m)))?;
    let file = npyz::NpyFile::new(Cursor::new(bytes))
        .map_err(|e| err(ErrorKind::invalid(format!("bad npy header: {e}"))))?;
    let descr = match file.dtype() {
        npyz::DType::Plain(ty) => ty.to_string(),
        other => {
            return Err(err(ErrorKind::invalid(format!(
                "structured dtype {} is not an image",
                other.descr()
            ))));
        }
    };
    let element = ElementType::from_numpy(&descr).ok_or_else(|| {
        err(ErrorKind::invalid(format!(
            "dtype {descr} is not an integer or float type"
        )))
    })?;
    let shape = file.shape().to_vec();
    let fortran_order = file.order() == npyz::Order::Fortran;
    let start = file.into_inner().position() as usize;
    let raw = RawArray {
        shape: &shape,
        element,
        fortran_order,
        bytes: &bytes[start..],
    };
    let (data, shape3) = raw.into_volume_data().map_err(err)?;
    let mut meta = SourceMetadata::new(Format::Npy, path.display().to_string());
    meta.stored_type = Some(element.name());
    meta.spacing_unknown = true;
    let mut volume = Volume::new(data, shape3, meta)
        .ok_or_else(|| err(ErrorKind::invalid("voxel count does not match the shape")))?;
    if let Some(plane) = plane_from_folder(path) {
        volume.plane = plane;
        volume
            .meta
            .notes
            .push(format!("plane {plane} taken from the folder name"));
    }
    Ok(volume)
}

/// Refuses headers that are not a flat `{'descr': .., 'fortran_order': .., 'shape': (..)}`
/// before npyz parses them: its Python-literal parser takes exponential time on deeply nested
/// brackets (found by fuzzing), and structured dtypes (lists) are not images anyway.
fn check_header(bytes: &[u8]) -> std::result::Result<(), String> {
    let version = bytes.get(6).copied().ok_or("truncated npy header")?;
    let (len, start): (usize, usize) = match version {
        1 => (
            u16::from_le_bytes([
                bytes.get(8).copied().unwrap_or(0),
                bytes.get(9).copied().unwrap_or(0),
            ]) as usize,
            10,
        ),
        2 | 3 => {
            let b: [u8; 4] = bytes
                .get(8..12)
                .ok_or("truncated npy header")?
                .try_into()
                .map_err(|_| "truncated npy header")?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        v => return Err(format!("npy format version {v} is not 1, 2 or 3")),
    };
    let header = bytes
        .get(start..start.saturating_add(len))
        .ok_or("truncated npy header")?;
    let count = |c: u8| header.iter().filter(|&&b| b == c).count();
    if count(b'[') > 0 || count(b'{') != 1 || count(b'(') > 1 {
        return Err("npy header is not a plain {descr, fortran_order, shape} dictionary (structured dtype?)".into());
    }
    Ok(())
}

/// MRNet's convention: `.../sagittal/0000.npy`.
fn plane_from_folder(path: &Path) -> Option<Plane> {
    let folder = path.parent()?.file_name()?.to_str()?;
    Plane::from_name(folder)
}

/// Writes `volume` as an MRNet-style uint8 `.npy` of shape `[slices, rows, cols]`; values are
/// rounded and clamped to `0..=255` (scale them first).
pub fn write_u8(path: &Path, volume: &Volume) -> std::io::Result<()> {
    let shape = volume.shape.map(|d| d as u64);
    crate::atomic::write_atomically(path, |w| {
        use npyz::WriterBuilder;
        let mut writer = npyz::WriteOptions::<u8>::new()
            .default_dtype()
            .shape(&shape)
            .writer(w)
            .begin_nd()?;
        writer.extend(volume.data.iter().map(|&v| {
            if v.is_finite() {
                v.round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        }))?;
        writer.finish()
    })
}
