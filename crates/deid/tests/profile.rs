//! The Basic Profile on a data set holding every attribute of Table E.1-1 (nested in a sequence
//! as well) and on the real DICOM fixtures: nothing the profile removes survives, at any depth;
//! UIDs map consistently; pixel data is unchanged.

use cruciate_deid::{
    Action, Profile, Pseudonyms, clean_descriptor, deidentify, rule_for, table::TABLE_E1_1,
};
use dicom_core::dictionary::DataDictionary;
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

const SECRET: &str = "IDENTIFYING";

/// A value of `vr` that carries the marker where the VR can hold text.
fn marked(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    let text = match vr {
        VR::DA => "20240229".to_string(),
        VR::TM => "123456".to_string(),
        VR::DT => "20240229123456".to_string(),
        VR::AS => "042Y".to_string(),
        VR::IS | VR::DS => "42".to_string(),
        VR::UI => format!("1.2.826.0.1.3680043.9.{}.{}", tag.group(), tag.element()),
        VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD | VR::OB | VR::OW | VR::UN => {
            return DataElement::new(
                tag,
                VR::OB,
                PrimitiveValue::from(SECRET.as_bytes().to_vec()),
            );
        }
        VR::SQ => {
            let item = InMemDicomObject::from_element_iter([
                DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(SECRET)),
                DataElement::new(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from("1.2.826.0.1.3680043.9.7.7"),
                ),
            ]);
            return DataElement::new(
                tag,
                VR::SQ,
                DataSetSequence::new(vec![item], Length::UNDEFINED),
            );
        }
        _ => SECRET.to_string(),
    };
    DataElement::new(tag, vr, PrimitiveValue::from(text))
}

/// Every attribute the table names, private ones, pixel data, and the whole again inside a
/// sequence item.
fn everything() -> InMemDicomObject {
    let dict = StandardDataDictionary;
    let mut obj = InMemDicomObject::new_empty();
    for rule in TABLE_E1_1 {
        let tag = rule.example_tag();
        let vr = dict.by_tag(tag).map(|e| e.vr.relaxed()).unwrap_or(VR::LO);
        obj.put(marked(tag, vr));
    }
    obj.put(DataElement::new(
        Tag(0x0029, 0x0010),
        VR::LO,
        PrimitiveValue::from("SIEMENS CSA"),
    ));
    obj.put(DataElement::new(
        Tag(0x0029, 0x1010),
        VR::OB,
        PrimitiveValue::from(SECRET.as_bytes().to_vec()),
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(2u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(vec![1, 2, 3, 4].into()),
    ));
    let nested = obj.clone();
    // A sequence the table does not name (kept), holding the whole data set again.
    obj.put(DataElement::new(
        tags::SOURCE_IMAGE_EVIDENCE_SEQUENCE,
        VR::SQ,
        DataSetSequence::new(vec![nested], Length::UNDEFINED),
    ));
    obj
}

/// Every element at any depth, with the path of sequence tags above it.
fn walk<'a>(obj: &'a InMemDicomObject, out: &mut Vec<&'a DataElement<InMemDicomObject>>) {
    for e in obj.iter() {
        out.push(e);
        if let Value::Sequence(seq) = e.value() {
            for item in seq.items() {
                walk(item, out);
            }
        }
    }
}

fn assert_profile_applied(before: &InMemDicomObject, after: &InMemDicomObject, retain_dates: bool) {
    let mut original_uids = Vec::new();
    let mut all = Vec::new();
    walk(before, &mut all);
    for e in all {
        if e.vr() == VR::UI && rule_for(e.tag()).is_some_and(|r| r.basic.resolved() == Action::U) {
            original_uids.push(e.to_str().unwrap().to_string());
        }
    }
    let mut all = Vec::new();
    walk(after, &mut all);
    let mut checked = 0;
    for e in all {
        let tag = e.tag();
        assert!(tag.group() % 2 == 0, "private attribute {tag} survived");
        let Some(rule) = rule_for(tag) else { continue };
        checked += 1;
        let text = e.to_str().map(|s| s.into_owned()).unwrap_or_default();
        match rule.basic.resolved() {
            _ if retain_dates && rule.kept_with_dates => {}
            // The series description is cleaned, not removed: only sequence words remain.
            Action::X if tag == tags::SERIES_DESCRIPTION => {
                assert_eq!(clean_descriptor(&text).as_deref(), Some(text.as_str()))
            }
            Action::X => panic!("{} {tag} should be removed", rule.name),
            Action::Z | Action::D if tag == tags::PATIENT_ID || tag == tags::PATIENT_NAME => {
                // The pseudonym at the top level, emptied inside items.
                assert!(
                    text.starts_with("ANON-") || text.is_empty(),
                    "{}: {text}",
                    rule.name
                )
            }
            Action::Z => assert!(
                matches!(e.value(), Value::Primitive(PrimitiveValue::Empty))
                    || matches!(e.value(), Value::Sequence(s) if s.items().is_empty()),
                "{} {tag} should be empty, holds {text:?}",
                rule.name
            ),
            Action::D => assert!(
                !text.contains(SECRET) && !text.contains("2024"),
                "{}: {text}",
                rule.name
            ),
            Action::U => {
                assert!(
                    text.is_empty() || text.starts_with("2.25."),
                    "{} {tag}: {text}",
                    rule.name
                );
                assert!(
                    !original_uids.contains(&text),
                    "{}: original UID kept",
                    rule.name
                );
            }
            _ => {}
        }
    }
    assert!(checked > 0);
}

#[test]
fn nothing_the_basic_profile_removes_survives_at_any_depth() {
    let before = everything();
    let mut after = before.clone();
    let mut p = Pseudonyms::new(b"test");
    let done = deidentify(&mut after, Profile::Basic, &mut p);
    assert_profile_applied(&before, &after, false);
    assert!(done.removed > 2 * 270, "removed {}", done.removed);
    assert_eq!(done.original.patient_name, SECRET);
    // No marker anywhere, at any depth, in anything kept.
    let mut all = Vec::new();
    walk(&after, &mut all);
    for e in all {
        if let Ok(s) = e.to_str() {
            assert!(!s.contains(SECRET), "{} kept the marker: {s}", e.tag());
        }
    }
    assert_eq!(
        after.get(tags::PIXEL_DATA).unwrap().value(),
        before.get(tags::PIXEL_DATA).unwrap().value()
    );
    assert_eq!(
        after
            .get(tags::PATIENT_IDENTITY_REMOVED)
            .unwrap()
            .to_str()
            .unwrap(),
        "YES"
    );
}

#[test]
fn the_dates_option_keeps_dates_and_nothing_else() {
    let before = everything();
    let mut after = before.clone();
    deidentify(
        &mut after,
        Profile::BasicRetainDates,
        &mut Pseudonyms::new(b"test"),
    );
    assert_profile_applied(&before, &after, true);
    assert_eq!(
        after.get(tags::STUDY_DATE).unwrap().to_str().unwrap(),
        "20240229"
    );
    assert!(after.get(tags::PATIENT_ADDRESS).is_none());
    let mut off = before.clone();
    deidentify(&mut off, Profile::Off, &mut Pseudonyms::new(b"test"));
    assert!(
        format!("{off:?}") == format!("{before:?}"),
        "the off profile changed the data set"
    );
}

#[test]
fn the_fixtures_lose_what_the_profile_removes_keep_their_pixels_and_share_uids() {
    let Some(dir) = cruciate_testkit::fixture("dicom/pydicom/test_files") else {
        return;
    };
    let mut p = Pseudonyms::new(b"fixtures");
    let mut seen = 0;
    let names = [
        "MR_small.dcm",
        "CT_small.dcm",
        "test-SR.dcm",
        "MR_small_implicit.dcm",
        "rtplan.dcm",
        "nested_priv_SQ.dcm",
        "examples_overlay.dcm",
    ];
    let mut series_uids = Vec::new();
    for name in names {
        let path = dir.join(name);
        assert!(path.exists(), "fixture {} is missing", path.display());
        let file = dicom_object::open_file(&path).unwrap();
        let before: InMemDicomObject = file.into_inner();
        let mut after = before.clone();
        deidentify(&mut after, Profile::Basic, &mut p);
        assert_profile_applied(&before, &after, false);
        assert_eq!(
            after.get(tags::PIXEL_DATA).map(|e| e.value().clone()),
            before.get(tags::PIXEL_DATA).map(|e| e.value().clone()),
            "{name}: pixel data changed"
        );
        if let Some(s) = before.get(tags::SERIES_INSTANCE_UID) {
            series_uids.push((
                s.to_str().unwrap().to_string(),
                after
                    .get(tags::SERIES_INSTANCE_UID)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            ));
        }
        seen += 1;
    }
    assert_eq!(seen, names.len());
    // MR_small and its implicit twin are one instance in two encodings: the same UIDs map to the
    // same pseudonyms.
    let mr: Vec<_> = series_uids
        .iter()
        .filter(|(o, _)| o == &series_uids[0].0)
        .collect();
    assert!(mr.len() >= 2);
    assert!(mr.iter().all(|(_, n)| n == &mr[0].1));
    assert_ne!(series_uids[0].0, series_uids[0].1);
}
