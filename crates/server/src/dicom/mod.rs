//! The service as a DICOM node: a storage SCP receiving studies (`sink`), studies becoming
//! exams when they are quiet (`assemble`), results made as DICOM ([`results`]) and sent back to
//! the configured destinations (`send`).

mod assemble;
pub mod results;
mod send;
mod sink;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cruciate_dimse::{ScpConfig, StorageScp};
use tokio::sync::watch;

use crate::ServerError;
use crate::config::DicomConfig;
use crate::context::ServiceContext;

/// What the node's tasks share: the service's context and where studies arrive.
#[derive(Clone)]
pub(crate) struct NodeContext {
    pub ctx: ServiceContext,
    /// `DATA/incoming`.
    pub incoming: PathBuf,
    /// Instances being received now, per calling AE.
    pub receiving: Receiving,
}

/// Receives in progress per calling AE, and when each AE was last active: a study is not quiet
/// while its sender's instances are still being checked (an instance may wait for a free
/// analyser longer than the quiet period).
#[derive(Clone, Default)]
pub(crate) struct Receiving(
    Arc<std::sync::Mutex<std::collections::HashMap<String, (usize, std::time::Instant)>>>,
);

impl Receiving {
    /// Notes a receive from `ae` starting (`true`) or ending.
    pub fn note(&self, ae: &str, starting: bool) {
        if let Ok(mut map) = self.0.lock() {
            let entry = map
                .entry(ae.to_string())
                .or_insert((0, std::time::Instant::now()));
            entry.0 = if starting {
                entry.0 + 1
            } else {
                entry.0.saturating_sub(1)
            };
            entry.1 = std::time::Instant::now();
        }
    }

    /// Whether `ae` is receiving now or was within `quiet`.
    pub fn busy(&self, ae: &str, quiet: Duration) -> bool {
        self.0.lock().is_ok_and(|map| {
            map.get(ae)
                .is_some_and(|(n, last)| *n > 0 || last.elapsed() < quiet)
        })
    }
}

impl NodeContext {
    /// The node's settings.
    fn dicom(&self) -> &DicomConfig {
        &self.ctx.config.dicom
    }
}

/// Starts the node on `host` (the HTTP address's): the SCP when a port is configured, the
/// assembler and the sender when a port or a destination is; they run until `stop` turns
/// true. Returns the SCP's bound address.
pub(crate) async fn start(
    service: ServiceContext,
    host: std::net::IpAddr,
    stop: watch::Receiver<bool>,
) -> Result<Option<std::net::SocketAddr>, ServerError> {
    let ctx = NodeContext {
        incoming: service.data().join("incoming"),
        ctx: service,
        receiving: Receiving::default(),
    };
    if ctx.dicom().port.is_none()
        && ctx.dicom().destinations.is_empty()
        && ctx.ctx.config.fhir.endpoint.is_none()
        && ctx.ctx.config.dicomweb.pacs.is_none()
    {
        return Ok(None);
    }
    let bound = match ctx.dicom().port {
        Some(port) => Some(listen(&ctx, host, port, stop.clone()).await?),
        None => None,
    };
    // Studies become exams, and results leave for the destinations (uploads' results too, when
    // asked), whether or not this process listens.
    let mut ticks = stop;
    tokio::spawn(async move {
        loop {
            ctx.assemble_quiet().await;
            ctx.send_due().await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = ticks.wait_for(|s| *s) => break,
            }
        }
    });
    Ok(bound)
}

/// Starts the storage SCP on `host:port`; its bound address.
async fn listen(
    ctx: &NodeContext,
    host: std::net::IpAddr,
    port: u16,
    stop: watch::Receiver<bool>,
) -> Result<std::net::SocketAddr, ServerError> {
    std::fs::create_dir_all(&ctx.incoming).map_err(|e| ServerError::io(&ctx.incoming, e))?;
    // What a process that died left in the spool was never acknowledged.
    let spool = sink::spool(&ctx.incoming);
    let _ = std::fs::remove_dir_all(&spool);
    let sink = sink::StudySink {
        ctx: ctx.ctx.clone(),
        incoming: ctx.incoming.clone(),
        receiving: ctx.receiving.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let mut transfer_syntaxes: Vec<String> = cruciate_dimse::scp::DECODABLE_TRANSFER_SYNTAXES
        .iter()
        .map(|s| s.to_string())
        .collect();
    if cruciate_volume::JPEG_LS {
        transfer_syntaxes.extend(
            cruciate_dimse::scp::JPEG_LS_TRANSFER_SYNTAXES
                .iter()
                .map(|s| s.to_string()),
        );
    }
    let scp_config = ScpConfig {
        ae_title: ctx.dicom().ae_title.clone(),
        allowed_callers: ctx.dicom().allowed_callers.clone(),
        transfer_syntaxes,
        read_timeout: Duration::from_secs(ctx.dicom().timeout_seconds),
        max_instance_bytes: (ctx.dicom().max_instance_mib << 20) as usize,
        max_bytes_in_flight: ctx.dicom().max_in_flight_mib << 20,
        spool: Some(spool),
        ..ScpConfig::default()
    };
    let addr = std::net::SocketAddr::new(host, port).to_string();
    let scp = StorageScp::bind(&addr, scp_config, Arc::new(sink))
        .await
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let bound = scp
        .local_addr()
        .map_err(|e| ServerError::io(std::path::Path::new("DICOM listener"), e))?;
    tokio::spawn(scp.run(stop));
    Ok(bound)
}
