//! Secondary Capture images of key slices: what the caller drew (the slice, the explanation,
//! the notices) as an RGB image in the source's study, in a series of its own.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use crate::ResultError;
use crate::context::ResultContext;
use crate::items::{sequence, sop_reference, text};

/// The series number of the Secondary Capture images.
pub const SC_SERIES_NUMBER: u32 = 9901;

/// An RGB picture (row-major triples).
pub struct RgbPicture<'a> {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub pixels: &'a [u8],
}

/// The SC image number `n` (from 0) of the exam: `picture` of key slice `slice`.
pub fn secondary_capture(
    ctx: &ResultContext,
    n: usize,
    slice: usize,
    picture: &RgbPicture<'_>,
) -> Result<InMemDicomObject, ResultError> {
    if picture.width == 0
        || picture.height == 0
        || picture.width > u16::MAX as usize
        || picture.height > u16::MAX as usize
        || picture.pixels.len() != picture.width * picture.height * 3
    {
        return Err(ResultError::Invalid(format!(
            "a {}x{} picture needs {} bytes, got {}",
            picture.width,
            picture.height,
            picture.width * picture.height * 3,
            picture.pixels.len()
        )));
    }
    let mut obj = InMemDicomObject::new_empty();
    ctx.common(&mut obj, "OT", &sc_series_uid(ctx), SC_SERIES_NUMBER);
    let mut put = |e: DataElement<InMemDicomObject>| {
        obj.put(e);
    };
    put(text(
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    ));
    put(text(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &sc_instance_uid(ctx, n),
    ));
    put(text(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "Cruciate key slices (not for diagnostic use)",
    ));
    put(text(tags::CONVERSION_TYPE, VR::CS, "WSD"));
    put(text(tags::INSTANCE_NUMBER, VR::IS, &(n + 1).to_string()));
    put(text(tags::PATIENT_ORIENTATION, VR::CS, ""));
    put(text(tags::LATERALITY, VR::CS, ""));
    put(text(tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY"));
    put(text(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
    put(text(
        tags::DERIVATION_DESCRIPTION,
        VR::ST,
        &format!(
            "Slice {} with the explanation of {} burned in. {}",
            slice + 1,
            ctx.algorithm.name,
            ctx.notices.join(" ")
        ),
    ));
    put(text(tags::IMAGE_COMMENTS, VR::LT, &ctx.notices.join(" ")));
    if let Some(src) = ctx.source_of(slice) {
        let frame = (src.frame > 1).then_some(src.frame);
        put(sequence(
            tags::SOURCE_IMAGE_SEQUENCE,
            vec![sop_reference(
                &src.sop_class_uid,
                &src.sop_instance_uid,
                frame,
            )],
        ));
    }
    put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(3u16),
    ));
    put(text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"));
    put(DataElement::new(
        tags::PLANAR_CONFIGURATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(picture.height as u16),
    ));
    put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(picture.width as u16),
    ));
    put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(8u16),
    ));
    put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(8u16),
    ));
    put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(7u16),
    ));
    put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    let mut pixels = picture.pixels.to_vec();
    if pixels.len() % 2 == 1 {
        pixels.push(0);
    }
    put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(pixels),
    ));
    Ok(obj)
}

/// The Secondary Capture series' UID.
pub fn sc_series_uid(ctx: &ResultContext) -> String {
    ctx.uid("sc-series")
}

/// The UID of SC image `n`.
pub fn sc_instance_uid(ctx: &ResultContext, n: usize) -> String {
    ctx.uid(&format!("sc/{n}"))
}
