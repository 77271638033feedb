//! Where the storage SCP puts what it receives. The SCP spools each data set to a file as it
//! arrives (`incoming/.spool/`), so the server holds a PDU of it, never the instance; the sink
//! wraps it as a Part 10 file and hands it to an analyser ([`crate::deidentify`]), which checks
//! it with the project's reader and de-identifies it there. Only then is it moved under
//! `incoming/STUDY/`, its pseudonyms, original identity and arrival recorded, and success
//! answered: what the node acknowledges is on disk and in the database.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cruciate_dimse::command::{CANNOT_UNDERSTAND, DATASET_DOES_NOT_MATCH, OUT_OF_RESOURCES};
use cruciate_dimse::uid::is_valid_uid;
use cruciate_dimse::{InstanceSink, Received, Refusal};
use dicom_object::meta::FileMetaTableBuilder;
use sha2::{Digest, Sha256};

use crate::context::ServiceContext;
use crate::deidentify::{Expected, ReceivedInstance};
use crate::job::{Answer, FailureKind, Job, JobError};
use crate::store::random_hex;

/// The sink of the service's storage SCP.
pub(crate) struct StudySink {
    /// The service.
    pub ctx: ServiceContext,
    /// `DATA/incoming`.
    pub incoming: PathBuf,
    /// Receives in progress, which keep their studies from looking quiet.
    pub receiving: super::Receiving,
    /// The runtime the analyser and database calls run on.
    pub runtime: tokio::runtime::Handle,
}

/// Where the SCP spools data sets, and the sink its files in passing.
pub(crate) fn spool(incoming: &Path) -> PathBuf {
    incoming.join(".spool")
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// The DIMSE status for a job that failed.
fn refusal(e: &JobError) -> Refusal {
    let status = match e.kind {
        FailureKind::BadExam | FailureKind::Model | FailureKind::Internal => CANNOT_UNDERSTAND,
        FailureKind::OverLimits
        | FailureKind::TimedOut
        | FailureKind::Interrupted
        | FailureKind::Unavailable => OUT_OF_RESOURCES,
    };
    refuse(status, e.message.clone())
}

/// The folder of a study from a caller: a digest, so that no received text names a path.
pub(crate) fn study_folder(calling_ae: &str, study_uid: &str) -> String {
    let d = Sha256::digest(format!("{calling_ae}\0{study_uid}").as_bytes());
    d[..10].iter().map(|b| format!("{b:02x}")).collect()
}

/// A file removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl StudySink {
    /// The instance as received, written as a Part 10 file at `path` without parsing it or
    /// holding it in memory.
    fn wrap(instance: &Received, path: &Path) -> Result<(), Refusal> {
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(instance.transfer_syntax.as_str())
            .media_storage_sop_class_uid(instance.sop_class_uid.as_str())
            .media_storage_sop_instance_uid(instance.sop_instance_uid.as_str())
            .build()
            .map_err(|e| refuse(CANNOT_UNDERSTAND, e.to_string()))?;
        let busy = |e: std::io::Error| refuse(OUT_OF_RESOURCES, format!("cannot store: {e}"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(busy)?);
        file.write_all(&[0u8; 128]).map_err(busy)?;
        file.write_all(b"DICM").map_err(busy)?;
        meta.write(&mut file)
            .map_err(|e| refuse(CANNOT_UNDERSTAND, e.to_string()))?;
        instance.data_set.copy_to(&mut file).map_err(busy)?;
        file.flush().map_err(busy)
    }

    /// Files the kept instance under its study's folder and records it.
    fn file(&self, calling_ae: &str, out: &Path, kept: ReceivedInstance) -> Result<(), Refusal> {
        if !is_valid_uid(&kept.sop_instance_uid) || !is_valid_uid(&kept.study_uid) {
            return Err(refuse(
                DATASET_DOES_NOT_MATCH,
                "invalid SOP Instance or Study UID",
            ));
        }
        let busy = |e: String| refuse(OUT_OF_RESOURCES, format!("cannot store: {e}"));
        let folder = study_folder(calling_ae, &kept.study_uid);
        let dir = self.incoming.join(&folder);
        std::fs::create_dir_all(&dir).map_err(|e| busy(e.to_string()))?;
        std::fs::rename(out, dir.join(format!("{}.dcm", kept.sop_instance_uid)))
            .map_err(|e| busy(e.to_string()))?;
        let ctx = self.ctx.clone();
        let calling = calling_ae.to_string();
        self.runtime
            .block_on(async move {
                ctx.remember(&kept.identities).await?;
                ctx.store
                    .record_arrival(&folder, &kept.study_uid, &calling)
                    .await
            })
            .map_err(|e| busy(e.to_string()))
    }
}

impl InstanceSink for StudySink {
    fn store(&self, instance: Received) -> Result<(), Refusal> {
        let ae = instance.calling_ae.clone();
        self.receiving.note(&ae, true);
        let stored = self.check_and_file(instance);
        self.receiving.note(&ae, false);
        stored
    }
}

impl StudySink {
    fn check_and_file(&self, instance: Received) -> Result<(), Refusal> {
        if !cruciate_dimse::scp::MR_STORAGE_CLASSES.contains(&instance.sop_class_uid.as_str()) {
            return Err(refuse(DATASET_DOES_NOT_MATCH, "not an MR image"));
        }
        let spool = spool(&self.incoming);
        std::fs::create_dir_all(&spool)
            .map_err(|e| refuse(OUT_OF_RESOURCES, format!("cannot store: {e}")))?;
        let name = random_hex(8);
        let input = Scratch(spool.join(format!("{name}.in.dcm")));
        let out = Scratch(spool.join(format!("{name}.out.dcm")));
        Self::wrap(&instance, &input.0)?;
        let expected = Expected {
            sop_class_uid: instance.sop_class_uid.clone(),
            sop_instance_uid: instance.sop_instance_uid.clone(),
        };
        let calling_ae = instance.calling_ae.clone();
        // Its spool file goes now: the wrapped copy is what the analyser reads.
        drop(instance);
        let job = Job::Receive {
            input: input.0.clone(),
            out: out.0.clone(),
            expected,
            deid: self.ctx.deidentification(),
        };
        let answer = self.runtime.block_on(self.ctx.analysers.run(job));
        drop(input);
        match answer {
            Ok(Answer::Received(kept)) => self.file(&calling_ae, &out.0, kept),
            Ok(other) => Err(refusal(&other.unexpected())),
            Err(e) => Err(refusal(&e)),
        }
    }
}
