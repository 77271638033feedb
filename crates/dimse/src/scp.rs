//! The storage SCP: accepts associations from allowed AE titles, answers C-ECHO, and hands each
//! C-STORE data set to an [`InstanceSink`], answering with the status the sink gives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::Pdu;
use dicom_ul::association::Association as _;
use dicom_ul::association::server::{AccessControl, ServerAssociationOptions};
use dicom_ul::pdu::{AssociationRJServiceUserReason, PDataValue, PDataValueType, UserIdentity};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::DimseError;
use crate::command::{self, Request};
use crate::uid::is_valid_uid;

/// The storage classes accepted: MR images (the exams Cruciate reads).
pub const MR_STORAGE_CLASSES: &[&str] = &[
    uids::MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE,
];

/// The transfer syntaxes the readers decode without optional codecs: uncompressed (both
/// endians, implicit and explicit, deflated), RLE, JPEG baseline / extended / lossless, JPEG
/// 2000.
pub const DECODABLE_TRANSFER_SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.2", // explicit VR big endian (retired, still sent by old modalities)
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::RLE_LOSSLESS,
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
];

/// The JPEG-LS transfer syntaxes, offered when the readers are built with CharLS.
pub const JPEG_LS_TRANSFER_SYNTAXES: &[&str] = &[uids::JPEGLS_LOSSLESS, uids::JPEGLS_NEAR_LOSSLESS];

/// Settings of the SCP.
#[derive(Debug, Clone, PartialEq)]
pub struct ScpConfig {
    /// This node's AE title; associations calling another title are rejected.
    pub ae_title: String,
    /// Calling AE titles allowed to associate; empty allows any.
    pub allowed_callers: Vec<String>,
    /// Storage classes accepted.
    pub storage_classes: Vec<String>,
    /// Transfer syntaxes accepted.
    pub transfer_syntaxes: Vec<String>,
    /// Largest PDU received, bytes.
    pub max_pdu_length: u32,
    /// How long the SCP waits for the peer's next PDU.
    pub read_timeout: Duration,
    /// Largest instance accepted; a larger one is refused (out of resources), the association
    /// goes on.
    pub max_instance_bytes: usize,
    /// Most bytes one association may send; past it the association is aborted.
    pub max_association_bytes: u64,
    /// Associations served at once; more wait.
    pub max_associations: usize,
    /// Most data-set bytes held at once over all associations (being received, or waiting for
    /// the sink); an instance that would pass it is refused (out of resources, so the sender
    /// retries later) and its association goes on. With `max_associations`, this bounds the
    /// disk (or memory) that senders can fill together.
    pub max_bytes_in_flight: u64,
    /// Associations being negotiated at once, at most; a connection past it is closed at once.
    /// Negotiation holds no association slot, so idle connections cannot keep a C-ECHO waiting.
    pub max_negotiating: usize,
    /// Where data sets are written as they arrive (each removed when its [`Received`] is
    /// dropped); none: kept in memory. Spooled, an instance costs the SCP a PDU's memory, not
    /// its size.
    pub spool: Option<std::path::PathBuf>,
}

impl Default for ScpConfig {
    fn default() -> Self {
        Self {
            ae_title: "CRUCIATE".into(),
            allowed_callers: Vec::new(),
            storage_classes: MR_STORAGE_CLASSES.iter().map(|s| s.to_string()).collect(),
            transfer_syntaxes: DECODABLE_TRANSFER_SYNTAXES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_pdu_length: 65_536,
            read_timeout: Duration::from_secs(30),
            max_instance_bytes: 256 << 20,
            max_association_bytes: 8 << 30,
            max_associations: 8,
            max_bytes_in_flight: 1 << 30,
            max_negotiating: 64,
            spool: None,
        }
    }
}

/// A spooled data set's file, removed when dropped.
#[derive(Debug)]
pub struct SpooledFile(std::path::PathBuf);

impl SpooledFile {
    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for SpooledFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A received data set's bytes: in memory, or in a spool file.
#[derive(Debug)]
pub enum DataSet {
    /// Kept in memory.
    Memory(Vec<u8>),
    /// Written to a file as it arrived.
    Spooled(SpooledFile),
}

impl DataSet {
    /// Its size, bytes.
    pub fn len(&self) -> u64 {
        match self {
            DataSet::Memory(v) => v.len() as u64,
            DataSet::Spooled(f) => std::fs::metadata(f.path()).map_or(0, |m| m.len()),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes (read from the spool file when spooled).
    pub fn bytes(&self) -> std::io::Result<Vec<u8>> {
        match self {
            DataSet::Memory(v) => Ok(v.clone()),
            DataSet::Spooled(f) => std::fs::read(f.path()),
        }
    }

    /// Copies its bytes to `out` without holding them all in memory.
    pub fn copy_to(&self, out: &mut impl std::io::Write) -> std::io::Result<u64> {
        match self {
            DataSet::Memory(v) => out.write_all(v).map(|()| v.len() as u64),
            DataSet::Spooled(f) => std::io::copy(&mut std::fs::File::open(f.path())?, out),
        }
    }
}

/// Where a data set being received goes.
enum Spool {
    Memory(Vec<u8>),
    File(SpooledFile, tokio::fs::File),
}

impl Spool {
    async fn new(dir: Option<&std::path::Path>) -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let Some(dir) = dir else {
            return Ok(Spool::Memory(Vec::new()));
        };
        tokio::fs::create_dir_all(dir).await?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".{}-{n}.spool", std::process::id()));
        let guard = SpooledFile(path.clone());
        let file = tokio::fs::File::create(&path).await?;
        Ok(Spool::File(guard, file))
    }

    async fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        match self {
            Spool::Memory(v) => {
                v.extend_from_slice(bytes);
                Ok(())
            }
            Spool::File(_, file) => file.write_all(bytes).await,
        }
    }

    async fn finish(self) -> std::io::Result<DataSet> {
        use tokio::io::AsyncWriteExt as _;
        match self {
            Spool::Memory(v) => Ok(DataSet::Memory(v)),
            Spool::File(guard, mut file) => {
                file.flush().await?;
                Ok(DataSet::Spooled(guard))
            }
        }
    }
}

/// One instance as received: the data set's bytes in the negotiated transfer syntax.
#[derive(Debug)]
pub struct Received {
    /// The peer's AE title.
    pub calling_ae: String,
    /// AffectedSOPClassUID of the request.
    pub sop_class_uid: String,
    /// AffectedSOPInstanceUID of the request (syntax checked).
    pub sop_instance_uid: String,
    /// The presentation context's transfer syntax.
    pub transfer_syntax: String,
    /// The data set.
    pub data_set: DataSet,
}

/// Why an instance was not stored: a DIMSE failure status and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status sent back (`0xA900`, `0xC000`, `0xA700`...).
    pub status: u16,
    /// Why, in one line (sent as ErrorComment, cut to 64 characters).
    pub reason: String,
}

/// Where received instances go. Called from a blocking thread: it may parse, write files and
/// talk to a database synchronously.
pub trait InstanceSink: Send + Sync + 'static {
    /// Keeps `instance`, or says why not.
    fn store(&self, instance: Received) -> Result<(), Refusal>;
}

/// A storage SCP bound to a port.
pub struct StorageScp {
    listener: TcpListener,
    config: Arc<ScpConfig>,
    sink: Arc<dyn InstanceSink>,
}

struct Callers(Vec<String>);

impl AccessControl for Callers {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.0.is_empty() && !self.0.iter().any(|a| a.trim() == calling_ae_title.trim()) {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

impl StorageScp {
    /// Binds `addr` (`127.0.0.1:11112`, port 0 for any free one).
    pub async fn bind(
        addr: &str,
        config: ScpConfig,
        sink: Arc<dyn InstanceSink>,
    ) -> Result<Self, DimseError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| DimseError::Listen {
                addr: addr.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            listener,
            config: Arc::new(config),
            sink,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves associations until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.max_associations.max(1)));
        let negotiating = Arc::new(Semaphore::new(self.config.max_negotiating.max(1)));
        let in_flight = InFlight::default();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("DICOM listener: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(negotiation) = negotiating.clone().try_acquire_owned() else {
                tracing::warn!("DICOM connection from {peer} closed: too many negotiating");
                continue;
            };
            let config = self.config.clone();
            let sink = self.sink.clone();
            let limits = Limits {
                negotiation,
                slots: slots.clone(),
                in_flight: in_flight.clone(),
            };
            tokio::spawn(async move {
                match serve_association(stream, &config, sink, limits).await {
                    Ok(n) => {
                        tracing::info!("DICOM association from {peer}: {n} instance(s) stored")
                    }
                    Err(e) => tracing::warn!("DICOM association from {peer}: {e}"),
                }
            });
        }
    }
}

/// Data-set bytes held over all associations.
#[derive(Clone, Default)]
struct InFlight(Arc<AtomicU64>);

/// Bytes of one instance counted in [`InFlight`], given back when dropped.
struct Held {
    in_flight: InFlight,
    bytes: u64,
}

impl Held {
    fn new(in_flight: &InFlight) -> Self {
        Self {
            in_flight: in_flight.clone(),
            bytes: 0,
        }
    }

    /// Counts `n` more bytes unless that would pass `cap`.
    fn take(&mut self, n: u64, cap: u64) -> bool {
        let counter = &self.in_flight.0;
        let taken = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(n).filter(|total| *total <= cap)
        });
        if taken.is_ok() {
            self.bytes += n;
        }
        taken.is_ok()
    }

    /// Gives back what it counted.
    fn release(&mut self) {
        self.in_flight.0.fetch_sub(self.bytes, Ordering::AcqRel);
        self.bytes = 0;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

/// Why an instance being received will be refused.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    /// It passed `max_instance_bytes`.
    Instance,
    /// The associations together passed `max_bytes_in_flight`.
    InFlight,
}

/// The C-STORE request being received.
struct Pending {
    message_id: u16,
    context_id: u8,
    sop_class_uid: String,
    sop_instance_uid: String,
    data: Spool,
    size: usize,
    held: Held,
    overflow: Option<Overflow>,
}

fn command_pdu(context_id: u8, data: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: context_id,
            value_type: PDataValueType::Command,
            is_last: true,
            data,
        }],
    }
}

/// What an association shares with the others.
struct Limits {
    /// Its place among the associations being negotiated.
    negotiation: tokio::sync::OwnedSemaphorePermit,
    /// The association slots.
    slots: Arc<Semaphore>,
    /// The bytes held over all associations.
    in_flight: InFlight,
}

async fn serve_association(
    stream: TcpStream,
    config: &ScpConfig,
    sink: Arc<dyn InstanceSink>,
    limits: Limits,
) -> Result<usize, String> {
    let Limits {
        negotiation,
        slots,
        in_flight,
    } = limits;
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(Callers(config.allowed_callers.clone()))
        .ae_title(config.ae_title.as_str())
        .max_pdu_length(config.max_pdu_length)
        .read_timeout(config.read_timeout)
        .write_timeout(config.read_timeout)
        .with_abstract_syntax(uids::VERIFICATION);
    for class in &config.storage_classes {
        options = options.with_abstract_syntax(class.as_str());
    }
    for ts in &config.transfer_syntaxes {
        options = options.with_transfer_syntax(ts.as_str());
    }
    let mut association = options
        .establish_async(stream)
        .await
        .map_err(|e| format!("association refused: {e}"))?;
    // Negotiated: a slot now (the peer's PDUs wait in the socket meanwhile).
    drop(negotiation);
    let _slot = slots
        .acquire_owned()
        .await
        .map_err(|_| "the SCP is stopping".to_string())?;
    let calling_ae = association.peer_ae_title().trim().to_string();
    let contexts: Vec<(u8, String, String)> = association
        .presentation_contexts()
        .iter()
        .map(|pc| {
            (
                pc.id,
                pc.abstract_syntax.clone(),
                pc.transfer_syntax.clone(),
            )
        })
        .collect();
    let mut command = Vec::new();
    let mut pending: Option<Pending> = None;
    let mut received: u64 = 0;
    let mut stored = 0;
    loop {
        let pdu = match association.receive().await {
            Ok(p) => p,
            Err(e) => return Err(format!("{calling_ae}: connection lost: {e}")),
        };
        let values = match pdu {
            Pdu::PData { data } => data,
            Pdu::ReleaseRQ => {
                let _ = association.send(&Pdu::ReleaseRP).await;
                return Ok(stored);
            }
            Pdu::AbortRQ { .. } => return Err(format!("{calling_ae} aborted")),
            other => {
                tracing::debug!("ignored {}", other.short_description());
                continue;
            }
        };
        for value in values {
            received += value.data.len() as u64;
            if received > config.max_association_bytes {
                let _ = association.abort().await;
                return Err(format!(
                    "{calling_ae} sent more than {} bytes in one association: aborted",
                    config.max_association_bytes
                ));
            }
            match value.value_type {
                PDataValueType::Command => {
                    if command.len() + value.data.len() > command::MAX_COMMAND_BYTES {
                        let _ = association.abort().await;
                        return Err(format!("{calling_ae} sent an oversized command set"));
                    }
                    command.extend_from_slice(&value.data);
                    if !value.is_last {
                        continue;
                    }
                    let request = command::parse_request(&command);
                    command.clear();
                    let reply = match request {
                        Ok(Request::Echo { message_id }) => {
                            Some(command::echo_response(message_id))
                        }
                        Ok(Request::Store {
                            message_id,
                            sop_class_uid,
                            sop_instance_uid,
                        }) => {
                            let data = Spool::new(config.spool.as_deref())
                                .await
                                .map_err(|e| format!("spooling: {e}"))?;
                            pending = Some(Pending {
                                message_id,
                                context_id: value.presentation_context_id,
                                sop_class_uid,
                                sop_instance_uid,
                                data,
                                size: 0,
                                held: Held::new(&in_flight),
                                overflow: None,
                            });
                            None
                        }
                        Ok(Request::Other {
                            command_field,
                            message_id,
                            has_data_set: false,
                        }) => Some(command::unrecognized_response(command_field, message_id)),
                        Ok(Request::Other { .. }) | Err(_) => {
                            let _ = association.abort().await;
                            return Err(format!(
                                "{calling_ae} sent a command this SCP cannot serve"
                            ));
                        }
                    };
                    if let Some(reply) = reply {
                        association
                            .send(&command_pdu(value.presentation_context_id, reply))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                PDataValueType::Data => {
                    let Some(p) = pending.as_mut() else {
                        let _ = association.abort().await;
                        return Err(format!("{calling_ae} sent data without a C-STORE request"));
                    };
                    p.size += value.data.len();
                    if p.overflow.is_none() {
                        if p.size > config.max_instance_bytes {
                            p.overflow = Some(Overflow::Instance);
                        } else if !p
                            .held
                            .take(value.data.len() as u64, config.max_bytes_in_flight)
                        {
                            p.overflow = Some(Overflow::InFlight);
                        }
                        if p.overflow.is_some() {
                            // What came of it so far goes now; the rest is read and dropped.
                            p.data = Spool::Memory(Vec::new());
                            p.held.release();
                        }
                    }
                    if p.overflow.is_none() {
                        p.data
                            .append(&value.data)
                            .await
                            .map_err(|e| format!("spooling: {e}"))?;
                    }
                    if !value.is_last {
                        continue;
                    }
                    let p = pending.take().expect("pending request");
                    let outcome = store_one(p, &contexts, &calling_ae, config, &sink).await;
                    let (context_id, message_id, class, instance, status, comment) = outcome;
                    if status == command::SUCCESS {
                        stored += 1;
                    }
                    let reply = command::store_response(
                        message_id,
                        &class,
                        &instance,
                        status,
                        comment.as_deref(),
                    );
                    association
                        .send(&command_pdu(context_id, reply))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
}

type StoreReply = (u8, u16, String, String, u16, Option<String>);

async fn store_one(
    p: Pending,
    contexts: &[(u8, String, String)],
    calling_ae: &str,
    config: &ScpConfig,
    sink: &Arc<dyn InstanceSink>,
) -> StoreReply {
    let Pending {
        message_id,
        context_id,
        sop_class_uid,
        sop_instance_uid,
        data,
        held,
        overflow,
        ..
    } = p;
    let reply = |status: u16, comment: Option<String>| {
        (
            context_id,
            message_id,
            sop_class_uid.clone(),
            sop_instance_uid.clone(),
            status,
            comment,
        )
    };
    let Some((_, abstract_syntax, transfer_syntax)) =
        contexts.iter().find(|(id, _, _)| *id == context_id)
    else {
        return reply(
            command::CANNOT_UNDERSTAND,
            Some("no such presentation context".into()),
        );
    };
    match overflow {
        Some(Overflow::Instance) => {
            return reply(
                command::OUT_OF_RESOURCES,
                Some(format!(
                    "instance above {} MiB",
                    config.max_instance_bytes >> 20
                )),
            );
        }
        Some(Overflow::InFlight) => {
            return reply(
                command::OUT_OF_RESOURCES,
                Some(format!(
                    "the node holds {} MiB from its senders already: try again later",
                    config.max_bytes_in_flight >> 20
                )),
            );
        }
        None => {}
    }
    if !is_valid_uid(&sop_instance_uid) {
        return reply(
            command::DATASET_DOES_NOT_MATCH,
            Some("invalid SOP Instance UID".into()),
        );
    }
    if abstract_syntax.trim_end_matches('\0') != sop_class_uid {
        return reply(
            command::DATASET_DOES_NOT_MATCH,
            Some("SOP class differs from the presentation context".into()),
        );
    }
    let data_set = match data.finish().await {
        Ok(d) => d,
        Err(e) => return reply(command::OUT_OF_RESOURCES, Some(format!("spooling: {e}"))),
    };
    let instance = Received {
        calling_ae: calling_ae.to_string(),
        sop_class_uid: sop_class_uid.clone(),
        sop_instance_uid: sop_instance_uid.clone(),
        transfer_syntax: transfer_syntax.trim_end_matches('\0').to_string(),
        data_set,
    };
    let sink = sink.clone();
    let outcome = tokio::task::spawn_blocking(move || sink.store(instance)).await;
    // The sink is done with its bytes.
    drop(held);
    match outcome {
        Ok(Ok(())) => reply(command::SUCCESS, None),
        Ok(Err(refusal)) => {
            tracing::warn!(
                "refused {} from {calling_ae}: {}",
                sop_instance_uid,
                refusal.reason
            );
            reply(refusal.status, Some(refusal.reason))
        }
        Err(_) => reply(
            command::CANNOT_UNDERSTAND,
            Some("the instance could not be processed".into()),
        ),
    }
}
