//! What the result objects of one exam share.

use cruciate_volume::SliceSource;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use sha2::{Digest, Sha256};

use crate::ResultError;

/// The patient and study the results belong to: the identity a study had before
/// de-identification (what the PACS knows it by), or the one an upload carried.
pub use cruciate_deid::OriginalIdentity as StudyIdentity;

/// The software that made the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithm {
    /// Its name (the model's).
    pub name: String,
    /// Its version (the software's, and the model's checksum when known).
    pub version: String,
    /// Whether the model was trained on synthetic data only.
    pub synthetic: bool,
}

/// The call.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What the call is about: the ACL, a meniscal tear or any abnormality (the model's
    /// finding); "injured" below means that finding's positive class.
    pub about: cruciate_data::Finding,
    /// The grade 0-3 for four-grade models, `None` for healthy-vs-injured ones.
    pub grade: Option<u8>,
    /// Whether the call is "injured".
    pub injured: bool,
    /// The probability of injury (grades 1-3 together).
    pub injured_probability: f64,
    /// The key slices, from 0, most telling first.
    pub key_slices: Vec<usize>,
    /// Set when the input gate found the exam outside the model's domain.
    pub outside_domain: Option<OutsideDomain>,
    /// The conformal grade set in words ("partial or complete, 90 %"), where the model is
    /// calibrated.
    pub grade_set: Option<String>,
}

/// An exam the input gate found outside the model's domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideDomain {
    /// Why, in words ("coronal plane (ImageOrientationPatient); the model reads sagittal").
    pub reasons: String,
    /// Whether an administrator had the call shown anyway; when not, the report says "not
    /// analysed" and carries no call.
    pub call_shown: bool,
}

impl Finding {
    /// Whether the report carries the call (the exam was accepted, or its call was shown).
    pub fn call_shown(&self) -> bool {
        self.outside_domain.as_ref().is_none_or(|o| o.call_shown)
    }
}

/// Everything the objects of one exam share.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultContext {
    /// The exam's id in Cruciate (new UIDs derive from it: the same exam gives the same UIDs,
    /// so that a result sent twice replaces itself in the PACS).
    pub exam_id: String,
    /// Patient and study.
    pub study: StudyIdentity,
    /// The source series' UID, when the exam came as DICOM.
    pub source_series_uid: Option<String>,
    /// The source's FrameOfReferenceUID, when known.
    pub frame_of_reference_uid: Option<String>,
    /// The instance each slice came from (empty when the exam was not DICOM).
    pub slice_sources: Vec<SliceSource>,
    /// The software.
    pub algorithm: Algorithm,
    /// The notices every object carries ("not for diagnostic use", the synthetic-model notice).
    pub notices: Vec<String>,
    /// ContentDate and ContentTime (`YYYYMMDD`, `HHMMSS`).
    pub content_date_time: (String, String),
}

impl ResultContext {
    /// A UID under `2.25` derived from the exam id and `what`.
    pub fn uid(&self, what: &str) -> String {
        derived_uid(&format!("{}/{what}", self.exam_id))
    }

    /// The same context with another source series (a reading's other plane): its UID, frame
    /// of reference and the instance of each slice.
    pub fn with_series(
        &self,
        series_uid: Option<String>,
        frame_of_reference_uid: Option<String>,
        slice_sources: Vec<SliceSource>,
    ) -> Self {
        Self {
            source_series_uid: series_uid,
            frame_of_reference_uid,
            slice_sources,
            ..self.clone()
        }
    }

    /// The slice's source instance, when the exam came as DICOM.
    pub fn source_of(&self, slice: usize) -> Option<&SliceSource> {
        self.slice_sources.get(slice)
    }

    /// The patient, study and equipment attributes every object carries.
    pub(crate) fn common(
        &self,
        obj: &mut InMemDicomObject,
        modality: &str,
        series: &str,
        number: u32,
    ) {
        let s = &self.study;
        let mut put = |tag, vr, v: &str| {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        };
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put(tags::PATIENT_NAME, VR::PN, &s.patient_name);
        put(tags::PATIENT_ID, VR::LO, &s.patient_id);
        put(tags::PATIENT_BIRTH_DATE, VR::DA, &s.patient_birth_date);
        put(tags::PATIENT_SEX, VR::CS, &s.patient_sex);
        put(tags::STUDY_INSTANCE_UID, VR::UI, &s.study_uid);
        put(tags::STUDY_ID, VR::SH, &s.study_id);
        put(tags::ACCESSION_NUMBER, VR::SH, &s.accession_number);
        put(tags::STUDY_DATE, VR::DA, &s.study_date);
        put(tags::STUDY_TIME, VR::TM, &s.study_time);
        put(
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            &s.referring_physician,
        );
        put(tags::MODALITY, VR::CS, modality);
        put(tags::SERIES_INSTANCE_UID, VR::UI, series);
        put(tags::SERIES_NUMBER, VR::IS, &number.to_string());
        put(tags::MANUFACTURER, VR::LO, "Cruciate");
        put(tags::MANUFACTURER_MODEL_NAME, VR::LO, &self.algorithm.name);
        put(tags::SOFTWARE_VERSIONS, VR::LO, &self.algorithm.version);
        put(tags::CONTENT_DATE, VR::DA, &self.content_date_time.0);
        put(tags::CONTENT_TIME, VR::TM, &self.content_date_time.1);
        put(
            tags::INSTANCE_CREATION_DATE,
            VR::DA,
            &self.content_date_time.0,
        );
        put(
            tags::INSTANCE_CREATION_TIME,
            VR::TM,
            &self.content_date_time.1,
        );
    }
}

/// A `2.25` UID (PS3.5 B.2) derived from `seed`.
pub fn derived_uid(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let n = u128::from_be_bytes(d[..16].try_into().expect("16 bytes")) >> 1;
    format!("2.25.{n}")
}

/// `obj` as a DICOM Part 10 file (explicit VR little endian).
pub fn part10_bytes(obj: InMemDicomObject) -> Result<Vec<u8>, ResultError> {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_version_name("CRUCIATE"),
        )
        .map_err(|e| ResultError::Encoding(e.to_string()))?;
    let mut out = Vec::new();
    file.write_all(&mut out)
        .map_err(|e| ResultError::Encoding(e.to_string()))?;
    Ok(out)
}
