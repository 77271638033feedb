//! A report built from what the service knows of one exam: the findings called (or not
//! analysed, and why), the model, the notices.

use cruciate_data::Finding;

use crate::CRUCIATE_SYSTEM;
use crate::Device;
use crate::resources::{
    Component, Contained, DeviceName, DeviceVersion, DiagnosticReport, Observation,
};
use crate::types::{Annotation, CodeableConcept, Coding, Identifier, Quantity, Reference};

const SNOMED: &str = "http://snomed.info/sct";
const DEVICE_ID: &str = "model";

/// What one exam's report says.
#[derive(Debug, Clone, PartialEq)]
pub struct ExamReport {
    /// The exam's id in Cruciate.
    pub exam_id: String,
    /// When the analysis ended, an instant (`2026-12-07T10:00:00Z`).
    pub issued: String,
    /// The patient's id as the hospital knows it (re-linked after de-identification), where
    /// known.
    pub patient_id: Option<String>,
    /// The DICOM StudyInstanceUID, where the exam has one.
    pub study_uid: Option<String>,
    /// The model.
    pub device: ModelDevice,
    /// One entry per finding.
    pub findings: Vec<FindingReport>,
    /// "Not for diagnostic use", the model's notice.
    pub notices: Vec<String>,
}

/// The model that made the calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDevice {
    /// Its name.
    pub name: String,
    /// The software and its version.
    pub version: String,
    /// The model file's SHA-256.
    pub sha256: Option<String>,
}

/// One finding of an exam.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingReport {
    /// The finding.
    pub finding: Finding,
    /// The call, where it is shown.
    pub call: Option<ShownCall>,
    /// Why the exam is outside the model's domain, where the input gate said so (with a call,
    /// an admin had it shown anyway).
    pub outside_domain: Option<String>,
    /// The conformal grade set in words, where there is one.
    pub grade_set: Option<String>,
}

/// A call as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownCall {
    /// Its class name ("partial rupture", "meniscal tear").
    pub label: String,
    /// The probability that the finding is present.
    pub probability: f64,
    /// Whether the call says the finding is there (an injured ACL at any grade, a tear, an
    /// abnormal knee).
    pub present: bool,
}

/// Where a finding lies: its SNOMED CT body structure (the SR's finding site).
fn body_site(finding: Finding) -> CodeableConcept {
    let (id, term) = finding.snomed_site();
    CodeableConcept::coded(Coding::new(SNOMED, id, term))
}

fn cruciate(code: &str, display: &str) -> CodeableConcept {
    CodeableConcept::coded(Coding::new(CRUCIATE_SYSTEM, code, display))
}

/// A call as a concept: Cruciate's code for the label, and for a positive call the SNOMED CT
/// disorder where the finding has one.
fn call_value(finding: Finding, call: &ShownCall) -> CodeableConcept {
    let mut value = cruciate(
        &format!("{}-{}", finding.name(), call.label.replace(' ', "-")),
        &call.label,
    );
    if let Some((id, term)) = finding.snomed_disorder().filter(|_| call.present) {
        value.coding.push(Coding::new(SNOMED, id, term));
    }
    value
}

/// The observation of one finding.
fn observation(report: &ExamReport, subject: &Option<Reference>, f: &FindingReport) -> Observation {
    let mut note: Vec<Annotation> = Vec::new();
    if let Some(reasons) = &f.outside_domain {
        note.push(Annotation {
            text: format!("Outside the model's domain: {reasons}"),
        });
    }
    note.extend(
        report
            .notices
            .iter()
            .map(|n| Annotation { text: n.clone() }),
    );
    let mut component = Vec::new();
    if let Some(call) = &f.call {
        component.push(Component {
            code: cruciate(
                &format!("{}-probability", f.finding.name()),
                &format!("Probability of {}", f.finding.describe()),
            ),
            quantity: Some(Quantity::probability(call.probability)),
            text: None,
        });
        if let Some(set) = &f.grade_set {
            component.push(Component {
                code: cruciate(
                    "conformal-set",
                    "Calls holding the true one at the stated coverage (conformal)",
                ),
                quantity: None,
                text: Some(set.clone()),
            });
        }
    }
    Observation {
        id: f.finding.name().into(),
        status: "preliminary".into(),
        category: vec![CodeableConcept::coded(Coding::new(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "imaging",
            "Imaging",
        ))],
        code: cruciate(f.finding.name(), f.finding.describe()),
        subject: subject.clone(),
        issued: report.issued.clone(),
        value: f.call.as_ref().map(|c| call_value(f.finding, c)),
        data_absent_reason: match (&f.call, &f.outside_domain) {
            (None, reasons) => Some(CodeableConcept {
                coding: vec![Coding::new(
                    "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "not-performed",
                    "Not Performed",
                )],
                text: Some(format!(
                    "Not analysed: {}",
                    reasons.as_deref().unwrap_or("no call")
                )),
            }),
            (Some(_), _) => None,
        },
        body_site: body_site(f.finding),
        device: Reference::contained(DEVICE_ID),
        note,
        component,
    }
}

/// The report's one-paragraph conclusion: each finding, then the notices.
fn conclusion(report: &ExamReport) -> String {
    let mut parts: Vec<String> = report
        .findings
        .iter()
        .map(|f| match &f.call {
            Some(c) => format!(
                "{}: {} (P {:.2}){}",
                f.finding.describe(),
                c.label,
                c.probability,
                if f.outside_domain.is_some() {
                    ", outside the model's domain"
                } else {
                    ""
                }
            ),
            None => format!(
                "{}: not analysed ({})",
                f.finding.describe(),
                f.outside_domain.as_deref().unwrap_or("no call")
            ),
        })
        .collect();
    parts.extend(report.notices.iter().cloned());
    parts.join(". ")
}

/// The FHIR R4 `DiagnosticReport` of `report`: an `Observation` per finding and the model as a
/// `Device`, contained.
pub fn diagnostic_report(report: &ExamReport) -> DiagnosticReport {
    let subject = report.patient_id.as_ref().map(|id| {
        Reference::by_identifier(
            "Patient",
            Identifier {
                system: "urn:cruciate:patient-id".into(),
                value: id.clone(),
            },
        )
    });
    let device = Device {
        id: DEVICE_ID.into(),
        identifier: report
            .device
            .sha256
            .iter()
            .map(|h| Identifier {
                system: "urn:cruciate:model-sha256".into(),
                value: h.clone(),
            })
            .collect(),
        device_name: vec![DeviceName {
            name: report.device.name.clone(),
            kind: "model-name".into(),
        }],
        kind: CodeableConcept::text("Software: a machine-learning model reading knee MRI"),
        version: vec![DeviceVersion {
            value: report.device.version.clone(),
        }],
        note: report
            .notices
            .iter()
            .map(|n| Annotation { text: n.clone() })
            .collect(),
    };
    let observations: Vec<Observation> = report
        .findings
        .iter()
        .map(|f| observation(report, &subject, f))
        .collect();
    let study = |uid: &String| Identifier {
        system: "urn:dicom:uid".into(),
        value: format!("urn:oid:{uid}"),
    };
    let mut identifier = vec![Identifier {
        system: "urn:cruciate:exam".into(),
        value: report.exam_id.clone(),
    }];
    identifier.extend(report.study_uid.iter().map(study));
    DiagnosticReport {
        id: report.exam_id.clone(),
        result: observations
            .iter()
            .map(|o| Reference::contained(&o.id))
            .collect(),
        contained: observations
            .into_iter()
            .map(|o| Contained::Observation(Box::new(o)))
            .chain(std::iter::once(Contained::Device(Box::new(device))))
            .collect(),
        identifier,
        status: "preliminary".into(),
        category: vec![CodeableConcept::coded(Coding::new(
            "http://terminology.hl7.org/CodeSystem/v2-0074",
            "RAD",
            "Radiology",
        ))],
        code: cruciate("knee-mri-reading", "Knee MRI reading by a model"),
        subject,
        issued: report.issued.clone(),
        imaging_study: report
            .study_uid
            .iter()
            .map(|uid| Reference::by_identifier("ImagingStudy", study(uid)))
            .collect(),
        conclusion: conclusion(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: Vec<FindingReport>) -> ExamReport {
        ExamReport {
            exam_id: "e1".into(),
            issued: "2026-12-07T10:00:00Z".into(),
            patient_id: Some("P-7".into()),
            study_uid: Some("1.2.3".into()),
            device: ModelDevice {
                name: "demo".into(),
                version: "cruciate 0.1.0".into(),
                sha256: Some("ab12".into()),
            },
            findings,
            notices: vec!["Not for diagnostic use.".into()],
        }
    }

    #[test]
    fn each_finding_is_an_observation_of_the_report_and_the_model_a_device() {
        let r = report(vec![
            FindingReport {
                finding: Finding::Acl,
                call: Some(ShownCall {
                    label: "partial rupture".into(),
                    probability: 0.81234,
                    present: true,
                }),
                outside_domain: None,
                grade_set: Some("partial or complete, 90 %".into()),
            },
            FindingReport {
                finding: Finding::Meniscus,
                call: None,
                outside_domain: Some("coronal plane (ImageOrientationPatient)".into()),
                grade_set: None,
            },
        ]);
        let json = serde_json::to_value(diagnostic_report(&r)).unwrap();
        assert_eq!(json["resourceType"], "DiagnosticReport");
        assert_eq!(json["result"][1]["reference"], "#meniscus");
        let contained = json["contained"].as_array().unwrap();
        let types: Vec<&str> = contained
            .iter()
            .map(|c| c["resourceType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Observation", "Observation", "Device"]);
        let acl = &contained[0];
        assert_eq!(acl["valueCodeableConcept"]["text"], "partial rupture");
        let codings = &acl["valueCodeableConcept"]["coding"];
        assert_eq!(codings[0]["code"], "acl-partial-rupture");
        assert_eq!(codings[1]["system"], "http://snomed.info/sct");
        assert_eq!(codings[1]["code"], "444470001", "an injured ACL");
        assert_eq!(acl["component"][0]["valueQuantity"]["value"], 0.8123);
        assert_eq!(
            acl["component"][1]["valueString"],
            "partial or complete, 90 %"
        );
        assert_eq!(acl["device"]["reference"], "#model");
        let men = &contained[1];
        assert!(men.get("valueCodeableConcept").is_none(), "{men}");
        assert_eq!(
            men["dataAbsentReason"]["coding"][0]["code"],
            "not-performed"
        );
        assert_eq!(men["bodySite"]["coding"][0]["code"], "74135004");
        assert_eq!(acl["bodySite"]["coding"][0]["code"], "895007");
        assert!(men.get("component").is_none(), "no figures without a call");
        assert_eq!(contained[2]["deviceName"][0]["type"], "model-name");
        assert_eq!(json["subject"]["identifier"]["value"], "P-7");
        assert_eq!(
            json["imagingStudy"][0]["identifier"]["value"],
            "urn:oid:1.2.3"
        );
        let conclusion = json["conclusion"].as_str().unwrap();
        assert!(
            conclusion.starts_with(
                "ACL tear: partial rupture (P 0.81). meniscal tear: not analysed (coronal"
            ),
            "{conclusion}"
        );
        assert!(
            conclusion.ends_with("Not for diagnostic use."),
            "{conclusion}"
        );
        // FHIR has no nulls and no empty arrays.
        let text = json.to_string();
        assert!(!text.contains("null") && !text.contains("[]"), "{text}");
    }
}
