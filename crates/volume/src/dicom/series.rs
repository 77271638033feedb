//! Grouping instances into series, choosing the series to read, and stacking its frames.

use std::collections::BTreeMap;

use dicom_dictionary_std::tags;

use super::instance::Instance;
use super::pixels::decode;
use crate::error::{ErrorKind, ReadError, Result};
use crate::geometry::{Orientation, Plane, cross, median_gap, order_along};
use crate::volume::{Format, SliceSource, SourceMetadata, Volume};

/// Instances that share a SeriesInstanceUID.
#[derive(Clone)]
pub(crate) struct Series {
    pub uid: String,
    pub instances: Vec<Instance>,
}

impl Series {
    fn first(&self) -> &Instance {
        &self.instances[0]
    }

    /// SeriesDescription.
    pub fn description(&self) -> Option<String> {
        self.first().text(tags::SERIES_DESCRIPTION)
    }

    /// Frames in all its instances: the slices it will have.
    pub fn frame_count(&self) -> usize {
        self.instances.iter().map(|i| i.frames as usize).sum()
    }

    /// Rows and columns of its first instance.
    pub fn size(&self) -> [usize; 2] {
        [self.first().rows as usize, self.first().cols as usize]
    }

    /// Modality.
    pub fn modality(&self) -> Option<String> {
        self.first().text(tags::MODALITY)
    }

    fn orientation(&self) -> Option<Orientation> {
        let first = self.first();
        Orientation::from_dicom(first.orientation?, [0.0; 3])
    }

    /// The plane from ImageOrientationPatient.
    pub fn plane(&self) -> Plane {
        self.orientation().map_or(Plane::Unknown, |o| o.plane())
    }
}

/// Words of a SeriesDescription that mark a localiser or survey: a series no model reads (the
/// input gate's default list too).
pub const LOCALISER_WORDS: [&str; 9] = [
    "loc",
    "localizer",
    "localiser",
    "scout",
    "survey",
    "3-plane",
    "3plane",
    "tripilot",
    "calibration",
];

/// The first word of `description` (lowercase; letters, digits and `-`) that is one of
/// `words`.
pub fn word_among(description: &str, words: &[impl AsRef<str>]) -> Option<String> {
    description
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_ascii_lowercase)
        .find(|w| words.iter().any(|x| x.as_ref() == w))
}

/// The localiser word of `description`, when it names one.
pub fn localiser_word(description: &str) -> Option<String> {
    word_among(description, &LOCALISER_WORDS)
}

/// Whether a series description names fat suppression (FS, FAT SAT, SPAIR, SPIR, ...).
pub fn fat_suppressed_description(description: &str) -> bool {
    let d = description.to_ascii_uppercase();
    d.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "FS")
        || [
            "FATSAT", "FAT SAT", "SPAIR", "SPIR", "STIR", "FS_", "_FS", "FATSUP",
        ]
        .iter()
        .any(|m| d.contains(m))
}

/// How well a series description matches a proton-density fat-suppressed sequence.
pub fn pd_fs_score(description: &str) -> u32 {
    let d = description.to_ascii_uppercase();
    let words: Vec<&str> = d.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |w: &str| words.contains(&w);
    let pd = has("PD") || d.contains("PROTON") || d.contains("PDW") || d.contains("PD_");
    let fs = fat_suppressed_description(description);
    2 * pd as u32 + fs as u32
}

/// Groups image instances by SeriesInstanceUID; fails with the reason when none is an image.
pub(crate) fn group(instances: Vec<Instance>, source: &std::path::Path) -> Result<Vec<Series>> {
    let total = instances.len();
    let mut refusal = None;
    let mut by_uid: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for inst in instances {
        if !inst.has_pixels() {
            refusal.get_or_insert_with(|| (inst.path.clone(), inst.why_not_an_image()));
            continue;
        }
        let uid = inst
            .series_uid
            .clone()
            .unwrap_or_else(|| "(no SeriesInstanceUID)".into());
        by_uid.entry(uid).or_default().push(inst);
    }
    if by_uid.is_empty() {
        return Err(match refusal {
            Some((path, why)) if total == 1 => ReadError::new(path, ErrorKind::NotAnImage(why)),
            Some((_, why)) => ReadError::new(
                source,
                ErrorKind::NotAnImage(format!(
                    "none of {total} DICOM files is an image (first: {why})"
                )),
            ),
            None => ReadError::new(source, ErrorKind::Empty("no DICOM files found".into())),
        });
    }
    Ok(by_uid
        .into_iter()
        .map(|(uid, instances)| Series { uid, instances })
        .collect())
}

struct Frame {
    instance: usize,
    index: usize,
    position: Option<[f64; 3]>,
}

/// Stacks the frames of a series in order along the slice normal and decodes them.
pub(crate) fn assemble(
    series: Series,
    notes: Vec<String>,
    source: &std::path::Path,
) -> Result<Volume> {
    let first = series.first();
    let (rows, cols) = (first.rows, first.cols);
    if let Some(odd) = series
        .instances
        .iter()
        .find(|i| (i.rows, i.cols) != (rows, cols))
    {
        return Err(ReadError::new(
            &odd.path,
            ErrorKind::Inconsistent(format!(
                "slices of different sizes in one series: {}x{} here, {}x{} in {}",
                odd.rows,
                odd.cols,
                rows,
                cols,
                first.path.display()
            )),
        ));
    }
    let voxels =
        crate::limits::voxel_count(&[series.frame_count() as u64, rows as u64, cols as u64])
            .ok_or_else(|| {
                ReadError::new(
                    source,
                    ErrorKind::Limit("series has too many voxels".into()),
                )
            })?;
    let orientation = series.orientation();
    let mut frames: Vec<Frame> = series
        .instances
        .iter()
        .enumerate()
        .flat_map(|(i, inst)| {
            (0..inst.frames as usize).map(move |f| Frame {
                instance: i,
                index: f,
                position: inst.positions[f],
            })
        })
        .collect();
    let mut slice_gap = first.slice_gap;
    let positions: Option<Vec<[f64; 3]>> = frames.iter().map(|f| f.position).collect();
    match (orientation, positions) {
        (Some(o), Some(positions)) => {
            let normal = cross(o.row_direction, o.column_direction);
            let (order, along) = order_along(normal, &positions);
            let mut slots: Vec<Option<Frame>> = frames.into_iter().map(Some).collect();
            frames = order.iter().filter_map(|&i| slots[i].take()).collect();
            slice_gap = median_gap(&along).or(slice_gap);
        }
        _ => {
            let numbers: Vec<i64> = series
                .instances
                .iter()
                .map(|i| i.instance_number.unwrap_or(0))
                .collect();
            frames.sort_by_key(|f| (numbers[f.instance], f.index));
        }
    }
    let mut data = Vec::with_capacity(voxels);
    let mut decoded: Vec<Option<Vec<Vec<f32>>>> =
        (0..series.instances.len()).map(|_| None).collect();
    let mut monochrome1 = false;
    let mut colour = None;
    for frame in &frames {
        if decoded[frame.instance].is_none() {
            let d = decode(&series.instances[frame.instance])?;
            monochrome1 |= d.monochrome1;
            colour = colour.or(d.colour);
            decoded[frame.instance] = Some(d.frames);
        }
        let pixels = decoded[frame.instance]
            .as_ref()
            .and_then(|fs| fs.get(frame.index));
        let pixels = pixels.ok_or_else(|| {
            ReadError::new(
                &series.instances[frame.instance].path,
                ErrorKind::Truncated(format!(
                    "frame {} is missing from the pixel data",
                    frame.index + 1
                )),
            )
        })?;
        data.extend_from_slice(pixels);
    }
    let mut meta = metadata(&series, source, notes);
    meta.slice_sources = frames
        .iter()
        .map(|f| {
            let inst = &series.instances[f.instance];
            SliceSource {
                sop_class_uid: inst.text(tags::SOP_CLASS_UID).unwrap_or_default(),
                sop_instance_uid: inst.text(tags::SOP_INSTANCE_UID).unwrap_or_default(),
                frame: f.index as u32 + 1,
            }
        })
        .collect();
    if monochrome1 {
        invert(&mut data);
        meta.notes
            .push("MONOCHROME1: intensities inverted so that bright means high signal".into());
    }
    if let Some(model) = colour {
        meta.notes
            .push(format!("colour image ({model}) converted to grey"));
    }
    let shape = [frames.len(), rows as usize, cols as usize];
    let mut volume = Volume::new(data, shape, meta).ok_or_else(|| {
        ReadError::new(
            source,
            ErrorKind::invalid("voxel count does not match the shape"),
        )
    })?;
    let [row_mm, col_mm] = first.pixel_spacing.unwrap_or([1.0, 1.0]);
    volume.spacing = [slice_gap.unwrap_or(1.0), row_mm, col_mm];
    if let Some(mut o) = orientation {
        o.origin = frames.first().and_then(|f| f.position).unwrap_or([0.0; 3]);
        volume = volume.with_orientation(o);
    }
    Ok(volume)
}

fn invert(data: &mut [f32]) {
    let (lo, hi) = data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    data.iter_mut().for_each(|v| *v = lo + hi - *v);
}

fn metadata(series: &Series, source: &std::path::Path, notes: Vec<String>) -> SourceMetadata {
    let first = series.first();
    let mut meta = SourceMetadata::new(Format::Dicom, source.display().to_string());
    meta.modality = first.text(tags::MODALITY);
    meta.series_description = series.description();
    meta.manufacturer = first.text(tags::MANUFACTURER);
    meta.scanner_model = first.text(tags::MANUFACTURER_MODEL_NAME);
    meta.echo_time_ms = first.number(tags::ECHO_TIME);
    meta.repetition_time_ms = first.number(tags::REPETITION_TIME);
    meta.scan_options = first.text(tags::SCAN_OPTIONS);
    meta.field_strength_t = first.number(tags::MAGNETIC_FIELD_STRENGTH);
    meta.patient_id = first.text(tags::PATIENT_ID);
    meta.study_id = first.text(tags::STUDY_INSTANCE_UID);
    meta.series_id = first.series_uid.clone();
    meta.frame_of_reference_uid = first.text(tags::FRAME_OF_REFERENCE_UID);
    meta.stored_type = first.number(tags::BITS_ALLOCATED).map(|bits| {
        let signed = first.number(tags::PIXEL_REPRESENTATION) == Some(1.0);
        format!("{}int{}", if signed { "" } else { "u" }, bits)
    });
    meta.notes = notes;
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pd_fat_suppressed_descriptions_score_highest() {
        assert_eq!(pd_fs_score("SAG PD FS"), 3);
        assert_eq!(pd_fs_score("sag_pd_fs_tse"), 3);
        assert_eq!(pd_fs_score("PD SPAIR SAG"), 3);
        assert_eq!(pd_fs_score("Sag T1"), 0);
        assert_eq!(pd_fs_score("SAG T2 FS"), 1);
        assert_eq!(pd_fs_score("Proton density"), 2);
        assert!(pd_fs_score("SAG PD FS") > pd_fs_score("SAG PD"));
    }

    #[test]
    fn inversion_keeps_the_range() {
        let mut v = vec![0.0, 10.0, 4.0];
        invert(&mut v);
        assert_eq!(v, vec![10.0, 0.0, 6.0]);
    }
}
