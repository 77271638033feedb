//! DICOM Segmentation objects (PS3.3 A.51) of a result, in the source's study and frame of
//! reference, each frame derived from and referencing its source slice:
//!
//! - the **ACL region** a cascade's localiser cut out (or the manifest's box), as a BINARY
//!   segment of the ligament (SNOMED CT 52082005 Ligament, in the knee joint 49076000);
//! - the **explanation's heat map**, as a FRACTIONAL segment of type PROBABILITY (0..255 for
//!   0..1), typed by the DICOM concept of its method (DCM 130402 Class activation, 130403
//!   Gradient-weighted class activation, 130404 Saliency: CID 217, Visual Explanation);
//! - where the heat is at least one half, as a BINARY segment of the same type: the **attention
//!   region**, for viewers that draw no fractional segmentation (OHIF 3.13's cornerstone
//!   answers "Fractional segmentations are not yet supported").
//!
//! Codes were checked against the code dictionaries pydicom 3.0.2 ships (DICOM PS3.16): CID
//! 7150's Anatomical Structure (SCT 91723000) and Spatial and Relational Concept (SCT
//! 309825002), CID 7151's Ligament (SCT 52082005).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::ResultError;
use crate::context::ResultContext;
use crate::items::{Code, sequence, sop_reference, text};

/// Segmentation Storage.
pub const SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.4";
/// The series number of the region's segmentation; the heat map's is the next.
pub const SEG_SERIES_NUMBER: u32 = 9902;

/// Where the source series' slices lie in the patient.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesGeometry {
    /// Rows per slice.
    pub rows: usize,
    /// Columns per slice.
    pub cols: usize,
    /// Millimetres between rows and between columns (PixelSpacing).
    pub pixel_spacing: [f64; 2],
    /// Millimetres between slices.
    pub slice_spacing: f64,
    /// ImageOrientationPatient.
    pub orientation: [f64; 6],
    /// ImagePositionPatient of each slice, in slice order.
    pub positions: Vec<[f64; 3]>,
}

/// What a segmentation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// The ACL region, BINARY.
    AclRegion,
    /// The explanation's heat map, FRACTIONAL (probability).
    HeatMap,
    /// Where the heat map is at least one half, BINARY.
    AttentionRegion,
}

impl SegmentKind {
    fn name(self) -> &'static str {
        match self {
            SegmentKind::AclRegion => "acl-region",
            SegmentKind::HeatMap => "heat-map",
            SegmentKind::AttentionRegion => "attention-region",
        }
    }
}

/// The SOP instance UID of the segmentation of `kind` for `finding` over the source series of
/// `ctx` (the same exam, finding and series give the same).
pub fn seg_instance_uid(
    ctx: &ResultContext,
    kind: SegmentKind,
    finding: cruciate_data::Finding,
) -> String {
    ctx.uid(&format!(
        "seg/{}/{}/{}",
        kind.name(),
        finding.name(),
        ctx.source_series_uid.as_deref().unwrap_or_default()
    ))
}

/// The series UID of the segmentations of `kind` (one series per kind).
pub fn seg_series_uid(ctx: &ResultContext, kind: SegmentKind) -> String {
    ctx.uid(&format!("seg-series/{}", kind.name()))
}

/// One segmentation to make: its kind, the finding it is of, what made it, and its values
/// per source slice (`rows * cols` each: 0 or 1 for the region, 0..255 for the heat map).
pub struct Segmentation<'a> {
    /// What it holds.
    pub kind: SegmentKind,
    /// The finding whose call it explains (a reading has a heat map per finding).
    pub finding: cruciate_data::Finding,
    /// The algorithm or explanation method ("grad-cam", "the cascade's localiser").
    pub method: &'a str,
    /// `(slice, values)`, slices in increasing order.
    pub frames: Vec<(usize, Vec<u8>)>,
}

/// The frames of a box `[s0, s1, r0, r1, c0, c1)` over a series of `geometry`: one per slice
/// it spans, 1 inside, 0 outside.
pub fn box_frames(geometry: &SeriesGeometry, region: [usize; 6]) -> Vec<(usize, Vec<u8>)> {
    let [s0, s1, r0, r1, c0, c1] = region;
    (s0..s1.min(geometry.positions.len()))
        .map(|s| {
            let mut values = vec![0u8; geometry.rows * geometry.cols];
            for r in r0..r1.min(geometry.rows) {
                for c in c0..c1.min(geometry.cols) {
                    values[r * geometry.cols + c] = 1;
                }
            }
            (s, values)
        })
        .collect()
}

/// The attention region of heat-map frames (0..255): 1 where the heat is at least one half;
/// frames left with no pixel set are dropped.
pub fn attention_frames(heat: &[(usize, Vec<u8>)]) -> Vec<(usize, Vec<u8>)> {
    heat.iter()
        .map(|(s, h)| {
            (
                *s,
                h.iter().map(|&v| u8::from(v >= 128)).collect::<Vec<u8>>(),
            )
        })
        .filter(|(_, f)| f.contains(&1))
        .collect()
}

/// 1-bit pixels, packed little-end first as PS3.5 8.1.1 asks, frames back to back, the
/// whole padded to an even length.
fn packed_bits(frames: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let bits: Vec<bool> = frames
        .iter()
        .flat_map(|(_, v)| v.iter().map(|&b| b != 0))
        .collect();
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        if *b {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn us(tag: dicom_core::Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

fn ds_list(tag: dicom_core::Tag, values: &[f64]) -> DataElement<InMemDicomObject> {
    let text_value: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
    text(tag, VR::DS, &text_value.join("\\"))
}

/// CIELab lightness `l` (0..100) scaled to 0..65535.
fn irradiance(l: f64) -> u16 {
    (l / 100.0 * 65535.0).round() as u16
}

/// A CIELab colour coordinate (-128..127) scaled to 0..65535.
fn lab(ab: f64) -> u16 {
    ((ab + 128.0) / 255.0 * 65535.0).round() as u16
}

/// The segment's description: number 1, its label and codes, and `notices` in its
/// description.
fn segment_item(seg: &Segmentation<'_>, notices: &str) -> InMemDicomObject {
    let (label, category, property) = match seg.kind {
        SegmentKind::AclRegion => (
            "ACL region",
            Code("91723000", "SCT", "Anatomical Structure"),
            Code("52082005", "SCT", "Ligament"),
        ),
        SegmentKind::HeatMap | SegmentKind::AttentionRegion => (
            seg.finding.describe(),
            Code("309825002", "SCT", "Spatial and Relational Concept"),
            match seg.method.to_ascii_lowercase().as_str() {
                m if m.contains("grad") => {
                    Code("130403", "DCM", "Gradient-weighted class activation")
                }
                m if m.contains("cam") => Code("130402", "DCM", "Class activation"),
                _ => Code("130404", "DCM", "Saliency"),
            },
        ),
    };
    let mut item = InMemDicomObject::from_element_iter([
        us(tags::SEGMENT_NUMBER, 1),
        text(tags::SEGMENT_LABEL, VR::LO, label),
        text(
            tags::SEGMENT_DESCRIPTION,
            VR::ST,
            &match seg.kind {
                SegmentKind::AclRegion => format!("{label}, by {}. {notices}", seg.method),
                SegmentKind::AttentionRegion => format!(
                    "Where the call on {label} came from most: heat at least 0.5, by {}. {notices}",
                    seg.method
                ),
                SegmentKind::HeatMap => format!(
                    "Where the call on {label} came from, by {} (0..1 as 0..255). {notices}",
                    seg.method
                ),
            },
        ),
        sequence(
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            vec![category.item()],
        ),
        sequence(
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            vec![property.item()],
        ),
        text(tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC"),
        text(tags::SEGMENT_ALGORITHM_NAME, VR::LO, seg.method),
    ]);
    // The colour viewers draw it in (CIELab scaled to 0..65535, PS3.3 C.10.7.1.1): the ACL
    // region yellow, the heat's segments red.
    let colour: [u16; 3] = match seg.kind {
        SegmentKind::AclRegion => [irradiance(97.0), lab(-21.0), lab(94.0)],
        SegmentKind::HeatMap | SegmentKind::AttentionRegion => {
            [irradiance(54.0), lab(81.0), lab(70.0)]
        }
    };
    item.put(DataElement::new(
        tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
        VR::US,
        PrimitiveValue::U16(colour.to_vec().into()),
    ));
    if seg.kind == SegmentKind::AclRegion {
        item.put(sequence(
            tags::ANATOMIC_REGION_SEQUENCE,
            vec![Code("49076000", "SCT", "Knee joint").item()],
        ));
    }
    item
}

/// The Segmentation object of `seg` over the source series of `ctx`, lying as `geometry`
/// says. Refused for a source without DICOM slices or frame of reference (a result not read
/// from DICOM), for an empty segmentation, and for frames of another size or slice.
pub fn segmentation(
    ctx: &ResultContext,
    geometry: &SeriesGeometry,
    seg: &Segmentation<'_>,
) -> Result<InMemDicomObject, ResultError> {
    let (Some(series_uid), Some(frame_of_reference)) = (
        ctx.source_series_uid.as_deref(),
        ctx.frame_of_reference_uid.as_deref(),
    ) else {
        return Err(ResultError::Invalid(
            "a segmentation needs a DICOM source series and its frame of reference".into(),
        ));
    };
    if seg.frames.is_empty() {
        return Err(ResultError::Invalid("a segmentation of no slice".into()));
    }
    let pixels = geometry.rows * geometry.cols;
    let mut sources = Vec::new();
    for (s, values) in &seg.frames {
        let source = ctx.source_of(*s).filter(|_| *s < geometry.positions.len());
        match source {
            Some(src) if values.len() == pixels => sources.push(src),
            _ => {
                return Err(ResultError::Invalid(format!(
                    "slice {s}: no source instance, or {} values for {pixels} pixels",
                    values.len()
                )));
            }
        }
    }
    let mut obj = InMemDicomObject::new_empty();
    let number = SEG_SERIES_NUMBER
        + match seg.kind {
            SegmentKind::AclRegion => 0,
            SegmentKind::HeatMap => 1,
            SegmentKind::AttentionRegion => 2,
        };
    ctx.common(&mut obj, "SEG", &seg_series_uid(ctx, seg.kind), number);
    let (content_label, description) = match seg.kind {
        SegmentKind::AclRegion => ("ACL_REGION", "Cruciate ACL region (not for diagnostic use)"),
        SegmentKind::HeatMap => ("HEAT_MAP", "Cruciate heat map (not for diagnostic use)"),
        SegmentKind::AttentionRegion => (
            "ATTENTION",
            "Cruciate attention region (not for diagnostic use)",
        ),
    };
    let binary = seg.kind != SegmentKind::HeatMap;
    let mut put = |e: DataElement<InMemDicomObject>| {
        obj.put(e);
    };
    put(text(tags::SOP_CLASS_UID, VR::UI, SEGMENTATION_STORAGE));
    put(text(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &seg_instance_uid(ctx, seg.kind, seg.finding),
    ));
    put(text(tags::SERIES_DESCRIPTION, VR::LO, description));
    let ordinal = cruciate_data::Finding::ALL
        .iter()
        .position(|f| *f == seg.finding)
        .unwrap_or(0);
    put(text(
        tags::INSTANCE_NUMBER,
        VR::IS,
        &(ordinal + 1).to_string(),
    ));
    put(text(
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        frame_of_reference,
    ));
    put(text(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""));
    put(text(tags::DEVICE_SERIAL_NUMBER, VR::LO, "0"));
    put(text(tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY"));
    put(text(tags::CONTENT_LABEL, VR::CS, content_label));
    put(text(tags::CONTENT_DESCRIPTION, VR::LO, description));
    put(text(tags::CONTENT_CREATOR_NAME, VR::PN, "Cruciate"));
    put(us(tags::SAMPLES_PER_PIXEL, 1));
    put(text(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    ));
    put(us(tags::ROWS, geometry.rows as u16));
    put(us(tags::COLUMNS, geometry.cols as u16));
    let bits = if binary { 1 } else { 8 };
    put(us(tags::BITS_ALLOCATED, bits));
    put(us(tags::BITS_STORED, bits));
    put(us(tags::HIGH_BIT, bits - 1));
    put(us(tags::PIXEL_REPRESENTATION, 0));
    put(text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"));
    put(text(
        tags::SEGMENTATION_TYPE,
        VR::CS,
        if binary { "BINARY" } else { "FRACTIONAL" },
    ));
    if !binary {
        put(text(
            tags::SEGMENTATION_FRACTIONAL_TYPE,
            VR::CS,
            "PROBABILITY",
        ));
        put(us(tags::MAXIMUM_FRACTIONAL_VALUE, 255));
    }
    put(sequence(
        tags::SEGMENT_SEQUENCE,
        vec![segment_item(seg, &ctx.notices.join(" "))],
    ));
    put(text(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &seg.frames.len().to_string(),
    ));
    // Dimensions: the segment, then the position of the plane.
    let organisation = ctx.uid(&format!("seg-dimensions/{}", seg.kind.name()));
    put(sequence(
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([text(
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            &organisation,
        )])],
    ));
    let dimension = |pointer: dicom_core::Tag, group: dicom_core::Tag, label: &str| {
        InMemDicomObject::from_element_iter([
            text(tags::DIMENSION_ORGANIZATION_UID, VR::UI, &organisation),
            DataElement::new(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![pointer].into()),
            ),
            DataElement::new(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![group].into()),
            ),
            text(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label),
        ])
    };
    put(sequence(
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dimension(
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "Segment Number",
            ),
            dimension(
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "Image Position Patient",
            ),
        ],
    ));
    let shared = InMemDicomObject::from_element_iter([
        sequence(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                ds_list(tags::PIXEL_SPACING, &geometry.pixel_spacing),
                ds_list(tags::SLICE_THICKNESS, &[geometry.slice_spacing]),
                ds_list(tags::SPACING_BETWEEN_SLICES, &[geometry.slice_spacing]),
            ])],
        ),
        sequence(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([ds_list(
                tags::IMAGE_ORIENTATION_PATIENT,
                &geometry.orientation,
            )])],
        ),
    ]);
    put(sequence(
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    ));
    let per_frame = seg
        .frames
        .iter()
        .zip(&sources)
        .enumerate()
        .map(|(k, ((s, _), src))| {
            let frame = (src.frame > 1).then_some(src.frame);
            let mut source = sop_reference(&src.sop_class_uid, &src.sop_instance_uid, frame);
            source.put(sequence(
                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                vec![
                    Code(
                        "121322",
                        "DCM",
                        "Source image for image processing operation",
                    )
                    .item(),
                ],
            ));
            InMemDicomObject::from_element_iter([
                sequence(
                    tags::FRAME_CONTENT_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter([DataElement::new(
                        tags::DIMENSION_INDEX_VALUES,
                        VR::UL,
                        PrimitiveValue::U32(vec![1u32, k as u32 + 1].into()),
                    )])],
                ),
                sequence(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter([ds_list(
                        tags::IMAGE_POSITION_PATIENT,
                        &geometry.positions[*s],
                    )])],
                ),
                sequence(
                    tags::DERIVATION_IMAGE_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter([
                        sequence(tags::SOURCE_IMAGE_SEQUENCE, vec![source]),
                        sequence(
                            tags::DERIVATION_CODE_SEQUENCE,
                            vec![Code("113076", "DCM", "Segmentation").item()],
                        ),
                    ])],
                ),
                sequence(
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter([us(
                        tags::REFERENCED_SEGMENT_NUMBER,
                        1,
                    )])],
                ),
            ])
        })
        .collect();
    put(sequence(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    ));
    // Every source instance, as the Common Instance Reference module lists them.
    let mut listed: Vec<&str> = Vec::new();
    let mut instances = Vec::new();
    for src in &sources {
        if !listed.contains(&src.sop_instance_uid.as_str()) {
            listed.push(&src.sop_instance_uid);
            instances.push(sop_reference(
                &src.sop_class_uid,
                &src.sop_instance_uid,
                None,
            ));
        }
    }
    put(sequence(
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            text(tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
            sequence(tags::REFERENCED_INSTANCE_SEQUENCE, instances),
        ])],
    ));
    let mut pixels_out = if binary {
        packed_bits(&seg.frames)
    } else {
        seg.frames
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect()
    };
    if pixels_out.len() % 2 == 1 {
        pixels_out.push(0);
    }
    put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(pixels_out),
    ));
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_packed_first_pixel_lowest_across_frames() {
        let frames = vec![(0, vec![1, 0, 0, 1, 0]), (1, vec![0, 0, 0, 0, 1])];
        // Pixels 0, 3 and 9 set: byte 0 = 0b0000_1001, byte 1 = 0b0000_0010.
        assert_eq!(packed_bits(&frames), vec![0b0000_1001, 0b0000_0010]);
    }

    #[test]
    fn a_box_sets_its_pixels_on_the_slices_it_spans() {
        let geometry = SeriesGeometry {
            rows: 4,
            cols: 5,
            pixel_spacing: [0.5, 0.5],
            slice_spacing: 3.0,
            orientation: [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
            positions: vec![[0.0; 3]; 6],
        };
        let frames = box_frames(&geometry, [2, 4, 1, 3, 2, 9]);
        assert_eq!(frames.iter().map(|f| f.0).collect::<Vec<_>>(), [2, 3]);
        let set: usize = frames[0].1.iter().map(|&v| usize::from(v)).sum();
        assert_eq!(set, 2 * 3, "rows 1-2, columns 2-4 (cut at the edge)");
        assert_eq!(frames[0].1[5 + 2], 1);
        assert_eq!(frames[0].1[2], 0);
    }
}
