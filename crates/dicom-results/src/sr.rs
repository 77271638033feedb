//! The Comprehensive SR report of one exam, in the shape of TID 1500 (Measurement Report): one
//! measurement group per finding reported (the anterior cruciate ligament, a meniscal tear, an
//! abnormal knee; a reading of the whole knee has several) holding the coded call, its
//! probability, the algorithm and the notices, inferred from the key slices of the series it
//! was seen on.
//!
//! Codes: DICOM's own (DCM) for the report's structure; SNOMED CT (SCT) for the finding sites
//! (`Finding::snomed_site`: knee joint 49076000 and meniscus 74135004, checked against DICOM
//! PS3.16's code dictionary as pydicom 3.0.2 ships it; the anterior cruciate ligament of knee
//! joint 895007, from FHIR R4's SNOMED CT body-site value set) and for the two disorders a positive
//! call names, 444470001 "Injury of anterior cruciate ligament" and 239720000 "Tear of meniscus
//! of knee" (as Synthea's injuries module codes them, concepts of the SNOMED CT International
//! release; no release was at hand to check them in); local codes (99CRUCIATE) for the rest.
//! The medial and lateral menisci are not told apart (a tear of either is the finding), and no
//! checked concept was found for the ACL's grades, which stay local rather than be written from
//! memory. Every SNOMED CT identifier's check digit is tested.

use dicom_core::value::Value;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use crate::ResultError;
use crate::context::{ResultContext, derived_uid};
use crate::items::{Code, Item, LOCAL, sequence, sop_reference, text};
use crate::sc::{sc_instance_uid, sc_series_uid};
use crate::seg::{SEGMENTATION_STORAGE, SegmentKind, seg_instance_uid};
use dicom_core::VR;

/// The series number of the SR document.
pub const SR_SERIES_NUMBER: u32 = 9900;

const FINDING: Code = Code("121071", "DCM", "Finding");
const GRADES: [Code; 4] = [
    Code("ACL-G0", LOCAL, "ACL healthy (grade 0)"),
    Code("ACL-G1", LOCAL, "ACL minor strain (grade 1)"),
    Code("ACL-G2", LOCAL, "ACL partial rupture (grade 2)"),
    Code("ACL-G3", LOCAL, "ACL complete rupture (grade 3)"),
];
const KEY_SLICE: Code = Code("KEY-SLICE", LOCAL, "Key slice");
const KEY_PICTURE: Code = Code("KEY-SLICE-SC", LOCAL, "Key slice with explanation");

/// The codes of one finding's report (SNOMED CT where a concept could be checked; see the
/// module's notes).
struct FindingCodes {
    /// The report's series description.
    title: &'static str,
    /// The measurement group's tracking identifier.
    tracking: &'static str,
    /// The finding site.
    site: Code,
    /// The probability of the positive class.
    probability: Code,
    /// The negative and positive calls of a binary model.
    negative: Code,
    positive: Code,
    /// An exam the input gate refused.
    not_analysed: Code,
    /// The conformal set of classes.
    set: Code,
}

const ACL: FindingCodes = FindingCodes {
    title: "Cruciate ACL report (not for diagnostic use)",
    tracking: "ACL",
    site: Code("895007", "SCT", "Anterior cruciate ligament of knee joint"),
    probability: Code("P-ACL-INJURY", LOCAL, "Probability of ACL injury"),
    negative: Code("ACL-HEALTHY", LOCAL, "ACL healthy"),
    positive: Code("444470001", "SCT", "Injury of anterior cruciate ligament"),
    not_analysed: Code(
        "ACL-NOT-ANALYSED",
        LOCAL,
        "Not analysed: outside the model's domain",
    ),
    set: Code(
        "ACL-GRADE-SET",
        LOCAL,
        "Grades holding the true one at the stated coverage (conformal)",
    ),
};

const MENISCUS: FindingCodes = FindingCodes {
    title: "Cruciate meniscus report (not for diagnostic use)",
    tracking: "Meniscus",
    site: Code("74135004", "SCT", "Meniscus"),
    probability: Code("P-MEN-TEAR", LOCAL, "Probability of a meniscal tear"),
    negative: Code("MEN-NO-TEAR", LOCAL, "No meniscal tear"),
    positive: Code("239720000", "SCT", "Tear of meniscus of knee"),
    not_analysed: Code(
        "MEN-NOT-ANALYSED",
        LOCAL,
        "Not analysed: outside the model's domain",
    ),
    set: Code(
        "MEN-CLASS-SET",
        LOCAL,
        "Calls holding the true one at the stated coverage (conformal)",
    ),
};

const KNEE: FindingCodes = FindingCodes {
    title: "Cruciate knee abnormality report (not for diagnostic use)",
    tracking: "Knee",
    site: Code("49076000", "SCT", "Knee joint"),
    probability: Code("P-KNEE-ABNORMAL", LOCAL, "Probability of an abnormal knee"),
    negative: Code("KNEE-NORMAL", LOCAL, "Knee normal"),
    positive: Code("KNEE-ABNORMAL", LOCAL, "Knee abnormal"),
    not_analysed: Code(
        "KNEE-UNANALYSED",
        LOCAL,
        "Not analysed: outside the model's domain",
    ),
    set: Code(
        "KNEE-CLASS-SET",
        LOCAL,
        "Calls holding the true one at the stated coverage (conformal)",
    ),
};

/// The codes of every finding, for reading reports back.
const ALL: [&FindingCodes; 3] = [&ACL, &MENISCUS, &KNEE];

/// The codes of a report about `finding`.
fn codes(finding: cruciate_data::Finding) -> &'static FindingCodes {
    match finding {
        cruciate_data::Finding::Acl => &ACL,
        cruciate_data::Finding::Meniscus => &MENISCUS,
        cruciate_data::Finding::Abnormal => &KNEE,
    }
}

/// The coded finding of a call: the grade's code, or negative / positive; "not analysed"
/// where the input gate abstained and no call is shown.
fn finding_code(ctx: &crate::Finding) -> Code {
    let codes = codes(ctx.about);
    if !ctx.call_shown() {
        return codes.not_analysed;
    }
    match ctx.grade {
        Some(g) => GRADES[usize::from(g.min(3))],
        None if ctx.injured => codes.positive,
        None => codes.negative,
    }
}

/// One finding of a report, with where it was seen.
pub struct Evidence<'a> {
    /// The finding.
    pub finding: &'a crate::Finding,
    /// The context whose series its key slices are of (a reading's finding seen on another
    /// plane than the report's context: [`ResultContext::with_series`]).
    pub seen: &'a ResultContext,
    /// The numbers of the Secondary Capture images of its key slices (made by
    /// [`crate::secondary_capture`] with the report's context's exam).
    pub pictures: Vec<usize>,
    /// The Segmentations made of it on the series it was seen on (by
    /// [`crate::seg::segmentation`] with `seen`), referenced as its segments.
    pub segmentations: Vec<SegmentKind>,
}

/// The SR document of the exam; `sc_count` Secondary Capture images (made by
/// [`crate::secondary_capture`] with the same context) are referenced.
pub fn structured_report(
    ctx: &ResultContext,
    finding: &crate::Finding,
    sc_count: usize,
) -> Result<InMemDicomObject, ResultError> {
    structured_report_of(
        ctx,
        &[Evidence {
            finding,
            seen: ctx,
            pictures: (0..sc_count).collect(),
            segmentations: Vec::new(),
        }],
    )
}

/// Checks that `finding` can be reported.
fn check(finding: &crate::Finding) -> Result<(), ResultError> {
    if finding.grade.is_some() && finding.about != cruciate_data::Finding::Acl {
        return Err(ResultError::Invalid(format!(
            "a grade for {}: only the ACL is graded",
            finding.about.describe()
        )));
    }
    if finding.call_shown() && !(0.0..=1.0).contains(&finding.injured_probability) {
        return Err(ResultError::Invalid(format!(
            "probability {} outside 0..1",
            finding.injured_probability
        )));
    }
    Ok(())
}

/// A referenced source image: its series, class, instance and frame.
type Source = (String, String, String, Option<u32>);

/// The source images of `e`'s key slices (none for a report with no call, which infers nothing
/// from any image).
fn sources_of(e: &Evidence<'_>) -> Vec<Source> {
    let Some(series) = e.seen.source_series_uid.as_ref() else {
        return Vec::new();
    };
    let keys: &[usize] = if e.finding.call_shown() {
        &e.finding.key_slices
    } else {
        &[]
    };
    keys.iter()
        .filter_map(|&s| e.seen.source_of(s))
        .map(|s| {
            (
                series.clone(),
                s.sop_class_uid.clone(),
                s.sop_instance_uid.clone(),
                (s.frame > 1).then_some(s.frame),
            )
        })
        .collect()
}

/// The SR document of the exam reporting each of `findings` in a measurement group of its own
/// (a reading of the whole knee), every referenced image listed as evidence.
pub fn structured_report_of(
    ctx: &ResultContext,
    findings: &[Evidence<'_>],
) -> Result<InMemDicomObject, ResultError> {
    if findings.is_empty() {
        return Err(ResultError::Invalid("a report of no finding".into()));
    }
    for e in findings {
        check(e.finding)?;
    }
    let title = match findings {
        [one] => codes(one.finding.about).title,
        _ => "Cruciate knee report (not for diagnostic use)",
    };
    let mut doc = InMemDicomObject::new_empty();
    ctx.common(&mut doc, "SR", &ctx.uid("sr-series"), SR_SERIES_NUMBER);
    doc.put(text(
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::COMPREHENSIVE_SR_STORAGE,
    ));
    doc.put(text(tags::SOP_INSTANCE_UID, VR::UI, &ctx.uid("sr")));
    doc.put(text(tags::SERIES_DESCRIPTION, VR::LO, title));
    doc.put(text(tags::INSTANCE_NUMBER, VR::IS, "1"));
    doc.put(text(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"));
    doc.put(text(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"));
    doc.put(sequence(
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        Vec::new(),
    ));
    doc.put(sequence(
        tags::PERFORMED_PROCEDURE_CODE_SEQUENCE,
        Vec::new(),
    ));

    // Every instance referenced in the tree, grouped by series, as evidence.
    let sources: Vec<Vec<Source>> = findings.iter().map(sources_of).collect();
    let pictures: Vec<Vec<String>> = findings
        .iter()
        .map(|e| {
            let shown = e.finding.call_shown();
            e.pictures
                .iter()
                .filter(|_| shown)
                .map(|&n| sc_instance_uid(ctx, n))
                .collect()
        })
        .collect();
    let mut series: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let all_pictures = pictures.iter().flatten().map(|p| {
        (
            sc_series_uid(ctx),
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE.to_string(),
            p.clone(),
        )
    });
    let all_sources = sources
        .iter()
        .flatten()
        .map(|(s, c, i, _)| (s.clone(), c.clone(), i.clone()));
    let all_segmentations = findings.iter().flat_map(|e| {
        e.segmentations.iter().map(|&kind| {
            (
                crate::seg::seg_series_uid(e.seen, kind),
                SEGMENTATION_STORAGE.to_string(),
                seg_instance_uid(e.seen, kind, e.finding.about),
            )
        })
    });
    for (uid, class, instance) in all_sources.chain(all_pictures).chain(all_segmentations) {
        let at = match series.iter().position(|(s, _)| *s == uid) {
            Some(at) => at,
            None => {
                series.push((uid, Vec::new()));
                series.len() - 1
            }
        };
        if !series[at].1.iter().any(|(_, i)| *i == instance) {
            series[at].1.push((class, instance));
        }
    }
    if !series.is_empty() {
        let series = series
            .iter()
            .map(|(uid, refs)| {
                let refs = refs
                    .iter()
                    .map(|(c, i)| sop_reference(c, i, None))
                    .collect();
                series_evidence(uid, refs)
            })
            .collect();
        let study = InMemDicomObject::from_element_iter([
            text(tags::STUDY_INSTANCE_UID, VR::UI, &ctx.study.study_uid),
            sequence(tags::REFERENCED_SERIES_SEQUENCE, series),
        ]);
        doc.put(sequence(
            tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
            vec![study],
        ));
    }

    let image_refs = |k: usize, relationship: &str| -> Vec<Item> {
        let mut items: Vec<Item> = sources[k]
            .iter()
            .map(|(_, class, instance, frame)| {
                Item::image(relationship, KEY_SLICE, class, instance, *frame)
            })
            .collect();
        items.extend(pictures[k].iter().map(|p| {
            Item::image(
                relationship,
                KEY_PICTURE,
                uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
                p,
                None,
            )
        }));
        items
    };
    let mut measurements = Item::container(
        Some("CONTAINS"),
        Code("126010", "DCM", "Imaging Measurements"),
    );
    for (k, e) in findings.iter().enumerate() {
        let group = measurement_group(ctx, e.finding, || image_refs(k, "INFERRED FROM"));
        measurements = measurements.with(segment_references(e, group));
    }
    let mut library = Item::container(Some("CONTAINS"), Code("111028", "DCM", "Image Library"));
    let mut listed: Vec<String> = Vec::new();
    for k in 0..findings.len() {
        let uids = sources[k]
            .iter()
            .map(|s| s.2.clone())
            .chain(pictures[k].iter().cloned());
        for (r, uid) in image_refs(k, "CONTAINS").into_iter().zip(uids) {
            if !listed.contains(&uid) {
                listed.push(uid);
                library = library.with(r);
            }
        }
    }
    let root = Item::container(None, Code("126000", "DCM", "Imaging Measurement Report"))
        .with(Item::code(
            "HAS CONCEPT MOD",
            Code("121049", "DCM", "Language of Content Item and Descendants"),
            Code("eng", "RFC5646", "English"),
        ))
        .with(Item::code(
            "HAS OBS CONTEXT",
            Code("121005", "DCM", "Observer Type"),
            Code("121007", "DCM", "Device"),
        ))
        .with(Item::uid(
            "HAS OBS CONTEXT",
            Code("121012", "DCM", "Device Observer UID"),
            &derived_uid(&format!("device/{}", ctx.algorithm.name)),
        ))
        .with(Item::text(
            "HAS OBS CONTEXT",
            Code("121013", "DCM", "Device Observer Name"),
            &ctx.algorithm.name,
        ))
        .with(Item::code(
            "HAS CONCEPT MOD",
            Code("121058", "DCM", "Procedure reported"),
            Code("KNEE-MR", LOCAL, "MR of the knee"),
        ))
        .with(library)
        .with(measurements);
    root.into_root(&mut doc);
    Ok(doc)
}

/// `group` with a reference to each segment made of its finding (TID 1411's Referenced
/// Segment, with the source series the segmentation is of).
fn segment_references(e: &Evidence<'_>, group: Item) -> Item {
    let Some(series) = e.seen.source_series_uid.as_deref() else {
        return group;
    };
    if e.segmentations.is_empty() {
        return group;
    }
    let group = e.segmentations.iter().fold(group, |group, &kind| {
        group.with(Item::segment(
            "CONTAINS",
            Code("121214", "DCM", "Referenced Segment"),
            &seg_instance_uid(e.seen, kind, e.finding.about),
            1,
        ))
    });
    group.with(Item::uid(
        "CONTAINS",
        Code("121232", "DCM", "Source series for segmentation"),
        series,
    ))
}

/// The measurement group of `finding`: its tracking identifiers, finding site, coded call,
/// probability and grade set (each inferred from the images `refs` gives), the algorithm and
/// the notices.
fn measurement_group(
    ctx: &ResultContext,
    finding: &crate::Finding,
    refs: impl Fn() -> Vec<Item>,
) -> Item {
    let shown = finding.call_shown();
    let codes = codes(finding.about);
    let finding_item = refs().into_iter().fold(
        Item::code("CONTAINS", FINDING, finding_code(finding)),
        Item::with,
    );
    let probability = shown.then(|| {
        refs().into_iter().fold(
            Item::num(
                "CONTAINS",
                codes.probability,
                finding.injured_probability,
                Code("1", "UCUM", "no units"),
            ),
            Item::with,
        )
    });
    let comment = match &finding.outside_domain {
        None => ctx.notices.join(" "),
        Some(o) if o.call_shown => format!(
            "Outside the model's domain, shown by an administrator: {}. {}",
            o.reasons,
            ctx.notices.join(" ")
        ),
        Some(o) => format!("Not analysed: {}. {}", o.reasons, ctx.notices.join(" ")),
    };
    let group = Item::container(Some("CONTAINS"), Code("125007", "DCM", "Measurement Group"))
        .with(Item::text(
            "CONTAINS",
            Code("112039", "DCM", "Tracking Identifier"),
            codes.tracking,
        ))
        .with(Item::uid(
            "CONTAINS",
            Code("112040", "DCM", "Tracking Unique Identifier"),
            &ctx.uid(&format!("tracking/{}", finding.about.name())),
        ))
        .with(Item::code(
            "HAS CONCEPT MOD",
            Code("363698007", "SCT", "Finding Site"),
            codes.site,
        ))
        .with(finding_item);
    let group = match probability {
        Some(p) => group.with(p),
        None => group,
    };
    let group = match finding.grade_set.as_deref().filter(|_| shown) {
        Some(set) => group.with(Item::text("CONTAINS", codes.set, set)),
        None => group,
    };
    group
        .with(Item::text(
            "CONTAINS",
            Code("111001", "DCM", "Algorithm Name"),
            &ctx.algorithm.name,
        ))
        .with(Item::text(
            "CONTAINS",
            Code("111003", "DCM", "Algorithm Version"),
            &ctx.algorithm.version,
        ))
        .with(Item::text(
            "CONTAINS",
            Code("121106", "DCM", "Comment"),
            &comment,
        ))
}

fn series_evidence(series_uid: &str, refs: Vec<InMemDicomObject>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
        sequence(tags::REFERENCED_SOP_SEQUENCE, refs),
    ])
}

/// The finding an SR document made by [`structured_report`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedFinding {
    /// The finding's code value (`ACL-G0`...`ACL-G3`, `ACL-HEALTHY`, SNOMED CT's `444470001`
    /// for an injured ACL, `MEN-NO-TEAR`, SNOMED CT's `239720000` for a meniscal tear,
    /// `KNEE-ABNORMAL`, ...).
    pub code: String,
    /// Its meaning.
    pub meaning: String,
    /// The probability of injury; none in a "not analysed" report.
    pub injured_probability: Option<f64>,
    /// The report's comment (the notices; why the exam was not analysed).
    pub comment: String,
    /// The conformal grade set in words, where the report has one.
    pub grade_set: Option<String>,
}

/// Reads the finding back from an SR document's bytes (Part 10): its first measurement
/// group's.
pub fn read_finding(bytes: &[u8]) -> Result<ReportedFinding, ResultError> {
    read_findings(bytes)?
        .into_iter()
        .next()
        .ok_or_else(|| ResultError::Invalid("no Finding in the document".into()))
}

/// Reads every finding back from an SR document's bytes (Part 10), one per measurement group,
/// in order.
pub fn read_findings(bytes: &[u8]) -> Result<Vec<ReportedFinding>, ResultError> {
    // Part 10: a 128-byte preamble, then `DICM` and the meta group.
    let body = match bytes.get(128..132) {
        Some(b"DICM") => &bytes[128..],
        _ => bytes,
    };
    let obj = dicom_object::from_reader(body).map_err(|e| ResultError::Encoding(e.to_string()))?;
    let mut groups = Vec::new();
    visit(&obj, &mut |item| {
        if concept_value(item, tags::CONCEPT_NAME_CODE_SEQUENCE).as_deref() == Some("125007") {
            groups.push(item.clone());
        }
    });
    if groups.is_empty() {
        return Err(ResultError::Invalid("no Finding in the document".into()));
    }
    groups.iter().map(group_finding).collect()
}

/// The finding one measurement group reports.
fn group_finding(group: &InMemDicomObject) -> Result<ReportedFinding, ResultError> {
    let mut code = None;
    let mut probability = None;
    let mut comment = String::new();
    let mut grade_set = None;
    let text_value = |item: &InMemDicomObject| {
        item.get(tags::TEXT_VALUE)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    visit(group, &mut |item| {
        let concept = concept_value(item, tags::CONCEPT_NAME_CODE_SEQUENCE);
        match concept.as_deref() {
            Some("121071") => code = first_code(item, tags::CONCEPT_CODE_SEQUENCE),
            Some("121106") => comment = text_value(item).unwrap_or_default(),
            Some(v) if ALL.iter().any(|c| c.set.0 == v) => grade_set = text_value(item),
            Some(v) if ALL.iter().any(|c| c.probability.0 == v) => {
                probability = item
                    .get(tags::MEASURED_VALUE_SEQUENCE)
                    .and_then(|e| e.items())
                    .and_then(|i| i.first())
                    .and_then(|m| m.get(tags::NUMERIC_VALUE))
                    .and_then(|e| e.to_str().ok())
                    .and_then(|s| s.trim().parse::<f64>().ok());
            }
            _ => {}
        }
    });
    let (code, meaning) =
        code.ok_or_else(|| ResultError::Invalid("no Finding in the document".into()))?;
    if probability.is_none() && !ALL.iter().any(|c| c.not_analysed.0 == code) {
        return Err(ResultError::Invalid(
            "no probability in the document".into(),
        ));
    }
    Ok(ReportedFinding {
        code,
        meaning,
        injured_probability: probability,
        comment,
        grade_set,
    })
}

fn visit(obj: &InMemDicomObject, f: &mut impl FnMut(&InMemDicomObject)) {
    f(obj);
    if let Some(Value::Sequence(seq)) = obj.get(tags::CONTENT_SEQUENCE).map(|e| e.value()) {
        for item in seq.items() {
            visit(item, f);
        }
    }
}

fn first_code(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<(String, String)> {
    let item = obj.get(tag)?.items()?.first()?;
    let get = |t| {
        item.get(t)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    Some((get(tags::CODE_VALUE)?, get(tags::CODE_MEANING)?))
}

fn concept_value(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    first_code(obj, tag).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_lies_in_its_snomed_body_structure() {
        for (codes, finding) in [
            (&ACL, cruciate_data::Finding::Acl),
            (&MENISCUS, cruciate_data::Finding::Meniscus),
            (&KNEE, cruciate_data::Finding::Abnormal),
        ] {
            let (id, term) = finding.snomed_site();
            assert_eq!(
                (codes.site.0, codes.site.1, codes.site.2),
                (id, "SCT", term)
            );
        }
    }

    #[test]
    fn a_positive_call_is_coded_by_the_findings_snomed_disorder() {
        for (codes, finding) in [
            (&ACL, cruciate_data::Finding::Acl),
            (&MENISCUS, cruciate_data::Finding::Meniscus),
        ] {
            let (id, term) = finding.snomed_disorder().unwrap();
            assert_eq!(codes.positive.0, id);
            assert_eq!(codes.positive.1, "SCT");
            assert_eq!(codes.positive.2, term);
        }
        assert_eq!(cruciate_data::Finding::Abnormal.snomed_disorder(), None);
    }

    #[test]
    fn every_code_value_fits_the_short_string_of_16_characters() {
        for c in ALL {
            for code in [
                c.site,
                c.probability,
                c.negative,
                c.positive,
                c.not_analysed,
                c.set,
            ]
            .iter()
            .chain(&GRADES)
            {
                assert!(code.0.len() <= 16, "{} is too long for SH", code.0);
            }
        }
    }
}
