//! How fast the service turns uploads into results on this machine.
//!
//! For each run given (the bundled demo model when none), a fresh service (SQLite, no seeded
//! exams) runs in this process with one analyser that loads the model for every job (as the
//! service did before its pool), then one and two analysers that keep it; synthetic DICOM
//! series, zipped as a PACS export would be, go through its HTTP API as a client sends them.
//! Per row: the upload-to-result latency of one exam on an idle service (median of three) and
//! exams per minute when a batch is uploaded at once (from the first upload to the last
//! result). Beside them, what the service cannot go below: the same analysis (read and decode
//! the zip, the model's call and explanation, the result files) in this process with the model
//! already open (median of three); the service's overhead is the difference.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use cruciate_models::Compute;
use cruciate_server::{ServerConfig, Service};
use serde::Serialize;
use serde_json::Value;

use crate::{BenchError, RegistryFor};

/// One HTTP/1.0 exchange (so that the answer is never chunked): status and JSON body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> Result<(u16, Value), BenchError> {
    let io = |what: &str| BenchError::io(format!("{what} {method} {path}"));
    let mut stream = TcpStream::connect(addr).map_err(io("connecting for"))?;
    // An upload is answered after its probe; a slow model's analyses make a batch wait.
    stream
        .set_read_timeout(Some(Duration::from_secs(900)))
        .map_err(io("setting a timeout on"))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .and_then(|()| stream.write_all(body))
    .map_err(io("sending"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(io("reading the answer to"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BenchError::Service(format!("no HTTP status in {head:?}")))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Uploads one zipped exam; its id.
fn upload(addr: SocketAddr, token: &str, zip: &[u8]) -> Result<String, BenchError> {
    let (status, body) = http(addr, "POST", "/api/v1/exams?filename=exam.zip", token, zip)?;
    if status != 202 {
        return Err(BenchError::Service(format!(
            "upload answered {status}: {body}"
        )));
    }
    body["id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| BenchError::Service("upload answer without an id".into()))
}

/// Waits until exam `id` is done (an error when it failed).
fn wait_done(addr: SocketAddr, token: &str, id: &str) -> Result<(), BenchError> {
    loop {
        let (_, exam) = http(addr, "GET", &format!("/api/v1/exams/{id}"), token, b"")?;
        match exam["status"].as_str() {
            Some("done") => return Ok(()),
            Some("failed") => {
                return Err(BenchError::Service(format!(
                    "exam {id} failed: {}",
                    exam["error"]
                )));
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The figures of one service configuration.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFigures {
    /// Upload-to-result latency of one exam on an idle service, seconds (median of three).
    pub latency_s: f64,
    /// Exams per minute with a batch uploaded at once.
    pub exams_per_minute: f64,
}

/// How the service under measurement analyses.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Analysers {
    /// Workers, and as many analyser processes.
    pub count: usize,
    /// Whether an analyser keeps its model between jobs (else a fresh process per job, as
    /// the service ran before its pool).
    pub kept: bool,
}

/// Runs a fresh service on `data` serving `run` (the demo model when none) with `analysers` and
/// measures it with `exams`.
pub fn measure(
    data: &Path,
    run: Option<&Path>,
    analysers: Analysers,
    exams: &[Vec<u8>],
    compute: Compute,
    registry: RegistryFor,
) -> Result<ServiceFigures, BenchError> {
    let config = ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data: data.to_path_buf(),
        models: run.map(Path::to_path_buf).into_iter().collect(),
        workers: analysers.count,
        analysers: analysers.count,
        jobs_per_analyser: if analysers.kept { 10_000 } else { 1 },
        seed_exams: 0,
        analyser_flags: compute.flags(),
        ..ServerConfig::default()
    };
    let runtime =
        tokio::runtime::Runtime::new().map_err(BenchError::io("starting the async runtime"))?;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let registry = registry(compute);
    let (service, token) = runtime.block_on(async {
        let service = Service::open(config, &registry).await?;
        let (secret, _) = service.first_start().await?;
        let token = secret
            .ok_or_else(|| BenchError::Service("a fresh data folder gave no admin token".into()))?;
        Ok::<_, BenchError>((service, token))
    })?;
    let serving = runtime.spawn(service.serve(
        async move {
            let _ = stop_rx.await;
        },
        move |addr| {
            let _ = addr_tx.send(addr.http);
        },
    ));
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| BenchError::Service("it did not start listening in 30 s".into()))?;

    let mut latencies = Vec::new();
    for zip in exams.iter().take(3) {
        let start = Instant::now();
        let id = upload(addr, &token, zip)?;
        wait_done(addr, &token, &id)?;
        latencies.push(start.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    let start = Instant::now();
    let ids = exams
        .iter()
        .map(|zip| upload(addr, &token, zip))
        .collect::<Result<Vec<_>, _>>()?;
    for id in &ids {
        wait_done(addr, &token, id)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    runtime
        .block_on(serving)
        .map_err(|e| BenchError::Service(format!("the service's task ended badly: {e}")))??;
    Ok(ServiceFigures {
        latency_s: latencies[latencies.len() / 2],
        exams_per_minute: exams.len() as f64 * 60.0 / seconds,
    })
}

/// The analysis of one exam in this process with the model open (read and decode the zip, the
/// call and explanation, the result files): the median of three, seconds, and the model's name.
fn decode_and_forward(
    dir: &Path,
    run: Option<&Path>,
    exams: &[Vec<u8>],
    compute: Compute,
    registry: RegistryFor,
) -> Result<(f64, String), BenchError> {
    let registry = registry(compute);
    let model = match run {
        Some(run) => registry.open_run(run)?,
        None => registry.open_run(&cruciate_server::models::install_demo(dir)?)?,
    };
    let name = model.info().model.name.clone();
    let mut inputs = Vec::new();
    for (i, zip) in exams.iter().take(3).enumerate() {
        let input = dir.join(format!("exam-{i}.zip"));
        std::fs::write(&input, zip)
            .map_err(BenchError::io(format!("writing {}", input.display())))?;
        inputs.push(input);
    }
    let mut seconds = crate::exam::time_analyses(model.as_ref(), &inputs, dir)?;
    seconds.sort_by(f64::total_cmp);
    Ok((seconds[seconds.len() / 2], name))
}

/// One row of the service table: a model served with one analyser configuration.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    /// The served model's name.
    pub model: String,
    /// The analysers.
    pub analysers: Analysers,
    /// The same analysis in process with the model open, seconds.
    pub decode_and_forward_s: f64,
    /// Upload-to-result latency on an idle service, seconds.
    pub latency_s: f64,
    /// Exams per minute with a batch uploaded at once.
    pub exams_per_minute: f64,
}

impl ServiceRow {
    /// What the service adds to the analysis itself, milliseconds.
    pub fn overhead_ms(&self) -> f64 {
        (self.latency_s - self.decode_and_forward_s) * 1000.0
    }
}

/// The batch the service benchmark sends: `count` (at least three) zipped DICOM exams, in a
/// scratch folder that lives as long as the batch.
pub struct Batch {
    /// The zipped exams.
    pub exams: Vec<Vec<u8>>,
    scratch: tempfile::TempDir,
}

impl Batch {
    /// Makes the batch.
    pub fn new(count: usize) -> Result<Self, BenchError> {
        let scratch = tempfile::tempdir().map_err(BenchError::io("making a scratch folder"))?;
        let exams = crate::inputs::zipped_exams(&scratch.path().join("phantoms"), count.max(3))?;
        Ok(Self { exams, scratch })
    }

    /// Mean zipped size of an exam, megabytes.
    pub fn megabytes_each(&self) -> f64 {
        self.exams.iter().map(Vec::len).sum::<usize>() as f64 / self.exams.len() as f64 / 1e6
    }
}

/// Measures the service with `batch` for each of `runs` (the demo model when none): per run,
/// one analyser loading the model per job, then one and two keeping it; each row goes to `row`
/// as it is measured.
pub fn run(
    batch: &Batch,
    runs: &[std::path::PathBuf],
    compute: Compute,
    registry: RegistryFor,
    row: &mut dyn FnMut(ServiceRow),
) -> Result<(), BenchError> {
    let served: Vec<Option<&Path>> = if runs.is_empty() {
        vec![None]
    } else {
        runs.iter().map(|r| Some(r.as_path())).collect()
    };
    let scratch = batch.scratch.path();
    for (m, run) in served.into_iter().enumerate() {
        let here = scratch.join(format!("in-process-{m}"));
        std::fs::create_dir_all(&here)
            .map_err(BenchError::io(format!("making {}", here.display())))?;
        let (alone, model) = decode_and_forward(&here, run, &batch.exams, compute, registry)?;
        for (count, kept) in [(1, false), (1, true), (2, true)] {
            let analysers = Analysers { count, kept };
            let data = scratch.join(format!("data-{m}-{count}-{kept}"));
            let figures = measure(&data, run, analysers, &batch.exams, compute, registry)?;
            row(ServiceRow {
                model: model.clone(),
                analysers,
                decode_and_forward_s: alone,
                latency_s: figures.latency_s,
                exams_per_minute: figures.exams_per_minute,
            });
        }
    }
    Ok(())
}
