//! De-identification, the same for every source, done inside an analyser process (where a
//! crafted instance can cost an analyser, never the server): an instance received by the
//! DICOM node ([`receive_instance`]) and every instance of an uploaded DICOM exam
//! ([`deidentify_upload`]) are checked with the project's reader, de-identified by the PS3.15
//! profile in force with the service's pseudonym secret, and written as Part 10 files. What
//! they were (the original identity, the UID pseudonyms) goes back to the service, which keeps
//! it in the database only, so that results re-link to the original study and nothing under
//! the data folder names the patient.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cruciate_deid::{Profile, Pseudonyms, deidentify};
use cruciate_dimse::uid::is_valid_uid;
use cruciate_volume::ReadOptions;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use serde::{Deserialize, Serialize};

use crate::analysis::upload_limits;
use crate::job::JobError;

/// How instances are de-identified: the profile and the pseudonym secret (it travels to the
/// analyser on its private standard input, never on a command line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deidentification {
    /// The PS3.15 profile.
    pub profile: Profile,
    /// The secret pseudonyms derive from.
    pub secret: String,
}

/// What a C-STORE request said the instance is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// AffectedSOPClassUID.
    pub sop_class_uid: String,
    /// AffectedSOPInstanceUID.
    pub sop_instance_uid: String,
}

/// What de-identified instances were, for the database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identities {
    /// Original UID -> its pseudonym.
    pub uid_map: Vec<(String, String)>,
    /// Each study's original identity (JSON), by its stored StudyInstanceUID.
    pub studies: Vec<(String, String)>,
}

impl Identities {
    fn add(&mut self, stored_study: &str, identity: String, pseudonyms: &Pseudonyms) {
        for (a, b) in pseudonyms.uid_map() {
            if !self.uid_map.iter().any(|(o, _)| o == a) {
                self.uid_map.push((a.to_string(), b.to_string()));
            }
        }
        if !self.studies.iter().any(|(s, _)| s == stored_study) {
            self.studies.push((stored_study.to_string(), identity));
        }
    }
}

/// An instance received and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedInstance {
    /// Its SOPInstanceUID as stored.
    pub sop_instance_uid: String,
    /// Its StudyInstanceUID as stored.
    pub study_uid: String,
    /// What it was.
    pub identities: Identities,
}

/// An uploaded DICOM exam, de-identified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeidentifiedUpload {
    /// Instances written.
    pub instances: usize,
    /// Files of the upload that were not DICOM instances (left out).
    pub skipped: usize,
    /// What they were.
    pub identities: Identities,
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

/// De-identifies `obj` and writes it to `out`; its stored SOP Instance and Study UIDs.
fn keep(
    mut obj: InMemDicomObject,
    ts: &str,
    deid: &Deidentification,
    out: &Path,
    identities: &mut Identities,
) -> Result<(String, String), JobError> {
    let mut pseudonyms = Pseudonyms::new(deid.secret.as_bytes());
    let done = deidentify(&mut obj, deid.profile, &mut pseudonyms);
    let uid = text(&obj, tags::SOP_INSTANCE_UID).unwrap_or_default();
    let study = text(&obj, tags::STUDY_INSTANCE_UID).unwrap_or_default();
    if !is_valid_uid(&uid) || !is_valid_uid(&study) {
        return Err(JobError::bad_exam("invalid SOP Instance or Study UID"));
    }
    let bytes = part10(&obj, ts).map_err(JobError::internal)?;
    cruciate_volume::atomic::write_atomically(out, |w| w.write_all(&bytes))
        .map_err(|e| JobError::internal(format!("{}: {e}", out.display())))?;
    let identity = serde_json::to_string(&done.original).map_err(JobError::internal)?;
    identities.add(&study, identity, &pseudonyms);
    Ok((uid, study))
}

/// Checks the Part 10 file `input` (one received instance) with the project's reader,
/// de-identifies it and writes it to `out`.
pub fn receive_instance(
    input: &Path,
    expected: &Expected,
    deid: &Deidentification,
    out: &Path,
) -> Result<ReceivedInstance, JobError> {
    let bytes = std::fs::read(input).map_err(|e| JobError::internal(e.to_string()))?;
    // Parsed (after the readers' preflight checks), then read as an image: one it cannot read
    // (truncated pixels, a codec it lacks, a wrong transfer syntax) is refused now, not found
    // out at analysis. The bytes go to the reader without a copy.
    let options = ReadOptions {
        limits: upload_limits(),
        ..ReadOptions::default()
    };
    let name = Path::new("instance");
    let refused = |e: cruciate_volume::ReadError| {
        JobError::bad_exam(e.to_string().trim_start_matches("instance: "))
    };
    let file = cruciate_volume::dicom::parse_instance(name, &bytes).map_err(refused)?;
    cruciate_volume::read_bytes(name, bytes, &options).map_err(refused)?;
    let ts = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let obj = file.into_inner();
    if text(&obj, tags::SOP_INSTANCE_UID).as_deref() != Some(expected.sop_instance_uid.as_str())
        || text(&obj, tags::SOP_CLASS_UID).as_deref() != Some(expected.sop_class_uid.as_str())
    {
        return Err(JobError::bad_exam(
            "SOP class or instance differs from the request",
        ));
    }
    if text(&obj, tags::STUDY_INSTANCE_UID).is_none_or(|u| !is_valid_uid(&u)) {
        return Err(JobError::bad_exam("no valid StudyInstanceUID"));
    }
    let mut identities = Identities::default();
    let (sop_instance_uid, study_uid) = keep(obj, &ts, deid, out, &mut identities)?;
    Ok(ReceivedInstance {
        sop_instance_uid,
        study_uid,
        identities,
    })
}

/// Writes every DICOM instance of the upload at `input` (a zip, a folder, a file),
/// de-identified, as `out/NNNNN.dcm`. An instance that cannot be parsed is skipped, as the
/// readers skip it (the analysis notes what it left out).
pub fn deidentify_upload(
    input: &Path,
    deid: &Deidentification,
    out: &Path,
) -> Result<DeidentifiedUpload, JobError> {
    let instances =
        cruciate_volume::dicom::instances(input, &upload_limits()).map_err(JobError::bad_exam)?;
    std::fs::create_dir_all(out).map_err(|e| JobError::internal(e.to_string()))?;
    let mut identities = Identities::default();
    let (mut written, mut skipped) = (0, 0);
    for (path, bytes) in instances {
        let Ok(file) = cruciate_volume::dicom::parse_instance(&path, &bytes) else {
            skipped += 1;
            continue;
        };
        drop(bytes);
        let ts = file
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        let target: PathBuf = out.join(format!("{written:05}.dcm"));
        match keep(file.into_inner(), &ts, deid, &target, &mut identities) {
            Ok(_) => written += 1,
            Err(_) => skipped += 1,
        }
    }
    if written == 0 {
        return Err(JobError::bad_exam(format!(
            "{}: no DICOM instance to read",
            input.display()
        )));
    }
    Ok(DeidentifiedUpload {
        instances: written,
        skipped,
        identities,
    })
}
