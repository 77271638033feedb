//! The storage SCU: C-ECHO and C-STORE requests to a peer.

use std::time::Duration;

use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::Pdu;
use dicom_ul::association::client::{AsyncClientAssociation, ClientAssociationOptions};
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextResultReason};
use tokio::net::TcpStream;

use crate::DimseError;
use crate::command;

/// A peer to send to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Its AE title.
    pub ae_title: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.ae_title, self.host, self.port)
    }
}

impl std::str::FromStr for Destination {
    type Err = String;
    /// `AE@host:port`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("destination {s:?}: expected AE@host:port");
        let (ae, rest) = s.split_once('@').ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        if ae.is_empty() || ae.len() > 16 || host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            ae_title: ae.into(),
            host: host.into(),
            port,
        })
    }
}

/// An instance to send.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A data set, encoded in whichever uncompressed transfer syntax the peer accepts.
    Object(Box<InMemDicomObject>),
    /// Bytes already encoded in one transfer syntax, sent as they are (tests send damaged data
    /// this way).
    Raw {
        /// SOPClassUID.
        sop_class_uid: String,
        /// SOPInstanceUID.
        sop_instance_uid: String,
        /// The transfer syntax of `bytes`.
        transfer_syntax: String,
        /// The encoded data set.
        bytes: Vec<u8>,
    },
}

impl Outgoing {
    fn uid(&self, tag: dicom_core::Tag) -> String {
        match self {
            Outgoing::Object(obj) => obj
                .get(tag)
                .and_then(|e| e.to_str().ok())
                .map(|s| crate::uid::trimmed(&s).to_string())
                .unwrap_or_default(),
            Outgoing::Raw {
                sop_class_uid,
                sop_instance_uid,
                ..
            } => {
                if tag == tags::SOP_CLASS_UID {
                    sop_class_uid.clone()
                } else {
                    sop_instance_uid.clone()
                }
            }
        }
    }

    fn transfer_syntaxes(&self) -> Vec<String> {
        match self {
            Outgoing::Object(_) => vec![
                uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
                uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
            ],
            Outgoing::Raw {
                transfer_syntax, ..
            } => vec![transfer_syntax.clone()],
        }
    }

    fn encode(&self, ts_uid: &str) -> Result<Vec<u8>, DimseError> {
        match self {
            Outgoing::Raw { bytes, .. } => Ok(bytes.clone()),
            Outgoing::Object(obj) => {
                let fail = |message: String| DimseError::Encode {
                    what: self.uid(tags::SOP_INSTANCE_UID),
                    message,
                };
                let ts = TransferSyntaxRegistry
                    .get(ts_uid)
                    .ok_or_else(|| fail(format!("unknown transfer syntax {ts_uid}")))?;
                let mut out = Vec::new();
                obj.write_dataset_with_ts(&mut out, ts)
                    .map_err(|e| fail(e.to_string()))?;
                Ok(out)
            }
        }
    }
}

/// The peer's answer to one C-STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOutcome {
    /// SOPInstanceUID sent.
    pub sop_instance_uid: String,
    /// The status the peer answered.
    pub status: u16,
}

impl StoreOutcome {
    /// Whether the peer kept it.
    pub fn stored(&self) -> bool {
        command::is_stored(self.status)
    }
}

type Association = AsyncClientAssociation<TcpStream>;

async fn open(
    calling_ae: &str,
    to: &Destination,
    contexts: &[(String, Vec<String>)],
    timeout: Duration,
) -> Result<Association, DimseError> {
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(calling_ae.to_string())
        .called_ae_title(to.ae_title.clone())
        .read_timeout(timeout)
        .write_timeout(timeout)
        .connection_timeout(timeout);
    for (class, syntaxes) in contexts {
        options = options.with_presentation_context(class.clone(), syntaxes.clone());
    }
    options
        .establish_async((to.host.as_str(), to.port))
        .await
        .map_err(|e| DimseError::Association {
            peer: to.to_string(),
            message: e.to_string(),
        })
}

async fn response(association: &mut Association, to: &Destination) -> Result<u16, DimseError> {
    let protocol = |message: String| DimseError::Protocol {
        peer: to.to_string(),
        message,
    };
    let mut bytes = Vec::new();
    loop {
        let pdu = association
            .receive()
            .await
            .map_err(|e| protocol(format!("no response: {e}")))?;
        let Pdu::PData { data } = pdu else {
            return Err(protocol(format!("unexpected {}", pdu.short_description())));
        };
        for value in data {
            if value.value_type == PDataValueType::Command {
                bytes.extend_from_slice(&value.data);
                if value.is_last {
                    return command::parse_status(&bytes).map_err(protocol);
                }
            }
        }
    }
}

/// Sends a C-ECHO to `to` as `calling_ae`.
pub async fn echo(calling_ae: &str, to: &Destination, timeout: Duration) -> Result<(), DimseError> {
    let contexts = [(
        uids::VERIFICATION.to_string(),
        vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string()],
    )];
    let mut association = open(calling_ae, to, &contexts, timeout).await?;
    let id = association
        .presentation_contexts()
        .first()
        .map(|pc| pc.id)
        .unwrap_or(1);
    association
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command::echo_request(1),
            }],
        })
        .await
        .map_err(|e| DimseError::Protocol {
            peer: to.to_string(),
            message: e.to_string(),
        })?;
    let status = response(&mut association, to).await?;
    let _ = association.release().await;
    if status == command::SUCCESS {
        Ok(())
    } else {
        Err(DimseError::Protocol {
            peer: to.to_string(),
            message: format!("C-ECHO status {status:04X}H"),
        })
    }
}

/// Sends `instances` to `to` in one association as `calling_ae`; the peer's status for each.
pub async fn store(
    calling_ae: &str,
    to: &Destination,
    instances: &[Outgoing],
    timeout: Duration,
) -> Result<Vec<StoreOutcome>, DimseError> {
    let mut contexts: Vec<(String, Vec<String>)> = Vec::new();
    for i in instances {
        let key = (i.uid(tags::SOP_CLASS_UID), i.transfer_syntaxes());
        if !contexts.contains(&key) {
            contexts.push(key);
        }
    }
    let mut association = open(calling_ae, to, &contexts, timeout).await?;
    let accepted: Vec<(u8, String, String)> = association
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .map(|pc| {
            (
                pc.id,
                pc.abstract_syntax.clone(),
                pc.transfer_syntax.clone(),
            )
        })
        .collect();
    let max_pdu = association.acceptor_max_pdu_length().max(4096) as usize;
    let mut outcomes = Vec::with_capacity(instances.len());
    for (n, instance) in instances.iter().enumerate() {
        let class = instance.uid(tags::SOP_CLASS_UID);
        let uid = instance.uid(tags::SOP_INSTANCE_UID);
        let offered = instance.transfer_syntaxes();
        let Some((id, _, ts)) = accepted.iter().find(|(_, a, t)| {
            a.trim_end_matches('\0') == class
                && offered.iter().any(|o| o == t.trim_end_matches('\0'))
        }) else {
            outcomes.push(StoreOutcome {
                sop_instance_uid: uid,
                status: command::SOP_CLASS_NOT_SUPPORTED,
            });
            continue;
        };
        let data = instance.encode(ts.trim_end_matches('\0'))?;
        let protocol = |e: String| DimseError::Protocol {
            peer: to.to_string(),
            message: e,
        };
        association
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: *id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: command::store_request((n + 1) as u16, &class, &uid),
                }],
            })
            .await
            .map_err(|e| protocol(e.to_string()))?;
        // Fragments that fit the peer's maximum PDU length (less the PDV item's 6-byte header).
        let chunk = max_pdu.saturating_sub(16).max(1024);
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(chunk).collect()
        };
        let last = pieces.len() - 1;
        for (k, piece) in pieces.into_iter().enumerate() {
            association
                .send(&Pdu::PData {
                    data: vec![PDataValue {
                        presentation_context_id: *id,
                        value_type: PDataValueType::Data,
                        is_last: k == last,
                        data: piece.to_vec(),
                    }],
                })
                .await
                .map_err(|e| protocol(e.to_string()))?;
        }
        let status = response(&mut association, to).await?;
        outcomes.push(StoreOutcome {
            sop_instance_uid: uid,
            status,
        });
    }
    let _ = association.release().await;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_read_from_ae_at_host_colon_port() {
        let d: Destination = "ORTHANC@127.0.0.1:4242".parse().unwrap();
        assert_eq!(d.ae_title, "ORTHANC");
        assert_eq!(d.port, 4242);
        assert_eq!(d.to_string(), "ORTHANC@127.0.0.1:4242");
        for bad in ["ORTHANC", "@h:1", "A@h", "A@h:x", "ABCDEFGHIJKLMNOPQ@h:1"] {
            assert!(bad.parse::<Destination>().is_err(), "{bad}");
        }
    }
}
