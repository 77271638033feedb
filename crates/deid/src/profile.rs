//! Applying the profile to a data set, sequences included.

use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

use crate::actions::Action;
use crate::pseudonyms::Pseudonyms;
use crate::table::rule_for;

/// Which de-identification is applied before storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Nothing changed: the instances are stored as received.
    Off,
    /// The Basic Application Level Confidentiality Profile.
    #[default]
    Basic,
    /// The Basic Profile with the Retain Longitudinal Temporal Information with Full Dates
    /// Option: dates and times kept.
    BasicRetainDates,
}

impl Profile {
    /// The name used in settings and messages.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Off => "off",
            Profile::Basic => "basic",
            Profile::BasicRetainDates => "basic-retain-dates",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Profile::Off),
            "basic" => Ok(Profile::Basic),
            "basic-retain-dates" => Ok(Profile::BasicRetainDates),
            other => Err(format!(
                "de-identification {other:?}: expected off, basic or basic-retain-dates"
            )),
        }
    }
}

/// Who and what the study was before de-identification: what results sent back to the PACS
/// carry so that they land in the original study.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalIdentity {
    /// PatientName.
    pub patient_name: String,
    /// PatientID.
    pub patient_id: String,
    /// PatientBirthDate.
    pub patient_birth_date: String,
    /// PatientSex.
    pub patient_sex: String,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// StudyID.
    pub study_id: String,
    /// AccessionNumber.
    pub accession_number: String,
    /// StudyDate.
    pub study_date: String,
    /// StudyTime.
    pub study_time: String,
    /// ReferringPhysicianName.
    pub referring_physician: String,
}

impl OriginalIdentity {
    /// The identity a data set carries.
    pub fn of(obj: &InMemDicomObject) -> Self {
        let text = |tag| {
            obj.get(tag)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
                .unwrap_or_default()
        };
        Self {
            patient_name: text(tags::PATIENT_NAME),
            patient_id: text(tags::PATIENT_ID),
            patient_birth_date: text(tags::PATIENT_BIRTH_DATE),
            patient_sex: text(tags::PATIENT_SEX),
            study_uid: text(tags::STUDY_INSTANCE_UID),
            study_id: text(tags::STUDY_ID),
            accession_number: text(tags::ACCESSION_NUMBER),
            study_date: text(tags::STUDY_DATE),
            study_time: text(tags::STUDY_TIME),
            referring_physician: text(tags::REFERRING_PHYSICIAN_NAME),
        }
    }
}

/// What de-identifying one data set did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deidentified {
    /// The identity before.
    pub original: OriginalIdentity,
    /// Attributes removed (private ones included), at any depth.
    pub removed: usize,
    /// Attributes emptied or given dummy values.
    pub replaced: usize,
    /// UIDs replaced.
    pub uids_replaced: usize,
}

/// De-identifies `obj` in place by `profile`, replacing UIDs and the patient id through
/// `pseudonyms` (pass the same one for every instance of a study so that references agree).
pub fn deidentify(
    obj: &mut InMemDicomObject,
    profile: Profile,
    pseudonyms: &mut Pseudonyms,
) -> Deidentified {
    let mut out = Deidentified {
        original: OriginalIdentity::of(obj),
        ..Deidentified::default()
    };
    if profile == Profile::Off {
        return out;
    }
    let retain_dates = profile == Profile::BasicRetainDates;
    let description = obj
        .get(tags::SERIES_DESCRIPTION)
        .and_then(|e| e.to_str().ok())
        .and_then(|d| clean_descriptor(&d));
    walk(obj, retain_dates, pseudonyms, &mut out);
    // Clean Descriptors Option, for the series description alone: the words that name the
    // sequence (what series choice goes by) are kept, anything else is dropped.
    let cleaned = description.is_some();
    if let Some(d) = description {
        obj.put(DataElement::new(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            PrimitiveValue::from(d),
        ));
    }
    let patient = pseudonyms.patient(&out.original.patient_id);
    let mut put = |tag, vr, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    // Z allows "a non-zero length value that may be a dummy value": the pseudonym, so that the
    // patient's exams stay together.
    put(tags::PATIENT_ID, VR::LO, patient.clone().into());
    put(tags::PATIENT_NAME, VR::PN, patient.into());
    put(tags::PATIENT_IDENTITY_REMOVED, VR::CS, "YES".into());
    put(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        format!("Cruciate: PS3.15 E.1-1 {}", profile.name()).into(),
    );
    put(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        if retain_dates {
            "UNMODIFIED"
        } else {
            "REMOVED"
        }
        .into(),
    );
    let mut methods = vec![code("113100", "Basic Application Confidentiality Profile")];
    if cleaned {
        methods.push(code("113105", "Clean Descriptors Option"));
    }
    if retain_dates {
        methods.push(code(
            "113106",
            "Retain Longitudinal Temporal Information Full Dates Option",
        ));
    }
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::new(methods, Length::UNDEFINED),
    ));
    out
}

/// Words a series description may keep: planes, weightings, sequences, fat suppression, body
/// parts. Nothing else survives (no number either), so no name, date or free text can.
const SAFE_WORDS: &[&str] = &[
    "SAG",
    "SAGITTAL",
    "COR",
    "CORONAL",
    "AX",
    "AXIAL",
    "TRA",
    "TRANSVERSE",
    "OBL",
    "OBLIQUE",
    "PD",
    "PDW",
    "PROTON",
    "DENSITY",
    "T1",
    "T1W",
    "T2",
    "T2W",
    "T2STAR",
    "FS",
    "FAT",
    "SAT",
    "FATSAT",
    "SPAIR",
    "SPIR",
    "STIR",
    "TIRM",
    "DIXON",
    "WATER",
    "IDEAL",
    "FSE",
    "TSE",
    "SE",
    "GRE",
    "DESS",
    "MEDIC",
    "CUBE",
    "SPACE",
    "VISTA",
    "FLASH",
    "3D",
    "2D",
    "HR",
    "HIRES",
    "KNEE",
    "LEFT",
    "RIGHT",
    "LT",
    "RT",
    "MPR",
    "RECON",
    "ISO",
    "THIN",
];

/// The words of `description` that are known to carry no identity, or `None` when none is.
pub fn clean_descriptor(description: &str) -> Option<String> {
    let kept: Vec<String> = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_uppercase())
        .filter(|w| SAFE_WORDS.contains(&w.as_str()))
        .collect();
    (!kept.is_empty()).then(|| kept.join(" "))
}

fn code(value: &str, meaning: &str) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(value)),
        DataElement::new(
            tags::CODING_SCHEME_DESIGNATOR,
            VR::SH,
            PrimitiveValue::from("DCM"),
        ),
        DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(meaning)),
    ])
}

fn walk(
    obj: &mut InMemDicomObject,
    retain_dates: bool,
    pseudonyms: &mut Pseudonyms,
    out: &mut Deidentified,
) {
    let tags: Vec<Tag> = obj.tags().collect();
    for tag in tags {
        let action = if tag.group() % 2 == 1 {
            // Private attributes (odd groups) go: the profile removes them unless the Retain
            // Safe Private Option is applied, which is not offered.
            Action::X
        } else {
            match rule_for(tag) {
                Some(rule) if retain_dates && rule.kept_with_dates => Action::K,
                Some(rule) => rule.basic.resolved(),
                None => Action::K,
            }
        };
        let Some(element) = obj.take(tag) else {
            continue;
        };
        let vr = element.vr();
        match action {
            Action::X => out.removed += 1,
            Action::Z => {
                out.replaced += 1;
                obj.put(empty(tag, vr));
            }
            Action::D => {
                out.replaced += 1;
                obj.put(dummy(tag, vr));
            }
            Action::U if vr == VR::UI => {
                let text = element.to_str().map(|s| s.into_owned()).unwrap_or_default();
                let replaced: Vec<String> = text
                    .split('\\')
                    .filter(|u| !u.trim_end_matches(['\0', ' ']).is_empty())
                    .map(|u| pseudonyms.uid(u))
                    .collect();
                out.uids_replaced += replaced.len();
                obj.put(DataElement::new(tag, VR::UI, replaced.join("\\")));
            }
            // K, C (not in the Basic Profile), and U on a sequence of references: kept, with
            // the profile applied inside every item.
            _ => {
                obj.put(descend(element, retain_dates, pseudonyms, out));
            }
        }
    }
}

fn descend(
    element: DataElement<InMemDicomObject>,
    retain_dates: bool,
    pseudonyms: &mut Pseudonyms,
    out: &mut Deidentified,
) -> DataElement<InMemDicomObject> {
    let (header, value) = element.into_parts();
    match value {
        Value::Sequence(seq) => {
            let mut items = seq.into_items();
            for item in items.iter_mut() {
                walk(item, retain_dates, pseudonyms, out);
            }
            DataElement::new(
                header.tag,
                header.vr,
                DataSetSequence::new(items, Length::UNDEFINED),
            )
        }
        other => DataElement::new(header.tag, header.vr, other),
    }
}

fn empty(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    if vr == VR::SQ {
        DataElement::new(
            tag,
            vr,
            DataSetSequence::<InMemDicomObject>::new(Vec::new(), Length::UNDEFINED),
        )
    } else {
        DataElement::empty(tag, vr)
    }
}

/// A dummy value of `vr` (PS3.15 E.3.1: "consistent with the VR"); a sequence is emptied.
fn dummy(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    let text = match vr {
        VR::DA => "19000101",
        VR::TM => "000000",
        VR::DT => "19000101000000",
        VR::AS => "000Y",
        VR::IS | VR::DS => "0",
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS | VR::AE => {
            "ANONYMIZED"
        }
        VR::US => return DataElement::new(tag, vr, PrimitiveValue::from(0u16)),
        VR::SS => return DataElement::new(tag, vr, PrimitiveValue::from(0i16)),
        VR::UL => return DataElement::new(tag, vr, PrimitiveValue::from(0u32)),
        VR::SL => return DataElement::new(tag, vr, PrimitiveValue::from(0i32)),
        VR::FL => return DataElement::new(tag, vr, PrimitiveValue::from(0f32)),
        VR::FD => return DataElement::new(tag, vr, PrimitiveValue::from(0f64)),
        _ => return empty(tag, vr),
    };
    DataElement::new(tag, vr, PrimitiveValue::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_only_sequence_words() {
        assert_eq!(
            clean_descriptor("Sag PD FS 3mm").as_deref(),
            Some("SAG PD FS")
        );
        assert_eq!(
            clean_descriptor("sag_pd_fs_tse").as_deref(),
            Some("SAG PD FS TSE")
        );
        assert_eq!(clean_descriptor("SMITH JOHN 1961-04-02"), None);
        assert_eq!(
            clean_descriptor("Knee Smith T2").as_deref(),
            Some("KNEE T2")
        );
    }
}
