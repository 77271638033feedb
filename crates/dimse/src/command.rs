//! The DIMSE command sets of the verification and storage services (PS3.7 9.3), always in
//! implicit VR little endian.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

/// Success.
pub const SUCCESS: u16 = 0x0000;
/// Refused: SOP class not supported.
pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
/// Unrecognised operation.
pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
/// Refused: out of resources (an instance above the size cap).
pub const OUT_OF_RESOURCES: u16 = 0xA700;
/// Error: data set does not match SOP class.
pub const DATASET_DOES_NOT_MATCH: u16 = 0xA900;
/// Error: cannot understand.
pub const CANNOT_UNDERSTAND: u16 = 0xC000;

/// What a C-STORE status means, in words (PS3.4 B.2.3, PS3.7 C), for messages.
pub fn status_meaning(status: u16) -> &'static str {
    match status {
        SUCCESS => "success",
        SOP_CLASS_NOT_SUPPORTED => {
            "SOP class not supported: the receiver does not accept this kind of object"
        }
        UNRECOGNIZED_OPERATION => "unrecognised operation",
        0x0124 => "not authorised",
        0xA700..=0xA7FF => "out of resources",
        0xA900..=0xA9FF => "data set does not match the SOP class",
        0xB000 | 0xB007 | 0xB006 => "stored with a warning",
        0xC000..=0xCFFF => "cannot understand",
        _ => "refused",
    }
}

const C_STORE_RQ: u16 = 0x0001;
const C_STORE_RSP: u16 = 0x8001;
const C_ECHO_RQ: u16 = 0x0030;
const C_ECHO_RSP: u16 = 0x8030;
const NO_DATA_SET: u16 = 0x0101;
const DATA_SET: u16 = 0x0000;

/// A request received by the SCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// C-ECHO-RQ.
    Echo {
        /// MessageID.
        message_id: u16,
    },
    /// C-STORE-RQ; the data set follows.
    Store {
        /// MessageID.
        message_id: u16,
        /// AffectedSOPClassUID.
        sop_class_uid: String,
        /// AffectedSOPInstanceUID.
        sop_instance_uid: String,
    },
    /// Anything else (answered "unrecognized operation").
    Other {
        /// CommandField.
        command_field: u16,
        /// MessageID.
        message_id: u16,
        /// Whether a data set follows.
        has_data_set: bool,
    },
}

/// Encodes a command set.
pub fn encode(obj: &InMemDicomObject) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    obj.write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .expect("a command set of plain elements encodes");
    out
}

/// The largest command set accepted (a real one is under 200 bytes).
pub const MAX_COMMAND_BYTES: usize = 16 * 1024;

/// Walks the implicit VR little endian elements of a command set: each declared length must
/// fit in what remains (the parser would otherwise reserve whatever a peer declares), and a
/// command set has no sequences.
fn check_lengths(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() > MAX_COMMAND_BYTES {
        return Err(format!("command set of {} bytes", bytes.len()));
    }
    let mut pos = 0usize;
    while pos < bytes.len() {
        let header = bytes
            .get(pos..pos + 8)
            .ok_or("command set ends inside an element header")?;
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if length == 0xFFFF_FFFF || length > bytes.len() - pos - 8 {
            return Err("command element longer than the command set".into());
        }
        pos += 8 + length;
    }
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<InMemDicomObject, String> {
    check_lengths(bytes)?;
    InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| format!("unreadable command set: {e}"))
}

fn number(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<u16> {
    obj.get(tag).and_then(|e| e.to_int::<u16>().ok())
}

fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| crate::uid::trimmed(&s).to_string())
        .unwrap_or_default()
}

/// Reads a request's command set.
pub fn parse_request(bytes: &[u8]) -> Result<Request, String> {
    let obj = decode(bytes)?;
    let field = number(&obj, tags::COMMAND_FIELD).ok_or("command set without CommandField")?;
    let message_id = number(&obj, tags::MESSAGE_ID).unwrap_or(0);
    Ok(match field {
        C_ECHO_RQ => Request::Echo { message_id },
        C_STORE_RQ => Request::Store {
            message_id,
            sop_class_uid: text(&obj, tags::AFFECTED_SOP_CLASS_UID),
            sop_instance_uid: text(&obj, tags::AFFECTED_SOP_INSTANCE_UID),
        },
        other => Request::Other {
            command_field: other,
            message_id,
            has_data_set: number(&obj, tags::COMMAND_DATA_SET_TYPE) != Some(NO_DATA_SET),
        },
    })
}

/// Reads a response's Status.
pub fn parse_status(bytes: &[u8]) -> Result<u16, String> {
    let obj = decode(bytes)?;
    number(&obj, tags::STATUS).ok_or_else(|| "response without Status".into())
}

fn us(tag: dicom_core::Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(v))
}

fn ui(tag: dicom_core::Tag, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(v))
}

/// C-ECHO-RQ.
pub fn echo_request(message_id: u16) -> Vec<u8> {
    encode(&InMemDicomObject::command_from_element_iter([
        ui(tags::AFFECTED_SOP_CLASS_UID, uids::VERIFICATION),
        us(tags::COMMAND_FIELD, C_ECHO_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
    ]))
}

/// C-ECHO-RSP.
pub fn echo_response(message_id: u16) -> Vec<u8> {
    encode(&InMemDicomObject::command_from_element_iter([
        ui(tags::AFFECTED_SOP_CLASS_UID, uids::VERIFICATION),
        us(tags::COMMAND_FIELD, C_ECHO_RSP),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, message_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        us(tags::STATUS, SUCCESS),
    ]))
}

/// C-STORE-RQ.
pub fn store_request(message_id: u16, sop_class_uid: &str, sop_instance_uid: &str) -> Vec<u8> {
    encode(&InMemDicomObject::command_from_element_iter([
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class_uid),
        us(tags::COMMAND_FIELD, C_STORE_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::PRIORITY, 0),
        us(tags::COMMAND_DATA_SET_TYPE, DATA_SET),
        ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance_uid),
    ]))
}

/// C-STORE-RSP with `status` (and, for a failure, a short comment).
pub fn store_response(
    message_id: u16,
    sop_class_uid: &str,
    sop_instance_uid: &str,
    status: u16,
    comment: Option<&str>,
) -> Vec<u8> {
    let mut elements = vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class_uid),
        us(tags::COMMAND_FIELD, C_STORE_RSP),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, message_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        us(tags::STATUS, status),
        ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance_uid),
    ];
    if let Some(c) = comment {
        // ErrorComment is LO: 64 characters at most.
        let c: String = c.chars().filter(|c| !c.is_control()).take(64).collect();
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(c),
        ));
    }
    encode(&InMemDicomObject::command_from_element_iter(elements))
}

/// The response to an operation this SCP does not offer.
pub fn unrecognized_response(command_field: u16, message_id: u16) -> Vec<u8> {
    encode(&InMemDicomObject::command_from_element_iter([
        us(tags::COMMAND_FIELD, command_field | 0x8000),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, message_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        us(tags::STATUS, UNRECOGNIZED_OPERATION),
    ]))
}

/// Whether a status means the instance was stored (success or warning).
pub fn is_stored(status: u16) -> bool {
    status == SUCCESS
        || status == 0x0001
        || status == 0x0107
        || status == 0x0116
        || (0xB000..=0xBFFF).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_named() {
        assert!(status_meaning(0x0122).contains("does not accept"));
        assert_eq!(status_meaning(0xA702), "out of resources");
        assert_eq!(status_meaning(0xC123), "cannot understand");
        assert_eq!(status_meaning(0xFFFF), "refused");
    }

    #[test]
    fn requests_and_responses_read_back() {
        let rq = store_request(7, uids::MR_IMAGE_STORAGE, "1.2.3");
        assert_eq!(
            parse_request(&rq).unwrap(),
            Request::Store {
                message_id: 7,
                sop_class_uid: uids::MR_IMAGE_STORAGE.into(),
                sop_instance_uid: "1.2.3".into()
            }
        );
        assert_eq!(
            parse_request(&echo_request(3)).unwrap(),
            Request::Echo { message_id: 3 }
        );
        let rsp = store_response(
            7,
            uids::MR_IMAGE_STORAGE,
            "1.2.3",
            CANNOT_UNDERSTAND,
            Some("bad\npixels"),
        );
        assert_eq!(parse_status(&rsp).unwrap(), CANNOT_UNDERSTAND);
        assert!(parse_request(b"\x01\x02").is_err());
        // A declared 4 GiB value is refused before the parser sees it.
        let mut huge = rq.clone();
        huge.extend_from_slice(&[0x00, 0x00, 0x00, 0x09, 0xFE, 0xFF, 0xFF, 0xFF]);
        assert!(parse_request(&huge).unwrap_err().contains("longer"));
        assert!(is_stored(SUCCESS) && !is_stored(CANNOT_UNDERSTAND));
    }
}
