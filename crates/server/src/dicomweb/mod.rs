//! DICOMweb (PS3.18): the server side under `/dicomweb` (STOW-RS, in `crate::api`) and the
//! client of a PACS's DICOMweb (QIDO-RS search, WADO-RS retrieve, STOW-RS of the results).

pub mod archive;
pub mod client;
pub mod held;
pub mod matching;
pub mod multipart;

use serde_json::{Value, json};

/// One instance of a store request as it was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// SOP Class UID, where the instance could be read.
    pub class_uid: Option<String>,
    /// SOP Instance UID, where the instance could be read.
    pub instance_uid: Option<String>,
    /// `None`: stored; else the failure reason (PS3.18 Table 10.5.3-2 / PS3.4 C.4.2.1.4).
    pub failure: Option<u16>,
}

/// The failure reason "Processing failure" (PS3.4 Annex C).
pub const PROCESSING_FAILURE: u16 = 0x0110;
/// The failure reason "Cannot understand".
pub const CANNOT_UNDERSTAND: u16 = 0xC000;

/// The store response (PS3.18 Table 10.5.3-1) in DICOM JSON: the instances stored
/// (ReferencedSOPSequence) and those not (FailedSOPSequence, with their reasons).
pub fn response(outcomes: &[Outcome]) -> Value {
    let uid = |v: &Option<String>| json!({"vr": "UI", "Value": v.iter().collect::<Vec<_>>()});
    let item = |o: &Outcome| {
        let mut item = serde_json::Map::new();
        item.insert("00081150".into(), uid(&o.class_uid));
        item.insert("00081155".into(), uid(&o.instance_uid));
        if let Some(reason) = o.failure {
            item.insert("00081197".into(), json!({"vr": "US", "Value": [reason]}));
        }
        Value::Object(item)
    };
    let stored: Vec<Value> = outcomes
        .iter()
        .filter(|o| o.failure.is_none())
        .map(item)
        .collect();
    let failed: Vec<Value> = outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .map(item)
        .collect();
    let mut body = serde_json::Map::new();
    if !stored.is_empty() {
        body.insert("00081199".into(), json!({"vr": "SQ", "Value": stored}));
    }
    if !failed.is_empty() {
        body.insert("00081198".into(), json!({"vr": "SQ", "Value": failed}));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_lists_stored_and_failed_instances_with_reasons() {
        let r = response(&[
            Outcome {
                class_uid: Some("1.2.840.10008.5.1.4.1.1.4".into()),
                instance_uid: Some("1.2.3".into()),
                failure: None,
            },
            Outcome {
                class_uid: None,
                instance_uid: None,
                failure: Some(CANNOT_UNDERSTAND),
            },
        ]);
        assert_eq!(r["00081199"]["Value"][0]["00081155"]["Value"][0], "1.2.3");
        assert_eq!(r["00081198"]["Value"][0]["00081197"]["Value"][0], 0xC000);
        assert!(
            r["00081198"]["Value"][0]["00081155"]["Value"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}
