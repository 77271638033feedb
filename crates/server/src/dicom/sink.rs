//! Where the storage SCP puts what it receives: each instance is read, checked with the
//! project's own reader, de-identified, written under `incoming/STUDY/` and noted in the
//! database (the pseudonym map, the study's original identity, the arrival time).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cruciate_deid::{Profile, Pseudonyms, deidentify};
use cruciate_dimse::command::{CANNOT_UNDERSTAND, DATASET_DOES_NOT_MATCH, OUT_OF_RESOURCES};
use cruciate_dimse::uid::is_valid_uid;
use cruciate_dimse::{InstanceSink, Received, Refusal};
use cruciate_volume::ReadOptions;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use sha2::{Digest, Sha256};

use crate::analysis::upload_limits;
use crate::store::Store;

/// The sink of the service's storage SCP.
pub(crate) struct StudySink {
    /// `DATA/incoming`.
    pub incoming: PathBuf,
    /// De-identification applied before storage.
    pub profile: Profile,
    /// The pseudonym secret.
    pub secret: Vec<u8>,
    /// The database.
    pub store: Store,
    /// The runtime the database calls run on.
    pub runtime: tokio::runtime::Handle,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty())
}

/// `obj` as Part 10 bytes in transfer syntax `ts` (explicit VR little endian when that one
/// cannot be written, as for deflated data sets).
fn part10(obj: &InMemDicomObject, ts: &str) -> Result<Vec<u8>, String> {
    let write = |ts: &str| -> Result<Vec<u8>, String> {
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid(text(obj, tags::SOP_CLASS_UID).unwrap_or_default())
            .media_storage_sop_instance_uid(text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default())
            .implementation_version_name("CRUCIATE")
            .build()
            .map_err(|e| e.to_string())?;
        let file = obj.clone().with_exact_meta(meta);
        let mut out = Vec::new();
        file.write_all(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };
    write(ts).or_else(|_| write(uids::EXPLICIT_VR_LITTLE_ENDIAN))
}

/// The folder of a study from a caller: a digest, so that no received text names a path.
pub(crate) fn study_folder(calling_ae: &str, study_uid: &str) -> String {
    let d = Sha256::digest(format!("{calling_ae}\0{study_uid}").as_bytes());
    d[..10].iter().map(|b| format!("{b:02x}")).collect()
}

impl StudySink {
    /// The instance as received, wrapped as a Part 10 file without parsing it.
    fn wrapped(instance: &Received) -> Result<Vec<u8>, Refusal> {
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(instance.transfer_syntax.as_str())
            .media_storage_sop_class_uid(instance.sop_class_uid.as_str())
            .media_storage_sop_instance_uid(instance.sop_instance_uid.as_str())
            .build()
            .map_err(|e| refuse(CANNOT_UNDERSTAND, e.to_string()))?;
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICM");
        meta.write(&mut file)
            .map_err(|e| refuse(CANNOT_UNDERSTAND, e.to_string()))?;
        file.extend_from_slice(&instance.data_set);
        Ok(file)
    }

    fn read(&self, instance: &Received) -> Result<InMemDicomObject, Refusal> {
        // The project's own reader first, on the bytes as received: its preflight refuses
        // declared lengths past the data and runaway nesting before any parser allocates, and
        // an image it cannot read (truncated pixels, a codec it lacks, a wrong transfer
        // syntax) is refused now, not found out at analysis.
        let file = Self::wrapped(instance)?;
        let options = ReadOptions {
            limits: upload_limits(),
            ..ReadOptions::default()
        };
        cruciate_volume::read_bytes(Path::new("instance"), file, &options).map_err(|e| {
            let message = e.to_string();
            refuse(
                CANNOT_UNDERSTAND,
                message.trim_start_matches("instance: ").to_string(),
            )
        })?;
        let ts = TransferSyntaxRegistry
            .get(&instance.transfer_syntax)
            .ok_or_else(|| refuse(CANNOT_UNDERSTAND, "unknown transfer syntax"))?;
        let bytes = &instance.data_set;
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            InMemDicomObject::read_dataset_with_ts(bytes.as_slice(), ts)
        }));
        let obj = match parsed {
            Ok(Ok(obj)) => obj,
            Ok(Err(e)) => {
                return Err(refuse(
                    CANNOT_UNDERSTAND,
                    format!("unreadable data set: {e}"),
                ));
            }
            Err(_) => return Err(refuse(CANNOT_UNDERSTAND, "unreadable data set")),
        };
        if text(&obj, tags::SOP_INSTANCE_UID).as_deref() != Some(instance.sop_instance_uid.as_str())
            || text(&obj, tags::SOP_CLASS_UID).as_deref() != Some(instance.sop_class_uid.as_str())
        {
            return Err(refuse(
                DATASET_DOES_NOT_MATCH,
                "SOP class or instance differs from the request",
            ));
        }
        if text(&obj, tags::STUDY_INSTANCE_UID).is_none_or(|u| !is_valid_uid(&u)) {
            return Err(refuse(DATASET_DOES_NOT_MATCH, "no valid StudyInstanceUID"));
        }
        Ok(obj)
    }

    fn keep(&self, mut obj: InMemDicomObject, instance: &Received) -> Result<(), Refusal> {
        let mut pseudonyms = Pseudonyms::new(&self.secret);
        let done = deidentify(&mut obj, self.profile, &mut pseudonyms);
        let uid = text(&obj, tags::SOP_INSTANCE_UID).unwrap_or_default();
        let study = text(&obj, tags::STUDY_INSTANCE_UID).unwrap_or_default();
        if !is_valid_uid(&uid) || !is_valid_uid(&study) {
            return Err(refuse(
                DATASET_DOES_NOT_MATCH,
                "invalid SOP Instance or Study UID",
            ));
        }
        let folder = study_folder(&instance.calling_ae, &study);
        let dir = self.incoming.join(&folder);
        let busy = |e: String| refuse(OUT_OF_RESOURCES, format!("cannot store: {e}"));
        std::fs::create_dir_all(&dir).map_err(|e| busy(e.to_string()))?;
        let bytes = part10(&obj, &instance.transfer_syntax).map_err(busy)?;
        cruciate_volume::atomic::write_atomically(&dir.join(format!("{uid}.dcm")), |w| {
            w.write_all(&bytes)
        })
        .map_err(|e| busy(e.to_string()))?;
        let pairs: Vec<(String, String)> = pseudonyms
            .uid_map()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let identity = serde_json::to_string(&done.original).expect("identity serialises");
        let store = self.store.clone();
        let calling = instance.calling_ae.clone();
        self.runtime
            .block_on(async move {
                store.record_uids(&pairs).await?;
                store.record_study_identity(&study, &identity).await?;
                store.record_arrival(&folder, &study, &calling).await
            })
            .map_err(|e| busy(e.to_string()))
    }
}

impl InstanceSink for StudySink {
    fn store(&self, instance: Received) -> Result<(), Refusal> {
        if !cruciate_dimse::scp::MR_STORAGE_CLASSES.contains(&instance.sop_class_uid.as_str()) {
            return Err(refuse(DATASET_DOES_NOT_MATCH, "not an MR image"));
        }
        let obj = self.read(&instance)?;
        self.keep(obj, &instance)
    }
}
