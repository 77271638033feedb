//! Building blocks of SR content trees (PS3.3 C.17.3): coded concepts and content items.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// A coded concept: value, scheme, meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code(pub &'static str, pub &'static str, pub &'static str);

/// The local coding scheme of concepts the standard's code sets lack.
pub(crate) const LOCAL: &str = "99CRUCIATE";

impl Code {
    pub fn item(self) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([
            text(tags::CODE_VALUE, VR::SH, self.0),
            text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, self.1),
            text(tags::CODE_MEANING, VR::LO, self.2),
        ])
    }
}

pub(crate) fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

pub(crate) fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
}

/// A content item: relationship (absent at the root), value type, concept name, value.
pub(crate) struct Item {
    obj: InMemDicomObject,
    children: Vec<InMemDicomObject>,
}

impl Item {
    fn new(relationship: Option<&str>, value_type: &str, concept: Code) -> Self {
        let mut obj = InMemDicomObject::new_empty();
        if let Some(r) = relationship {
            obj.put(text(tags::RELATIONSHIP_TYPE, VR::CS, r));
        }
        obj.put(text(tags::VALUE_TYPE, VR::CS, value_type));
        obj.put(sequence(
            tags::CONCEPT_NAME_CODE_SEQUENCE,
            vec![concept.item()],
        ));
        Self {
            obj,
            children: Vec::new(),
        }
    }

    pub fn container(relationship: Option<&str>, concept: Code) -> Self {
        let mut item = Self::new(relationship, "CONTAINER", concept);
        item.obj
            .put(text(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"));
        item
    }

    pub fn text(relationship: &str, concept: Code, value: &str) -> Self {
        let mut item = Self::new(Some(relationship), "TEXT", concept);
        item.obj.put(text(tags::TEXT_VALUE, VR::UT, value));
        item
    }

    pub fn code(relationship: &str, concept: Code, value: Code) -> Self {
        let mut item = Self::new(Some(relationship), "CODE", concept);
        item.obj
            .put(sequence(tags::CONCEPT_CODE_SEQUENCE, vec![value.item()]));
        item
    }

    pub fn uid(relationship: &str, concept: Code, value: &str) -> Self {
        let mut item = Self::new(Some(relationship), "UIDREF", concept);
        item.obj.put(text(tags::UID, VR::UI, value));
        item
    }

    pub fn num(relationship: &str, concept: Code, value: f64, unit: Code) -> Self {
        let mut item = Self::new(Some(relationship), "NUM", concept);
        let measured = InMemDicomObject::from_element_iter([
            text(tags::NUMERIC_VALUE, VR::DS, &format!("{value:.4}")),
            sequence(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, vec![unit.item()]),
        ]);
        item.obj
            .put(sequence(tags::MEASURED_VALUE_SEQUENCE, vec![measured]));
        item
    }

    /// An IMAGE item referencing `(class, instance, frame)`; the frame only for multi-frame
    /// sources (`frame > 0`).
    pub fn image(
        relationship: &str,
        concept: Code,
        class: &str,
        instance: &str,
        frame: Option<u32>,
    ) -> Self {
        let mut item = Self::new(Some(relationship), "IMAGE", concept);
        item.obj.put(sequence(
            tags::REFERENCED_SOP_SEQUENCE,
            vec![sop_reference(class, instance, frame)],
        ));
        item
    }

    /// An IMAGE item referencing segment `segment` of the Segmentation `instance`.
    pub fn segment(relationship: &str, concept: Code, instance: &str, segment: u16) -> Self {
        let mut item = Self::new(Some(relationship), "IMAGE", concept);
        let mut reference = sop_reference(crate::seg::SEGMENTATION_STORAGE, instance, None);
        reference.put(DataElement::new(
            tags::REFERENCED_SEGMENT_NUMBER,
            VR::US,
            PrimitiveValue::from(segment),
        ));
        item.obj
            .put(sequence(tags::REFERENCED_SOP_SEQUENCE, vec![reference]));
        item
    }

    /// Adds a child item.
    pub fn with(mut self, child: Item) -> Self {
        self.children.push(child.build());
        self
    }

    /// The item with its children, as a data set.
    pub fn build(mut self) -> InMemDicomObject {
        if !self.children.is_empty() {
            self.obj
                .put(sequence(tags::CONTENT_SEQUENCE, self.children));
        }
        self.obj
    }

    /// The root item's attributes, merged into the document.
    pub fn into_root(self, document: &mut InMemDicomObject) {
        for e in self.build().into_iter() {
            document.put(e);
        }
    }
}

/// A ReferencedSOPSequence item.
pub(crate) fn sop_reference(class: &str, instance: &str, frame: Option<u32>) -> InMemDicomObject {
    let mut r = InMemDicomObject::from_element_iter([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, class),
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, instance),
    ]);
    if let Some(f) = frame {
        r.put(text(tags::REFERENCED_FRAME_NUMBER, VR::IS, &f.to_string()));
    }
    r
}
