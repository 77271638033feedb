//! The studies Cruciate holds, as DICOMweb shows them (QIDO-RS search, WADO-RS retrieve and
//! metadata): each exam's stored instances, de-identified as they were kept (their UIDs are
//! the stored ones; the hospital's identity stays in the database), read from disk on request.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use serde_json::Value;

/// One stored instance: its file and its header (everything before the pixel data).
pub struct Stored {
    /// The file, Part 10.
    pub path: PathBuf,
    /// Its header.
    pub header: DefaultDicomObject,
}

impl Stored {
    /// The instance in file `path`, its header read (up to the pixel data); `None` when the
    /// file is not a DICOM instance.
    pub fn read(path: &Path) -> Option<Self> {
        let header = dicom_object::OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .ok()?;
        Some(Self {
            path: path.to_path_buf(),
            header,
        })
    }

    /// The value of `tag` as text, where the header has one.
    pub fn text(&self, tag: Tag) -> Option<String> {
        self.header
            .element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches('\0').trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Its SeriesInstanceUID.
    pub fn series_uid(&self) -> Option<String> {
        self.text(tags::SERIES_INSTANCE_UID)
    }

    /// Its SOPInstanceUID.
    pub fn instance_uid(&self) -> Option<String> {
        self.text(tags::SOP_INSTANCE_UID)
    }
}

/// The instances stored below folder `upload` (an exam's; a whole study kept for a reading
/// has a folder per series), in path order; files that are not DICOM are passed over.
pub fn stored(upload: &Path) -> Vec<Stored> {
    let mut paths = Vec::new();
    let mut pending = vec![upload.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() => paths.push(path),
                _ => {}
            }
        }
    }
    paths.sort();
    paths.iter().filter_map(|p| Stored::read(p)).collect()
}

/// A frame of an instance could not be given.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The instance has no such frame.
    #[error("frame {0} (the instance has {1})")]
    NoFrame(usize, usize),
    /// Its pixel data is compressed (encapsulated), and frames are given uncompressed only.
    #[error("the instance's pixel data is compressed ({0}); frames are offered uncompressed only")]
    Compressed(String),
    /// The file or its pixel data cannot be read.
    #[error("{0}")]
    Unreadable(String),
}

/// Frames `wanted` (from 1) of the instance in file `path`, each its native pixel bytes.
pub fn frames(path: &Path, wanted: &[usize]) -> Result<Vec<Vec<u8>>, FrameError> {
    let unreadable = |e: &dyn std::fmt::Display| FrameError::Unreadable(e.to_string());
    let obj = dicom_object::open_file(path).map_err(|e| unreadable(&e))?;
    let number = |tag| {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_int::<u32>().ok())
            .map(|v| v as usize)
    };
    let pixel = obj.element(tags::PIXEL_DATA).map_err(|e| unreadable(&e))?;
    if let dicom_core::value::Value::PixelSequence(_) = pixel.value() {
        return Err(FrameError::Compressed(
            obj.meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_string(),
        ));
    }
    let bytes = pixel.to_bytes().map_err(|e| unreadable(&e))?;
    let [rows, cols] = [tags::ROWS, tags::COLUMNS].map(|t| number(t).unwrap_or(0));
    let samples = number(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let bits = number(tags::BITS_ALLOCATED).unwrap_or(16);
    let count = number(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    let size = (rows * cols * samples * bits).div_ceil(8);
    if size == 0 || bytes.len() < size * count {
        return Err(FrameError::Unreadable(format!(
            "{} bytes of pixel data for {count} frames of {size}",
            bytes.len()
        )));
    }
    wanted
        .iter()
        .map(|&f| match f {
            1.. if f <= count => Ok(bytes[(f - 1) * size..f * size].to_vec()),
            _ => Err(FrameError::NoFrame(f, count)),
        })
        .collect()
}

/// Attributes `wanted` copied from `from` where it has them.
fn copied(from: &Stored, wanted: &[Tag], into: &mut InMemDicomObject) {
    for &tag in wanted {
        if let Ok(e) = from.header.element(tag) {
            into.put(e.clone());
        }
    }
}

fn put_text(into: &mut InMemDicomObject, tag: Tag, vr: VR, value: String) {
    into.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn json(obj: &InMemDicomObject) -> Value {
    fixed(dicom_json::to_value(obj).unwrap_or(Value::Null))
}

fn fixed(mut value: Value) -> Value {
    numbers_as_numbers(&mut value);
    value
}

/// DICOM JSON gives IS and DS values as numbers (PS3.18 F.2.3); dicom-json 0.10 writes the
/// text they were read as. Each such value that parses is made a number, at any depth.
fn numbers_as_numbers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let numeric = matches!(map.get("vr").and_then(Value::as_str), Some("IS" | "DS"));
            for (key, v) in map.iter_mut() {
                if numeric && key == "Value" {
                    if let Value::Array(items) = v {
                        for item in items.iter_mut() {
                            let parsed = item.as_str().and_then(|s| s.trim().parse::<f64>().ok());
                            if let Some(n) = parsed {
                                *item = if n.fract() == 0.0 && n.abs() < 9e15 {
                                    Value::from(n as i64)
                                } else {
                                    Value::from(n)
                                };
                            }
                        }
                    }
                } else {
                    numbers_as_numbers(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers_as_numbers),
        _ => {}
    }
}

/// The study-level attributes of `instances` (PS3.18 Table 10.6.3-3), with its retrieve URL.
pub fn study(instances: &[Stored], retrieve: &str) -> Option<Value> {
    let first = instances.first()?;
    let mut obj = InMemDicomObject::new_empty();
    copied(
        first,
        &[
            tags::STUDY_DATE,
            tags::STUDY_TIME,
            tags::ACCESSION_NUMBER,
            tags::PATIENT_NAME,
            tags::PATIENT_ID,
            tags::PATIENT_BIRTH_DATE,
            tags::PATIENT_SEX,
            tags::STUDY_INSTANCE_UID,
            tags::STUDY_ID,
            tags::STUDY_DESCRIPTION,
            tags::REFERRING_PHYSICIAN_NAME,
        ],
        &mut obj,
    );
    let mut modalities: Vec<String> = instances
        .iter()
        .filter_map(|i| i.text(tags::MODALITY))
        .collect();
    modalities.sort();
    modalities.dedup();
    obj.put(DataElement::new(
        tags::MODALITIES_IN_STUDY,
        VR::CS,
        PrimitiveValue::Strs(modalities.into_iter().collect()),
    ));
    let mut series: Vec<String> = instances.iter().filter_map(Stored::series_uid).collect();
    series.sort();
    series.dedup();
    put_text(
        &mut obj,
        tags::NUMBER_OF_STUDY_RELATED_SERIES,
        VR::IS,
        series.len().to_string(),
    );
    put_text(
        &mut obj,
        tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
        VR::IS,
        instances.len().to_string(),
    );
    put_text(&mut obj, tags::RETRIEVE_URL, VR::UR, retrieve.to_string());
    Some(json(&obj))
}

/// The series of `instances`, each with its series-level attributes (PS3.18 Table
/// 10.6.3-4) and its retrieve URL from `retrieve(series_uid)`.
pub fn series(instances: &[Stored], retrieve: impl Fn(&str) -> String) -> Vec<Value> {
    let mut uids: Vec<String> = instances.iter().filter_map(Stored::series_uid).collect();
    uids.dedup();
    uids.iter()
        .filter_map(|uid| {
            let members: Vec<&Stored> = instances
                .iter()
                .filter(|i| i.series_uid().as_deref() == Some(uid))
                .collect();
            let mut obj = InMemDicomObject::new_empty();
            copied(
                members.first()?,
                &[
                    tags::MODALITY,
                    tags::SERIES_DESCRIPTION,
                    tags::SERIES_NUMBER,
                    tags::SERIES_INSTANCE_UID,
                    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
                ],
                &mut obj,
            );
            put_text(
                &mut obj,
                tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
                VR::IS,
                members.len().to_string(),
            );
            put_text(&mut obj, tags::RETRIEVE_URL, VR::UR, retrieve(uid));
            Some(json(&obj))
        })
        .collect()
}

/// The instance-level attributes of `instances` (PS3.18 Table 10.6.3-5).
pub fn instances(instances: &[&Stored], retrieve: impl Fn(&Stored) -> String) -> Vec<Value> {
    instances
        .iter()
        .map(|i| {
            let mut obj = InMemDicomObject::new_empty();
            copied(
                i,
                &[
                    tags::SOP_CLASS_UID,
                    tags::SOP_INSTANCE_UID,
                    tags::INSTANCE_NUMBER,
                    tags::ROWS,
                    tags::COLUMNS,
                    tags::NUMBER_OF_FRAMES,
                    tags::SERIES_INSTANCE_UID,
                    tags::STUDY_INSTANCE_UID,
                ],
                &mut obj,
            );
            put_text(&mut obj, tags::RETRIEVE_URL, VR::UR, retrieve(i));
            json(&obj)
        })
        .collect()
}

/// Each instance's data set in DICOM JSON (WADO-RS metadata): no pixel data, and not the
/// file meta information (group 0002), which belongs to the file, not to the instance.
pub fn metadata(instances: &[&Stored]) -> Vec<Value> {
    instances.iter().map(|i| json(&i.header)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn integer_and_decimal_strings_become_numbers_at_any_depth() {
        let mut v = serde_json::json!({
            "00201208": {"vr": "IS", "Value": ["20"]},
            "00280030": {"vr": "DS", "Value": ["0.5", " 1.25 "]},
            "00080060": {"vr": "CS", "Value": ["MR"]},
            "00081115": {"vr": "SQ", "Value": [{"00200013": {"vr": "IS", "Value": ["7"]}}]}
        });
        super::numbers_as_numbers(&mut v);
        assert_eq!(v["00201208"]["Value"][0], 20);
        assert_eq!(v["00280030"]["Value"], serde_json::json!([0.5, 1.25]));
        assert_eq!(v["00080060"]["Value"][0], "MR");
        assert_eq!(v["00081115"]["Value"][0]["00200013"]["Value"][0], 7);
    }
}
