//! Pixel data of one instance decoded to grey f32 frames, rescaled to modality values.

use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_pixeldata::{
    ConvertOptions, DecodedPixelData, ModalityLutOption, PhotometricInterpretation, PixelDecoder,
    PixelRepresentation,
};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::instance::{Instance, guarded, one_line};
use crate::elements::{ElementKind, ElementType};
use crate::error::{ErrorKind, ReadError, Result};

/// Explicit VR big endian (retired, still found in archives).
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// One instance's frames, each `rows * cols` grey values.
pub(crate) struct DecodedFrames {
    pub frames: Vec<Vec<f32>>,
    /// The instance is MONOCHROME1 (low values display white).
    pub monochrome1: bool,
    /// The colour model, when the instance was colour and was turned to grey.
    pub colour: Option<String>,
}

/// Fails with "unsupported transfer syntax NAME (UID)" when no enabled decoder reads it.
pub(crate) fn check_transfer_syntax(inst: &Instance) -> Result<()> {
    let uid = inst
        .obj
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' ']);
    let unsupported = |name: &str| {
        ReadError::new(
            &inst.path,
            ErrorKind::UnsupportedTransferSyntax {
                name: name.to_string(),
                uid: uid.to_string(),
            },
        )
    };
    match TransferSyntaxRegistry.get(uid) {
        None => Err(unsupported("unknown")),
        Some(ts) if !ts.can_decode_all() => Err(unsupported(ts.name())),
        Some(_) => Ok(()),
    }
}

/// RLE Lossless.
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Refuses RLE frames whose header declares more than the 15 segments the standard allows:
/// dicom-rs sizes a buffer from that count before checking it (found by fuzzing).
fn check_rle_headers(inst: &Instance) -> Result<()> {
    let fragments = inst
        .obj
        .get(dicom_dictionary_std::tags::PIXEL_DATA)
        .and_then(|e| e.value().fragments());
    for fragment in fragments.unwrap_or_default() {
        let Some(head) = fragment.get(..4) else {
            continue;
        };
        let segments = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if segments > 15 {
            return Err(ReadError::new(
                &inst.path,
                ErrorKind::invalid(format!(
                    "RLE frame declares {segments} segments; at most 15 are allowed"
                )),
            ));
        }
    }
    Ok(())
}

/// Decodes every frame of `inst`.
pub(crate) fn decode(inst: &Instance) -> Result<DecodedFrames> {
    check_transfer_syntax(inst)?;
    if inst
        .obj
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        == RLE_LOSSLESS
    {
        check_rle_headers(inst)?;
    }
    let err = |message: String| ReadError::new(&inst.path, ErrorKind::invalid(message));
    guarded(&inst.path, "pixel decoder", || {
        let decoded = inst
            .obj
            .decode_pixel_data()
            .map_err(|e| err(format!("cannot decode pixel data: {}", one_line(&e))))?;
        let ts_uid = inst
            .obj
            .meta()
            .transfer_syntax()
            .trim_end_matches(['\0', ' ']);
        let options = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
        // dicom-pixeldata converts 8- and 16-bit interleaved samples; 32-bit values and planar
        // colour in little-endian files are read from the decoded bytes here.
        let values: Vec<f32> = match decoded.to_vec_with_options(&options) {
            Ok(values) => values,
            Err(e) => raw_values(&decoded, ts_uid == EXPLICIT_VR_BIG_ENDIAN)
                .ok_or_else(|| err(format!("cannot convert pixel data: {}", one_line(&e))))?,
        };
        let (rows, cols) = (decoded.rows() as usize, decoded.columns() as usize);
        let samples = decoded.samples_per_pixel().max(1) as usize;
        let frame_len = rows * cols * samples;
        let frames = decoded.number_of_frames() as usize;
        if frame_len == 0 || values.len() < frame_len * frames {
            return Err(ReadError::new(
                &inst.path,
                ErrorKind::Truncated(format!(
                    "pixel data holds {} values, {frames} frames of {rows}x{cols}x{samples} need {}",
                    values.len(),
                    frame_len * frames
                )),
            ));
        }
        let photometric = decoded.photometric_interpretation().clone();
        let planar = decoded.planar_configuration() as u8 == 1;
        let luma_first = photometric.as_str().starts_with("YBR");
        let rescales = decoded.rescale().map(|r| r.to_vec()).unwrap_or_default();
        let out = values
            .chunks_exact(frame_len)
            .take(frames)
            .enumerate()
            .map(|(f, raw)| {
                let mut grey = to_grey(raw, samples, planar, luma_first);
                if let Some(r) = rescales.get(f).or(rescales.first()) {
                    apply_rescale(&mut grey, r.slope, r.intercept);
                }
                grey
            })
            .collect();
        Ok(DecodedFrames {
            frames: out,
            monochrome1: photometric == PhotometricInterpretation::Monochrome1,
            colour: (samples > 1).then(|| photometric.as_str().to_string()),
        })
    })
}

/// Stored values straight from the decoded bytes, for the little-endian layouts that
/// `DecodedPixelData::to_vec` refuses (32-bit values, planar colour).
fn raw_values(decoded: &DecodedPixelData, big_endian_file: bool) -> Option<Vec<f32>> {
    if big_endian_file {
        return None;
    }
    let bytes = decoded.data();
    let signed = decoded.pixel_representation() == PixelRepresentation::Signed;
    let kind = if signed {
        ElementKind::Int
    } else {
        ElementKind::Uint
    };
    let element = match decoded.bits_allocated() {
        bits @ (8 | 16 | 32) => ElementType::new(kind, bits as usize / 8, false)?,
        _ => return None,
    };
    element.decode(bytes, bytes.len() / element.bytes)
}

/// Modality values from stored values: `v * slope + intercept` (DICOM's Rescale Slope and
/// Intercept). A zero or non-finite slope is treated as absent.
pub fn apply_rescale(values: &mut [f32], slope: f64, intercept: f64) {
    if !slope.is_finite() || slope == 0.0 || !intercept.is_finite() {
        return;
    }
    if slope == 1.0 && intercept == 0.0 {
        return;
    }
    for v in values {
        *v = (*v as f64 * slope + intercept) as f32;
    }
}

/// One grey value per pixel: the value itself for one sample, the Y channel for YBR colour,
/// Rec. 601 luma for RGB; interleaved or planar samples.
pub fn to_grey(raw: &[f32], samples: usize, planar: bool, luma_first: bool) -> Vec<f32> {
    if samples == 1 {
        return raw.to_vec();
    }
    let pixels = raw.len() / samples;
    let sample = |p: usize, s: usize| {
        if planar {
            raw[s * pixels + p]
        } else {
            raw[p * samples + s]
        }
    };
    (0..pixels)
        .map(|p| {
            if luma_first || samples < 3 {
                sample(p, 0)
            } else {
                0.299 * sample(p, 0) + 0.587 * sample(p, 1) + 0.114 * sample(p, 2)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_applies_slope_and_intercept() {
        let mut v = vec![0.0, 10.0, 100.0];
        apply_rescale(&mut v, 2.0, -1024.0);
        assert_eq!(v, vec![-1024.0, -1004.0, -824.0]);
        let mut w = vec![5.0];
        apply_rescale(&mut w, 0.0, 7.0);
        assert_eq!(w, vec![5.0], "a zero slope is treated as absent");
        apply_rescale(&mut w, f64::NAN, 0.0);
        assert_eq!(w, vec![5.0]);
    }

    #[test]
    fn colour_samples_become_grey() {
        let interleaved = [255.0, 0.0, 0.0, 0.0, 255.0, 0.0];
        let grey = to_grey(&interleaved, 3, false, false);
        assert!((grey[0] - 76.245).abs() < 1e-3 && (grey[1] - 149.685).abs() < 1e-3);
        let planar = [255.0, 0.0, 0.0, 255.0, 0.0, 0.0];
        assert_eq!(to_grey(&planar, 3, true, false), grey);
        assert_eq!(to_grey(&[9.0, 1.0, 2.0], 3, false, true), vec![9.0]);
        assert_eq!(to_grey(&[1.0, 2.0], 1, false, false), vec![1.0, 2.0]);
    }
}
