//! One DICOM instance parsed from bytes, with the attributes series assembly needs.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::preflight;
use crate::detect::{Sniffed, sniff};
use crate::error::{ErrorKind, ReadError, Result};

/// SOP Class of a DICOMDIR (Media Storage Directory Storage).
const DICOMDIR_CLASS: &str = "1.2.840.10008.1.3.10";
/// SOP Classes of Structured Report documents start with this.
const SR_CLASS_PREFIX: &str = "1.2.840.10008.5.1.4.1.1.88";

/// A parsed instance and what it says about its place in a series.
#[derive(Clone)]
pub(crate) struct Instance {
    pub path: PathBuf,
    pub obj: DefaultDicomObject,
    pub series_uid: Option<String>,
    pub instance_number: Option<i64>,
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub orientation: Option<[f64; 6]>,
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_gap: Option<f64>,
    /// ImagePositionPatient of each frame, when known.
    pub positions: Vec<Option<[f64; 3]>>,
}

/// Joins an error and its sources into one line.
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let message = s.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

/// Runs third-party decoding code, turning a panic on malformed input into an error.
pub(crate) fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(ReadError::new(
            path,
            ErrorKind::invalid(format!("{what} failed on malformed data")),
        ))
    })
}

impl Instance {
    /// Parses a Part 10 file or a bare data set (no preamble, no meta group).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let obj = guarded(path, "DICOM parser", || parse_object(path, bytes))?;
        Ok(Self::from_object(path, obj))
    }

    fn from_object(path: &Path, obj: DefaultDicomObject) -> Self {
        let shared = first_item(&obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
        let per_frame = obj
            .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|e| e.items())
            .unwrap_or(&[]);
        let first_frame = per_frame.first();
        let in_groups = |seq: Tag, tag: Tag| {
            [shared, first_frame]
                .into_iter()
                .flatten()
                .find_map(|g| first_item(g, seq).and_then(|item| floats(item, tag)))
        };
        let orientation = floats(&obj, tags::IMAGE_ORIENTATION_PATIENT)
            .or_else(|| {
                in_groups(
                    tags::PLANE_ORIENTATION_SEQUENCE,
                    tags::IMAGE_ORIENTATION_PATIENT,
                )
            })
            .and_then(|v| v.try_into().ok());
        let measure =
            |tag| floats(&obj, tag).or_else(|| in_groups(tags::PIXEL_MEASURES_SEQUENCE, tag));
        let pixel_spacing = measure(tags::PIXEL_SPACING)
            .and_then(|v| <[f64; 2]>::try_from(v).ok())
            .filter(|s| s.iter().all(|x| x.is_finite() && *x > 0.0));
        let slice_gap = measure(tags::SPACING_BETWEEN_SLICES)
            .or_else(|| measure(tags::SLICE_THICKNESS))
            .and_then(|v| v.first().copied())
            .filter(|x| x.is_finite() && *x > 0.0);
        let frames = int(&obj, tags::NUMBER_OF_FRAMES)
            .unwrap_or(1)
            .clamp(1, u32::MAX as i64) as u32;
        let own_position =
            floats(&obj, tags::IMAGE_POSITION_PATIENT).and_then(|v| v.try_into().ok());
        let positions = (0..frames as usize)
            .map(|f| {
                per_frame
                    .get(f)
                    .and_then(|g| first_item(g, tags::PLANE_POSITION_SEQUENCE))
                    .and_then(|p| floats(p, tags::IMAGE_POSITION_PATIENT))
                    .and_then(|v| v.try_into().ok())
                    .or(if frames == 1 { own_position } else { None })
            })
            .collect();
        Self {
            path: path.to_path_buf(),
            series_uid: text(&obj, tags::SERIES_INSTANCE_UID),
            instance_number: int(&obj, tags::INSTANCE_NUMBER),
            rows: int(&obj, tags::ROWS).unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            cols: int(&obj, tags::COLUMNS)
                .unwrap_or(0)
                .clamp(0, u32::MAX as i64) as u32,
            frames,
            orientation,
            pixel_spacing,
            slice_gap,
            positions,
            obj,
        }
    }

    /// True when the instance carries an image.
    pub fn has_pixels(&self) -> bool {
        self.obj.get(tags::PIXEL_DATA).is_some() && self.rows > 0 && self.cols > 0
    }

    /// Why this instance is not an image (for messages).
    pub fn why_not_an_image(&self) -> String {
        let class = self
            .obj
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches('\0');
        let modality = text(&self.obj, tags::MODALITY).unwrap_or_else(|| "none".into());
        if class == DICOMDIR_CLASS {
            "a DICOMDIR (media index), not an image: give the folder that holds the images".into()
        } else if class.starts_with(SR_CLASS_PREFIX) || modality == "SR" {
            "a DICOM Structured Report (SR document), not an image".into()
        } else if self.obj.get(tags::PIXEL_DATA).is_none() {
            let class = if class.is_empty() { "unknown" } else { class };
            format!("no pixel data (Modality {modality}, SOP class {class})")
        } else {
            format!("image without Rows/Columns (Modality {modality})")
        }
    }

    /// A text attribute of the instance.
    pub fn text(&self, tag: Tag) -> Option<String> {
        text(&self.obj, tag)
    }

    /// A numeric attribute of the instance.
    pub fn number(&self, tag: Tag) -> Option<f64> {
        floats(&self.obj, tag).and_then(|v| v.first().copied())
    }
}

/// A parser error as a read error; running out of bytes is reported as truncation.
fn parse_error(path: &Path, e: &dyn std::error::Error) -> ReadError {
    let message = one_line(e);
    let short = [
        "failed to fill whole buffer",
        "Premature",
        "UnexpectedEof",
        "unexpected end",
    ];
    if short.iter().any(|s| message.contains(s)) {
        ReadError::new(path, ErrorKind::Truncated(message))
    } else {
        ReadError::new(path, ErrorKind::Invalid(message))
    }
}

pub(crate) fn parse_object(path: &Path, bytes: &[u8]) -> Result<DefaultDicomObject> {
    let err = |e: &dyn std::error::Error| parse_error(path, e);
    let refuse = |kind: ErrorKind| ReadError::new(path, kind);
    match sniff(bytes) {
        Sniffed::Dicom => {
            preflight::check(bytes.get(132..).unwrap_or_default(), None).map_err(refuse)?;
            OpenFileOptions::new()
                .read_preamble(ReadPreamble::Never)
                .from_reader(&bytes[128..])
                .map_err(|e| err(&e))
        }
        Sniffed::DicomNoPreamble => parse_bare(path, bytes),
        other => Err(ReadError::new(
            path,
            ErrorKind::UnknownFormat(format!("{}, not DICOM", other.describe())),
        )),
    }
}

/// A data set with no meta group: bare group 0002 first (a meta group without preamble), or
/// group 0008 onwards in a transfer syntax guessed from the first element.
fn parse_bare(path: &Path, bytes: &[u8]) -> Result<DefaultDicomObject> {
    let err = |e: &dyn std::error::Error| parse_error(path, e);
    let group_le = u16::from_le_bytes([bytes[0], bytes[1]]);
    let refuse = |kind: ErrorKind| ReadError::new(path, kind);
    if group_le == 0x0002 {
        preflight::check(bytes, None).map_err(refuse)?;
        return OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .from_reader(bytes)
            .map_err(|e| err(&e));
    }
    let explicit = bytes
        .get(4..6)
        .is_some_and(|vr| vr.iter().all(u8::is_ascii_uppercase));
    let big_endian = group_le != 0x0008;
    let ts_uid = match (explicit, big_endian) {
        (true, true) => "1.2.840.10008.1.2.2", // explicit VR big endian (retired, still met)
        (true, false) => uids::EXPLICIT_VR_LITTLE_ENDIAN,
        (false, _) => uids::IMPLICIT_VR_LITTLE_ENDIAN,
    };
    preflight::check(bytes, Some(ts_uid)).map_err(refuse)?;
    let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| {
        ReadError::new(
            path,
            ErrorKind::invalid("transfer syntax registry lacks the basic syntaxes"),
        )
    })?;
    let dataset =
        InMemDicomObject::read_dataset_with_ts(Cursor::new(bytes), ts).map_err(|e| err(&e))?;
    dataset
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(ts_uid)
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("2.25.0"),
        )
        .map_err(|e| err(&e))
}

fn first_item(obj: &InMemDicomObject, seq: Tag) -> Option<&InMemDicomObject> {
    obj.get(seq)?.items()?.first()
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = obj.get(tag)?.to_str().ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_string())
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let v = obj.get(tag)?.to_multi_float64().ok()?;
    (!v.is_empty() && v.iter().all(|x| x.is_finite())).then_some(v)
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.get(tag)?.to_int::<i64>().ok()
}
