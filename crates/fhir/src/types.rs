//! The FHIR R4 data types the reports use, each with the fields Cruciate fills: absent
//! fields are left out of the JSON, as FHIR asks (no `null`, no empty arrays).

use serde::Serialize;

/// A code from a code system (R4 `Coding`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    /// The code system's URI.
    pub system: String,
    /// The code.
    pub code: String,
    /// Its meaning, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    /// A code of `system` with its display text.
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Self {
            system: system.into(),
            code: code.into(),
            display: Some(display.into()),
        }
    }
}

/// A concept: codes and a text (R4 `CodeableConcept`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeableConcept {
    /// Its codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// One code, its display as the text.
    pub fn coded(coding: Coding) -> Self {
        Self {
            text: coding.display.clone(),
            coding: vec![coding],
        }
    }

    /// A text without codes.
    pub fn text(text: &str) -> Self {
        Self {
            coding: Vec::new(),
            text: Some(text.into()),
        }
    }
}

/// An identifier in a namespace (R4 `Identifier`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    /// The namespace's URI.
    pub system: String,
    /// The value.
    pub value: String,
}

/// A reference to another resource (R4 `Reference`): a contained one (`#id`), or one known by
/// an identifier with its type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    /// `#id` of a contained resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The resource type referred to by identifier.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The identifier of a resource not contained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// Text for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    /// The contained resource `id`.
    pub fn contained(id: &str) -> Self {
        Self {
            reference: Some(format!("#{id}")),
            kind: None,
            identifier: None,
            display: None,
        }
    }

    /// A resource of type `kind` known by `identifier`.
    pub fn by_identifier(kind: &str, identifier: Identifier) -> Self {
        Self {
            reference: None,
            kind: Some(kind.into()),
            identifier: Some(identifier),
            display: None,
        }
    }
}

/// A measured amount (R4 `Quantity`), with a UCUM unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// The value.
    pub value: f64,
    /// The unit, for people.
    pub unit: String,
    /// UCUM.
    pub system: String,
    /// The UCUM code.
    pub code: String,
}

impl Quantity {
    /// A probability, as a dimensionless ratio (UCUM `1`).
    pub fn probability(value: f64) -> Self {
        Self {
            value: (value * 1e4).round() / 1e4,
            unit: "probability".into(),
            system: "http://unitsofmeasure.org".into(),
            code: "1".into(),
        }
    }
}

/// A note (R4 `Annotation`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    /// Its text (markdown).
    pub text: String,
}
