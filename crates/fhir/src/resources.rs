//! The three FHIR R4 resources of a report, with the elements Cruciate fills.

use serde::Serialize;

use crate::types::{Annotation, CodeableConcept, Identifier, Quantity, Reference};

/// A resource held inside the report (R4 `contained`), tagged with its `resourceType`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType")]
pub enum Contained {
    /// A finding.
    Observation(Box<Observation>),
    /// The model.
    Device(Box<Device>),
}

/// The exam's report (R4 `DiagnosticReport`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "DiagnosticReport")]
pub struct DiagnosticReport {
    /// Its logical id (the exam's).
    pub id: String,
    /// The findings and the model.
    pub contained: Vec<Contained>,
    /// The exam in Cruciate, and the study by its DICOM UID.
    pub identifier: Vec<Identifier>,
    /// `preliminary`: a model's reading, for a radiologist to confirm.
    pub status: String,
    /// Radiology.
    pub category: Vec<CodeableConcept>,
    /// What the report is.
    pub code: CodeableConcept,
    /// The patient, by identifier, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When the report was made (an instant).
    pub issued: String,
    /// The imaging study read, by its DICOM UID.
    #[serde(rename = "imagingStudy", skip_serializing_if = "Vec::is_empty")]
    pub imaging_study: Vec<Reference>,
    /// The observations, one per finding.
    pub result: Vec<Reference>,
    /// Every finding in a sentence, and the notices.
    pub conclusion: String,
}

/// One finding (R4 `Observation`); its `resourceType` is written by [`Contained`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// Its id within the report.
    pub id: String,
    /// `preliminary`, as the report.
    pub status: String,
    /// Imaging.
    pub category: Vec<CodeableConcept>,
    /// The finding asked about.
    pub code: CodeableConcept,
    /// The patient, as the report's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When it was made.
    pub issued: String,
    /// The call, where it is shown.
    #[serde(
        rename = "valueCodeableConcept",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<CodeableConcept>,
    /// Why there is no call (not analysed: outside the model's domain).
    #[serde(rename = "dataAbsentReason", skip_serializing_if = "Option::is_none")]
    pub data_absent_reason: Option<CodeableConcept>,
    /// Where the finding lies.
    #[serde(rename = "bodySite")]
    pub body_site: CodeableConcept,
    /// The model that made it.
    pub device: Reference,
    /// The notices, and why the exam is outside the model's domain where it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    /// The probability and the grade set, where the call is shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<Component>,
}

/// A part of an observation (R4 `Observation.component`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// What it is.
    pub code: CodeableConcept,
    /// A probability.
    #[serde(rename = "valueQuantity", skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// A text (the grade set).
    #[serde(rename = "valueString", skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The model (R4 `Device`): software, with its name, version and file hash; its
/// `resourceType` is written by [`Contained`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    /// Its id within the report.
    pub id: String,
    /// The model file's SHA-256, where known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// The model's name.
    #[serde(rename = "deviceName")]
    pub device_name: Vec<DeviceName>,
    /// Software.
    #[serde(rename = "type")]
    pub kind: CodeableConcept,
    /// The software's version.
    pub version: Vec<DeviceVersion>,
    /// What it is for (research, synthetic training data).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// A device's name (R4 `Device.deviceName`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceName {
    /// The name.
    pub name: String,
    /// `model-name`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A device's version (R4 `Device.version`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceVersion {
    /// The version.
    pub value: String,
}
