//! `cruciate bench --service`: how fast the service turns uploads into results on this machine.
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

use anyhow::{Context, Result, bail};
use cruciate_data::phantom::Difficulty;
use cruciate_data::synth::{Balance, ExamFormat, SynthOptions, synthesize};
use cruciate_models::Compute;
use cruciate_server::{ServerConfig, Service};
use serde_json::Value;

use super::registry;

/// One HTTP/1.0 exchange (so that the answer is never chunked): status and JSON body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> Result<(u16, Value)> {
    let mut stream = TcpStream::connect(addr).context("connecting to the service")?;
    // An upload is answered after its probe; a slow model's analyses make a batch wait.
    stream.set_read_timeout(Some(Duration::from_secs(900)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in {head:?}"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Uploads one zipped exam; its id.
fn upload(addr: SocketAddr, token: &str, zip: &[u8]) -> Result<String> {
    let (status, body) = http(addr, "POST", "/api/v1/exams?filename=exam.zip", token, zip)?;
    if status != 202 {
        bail!("upload answered {status}: {body}");
    }
    body["id"]
        .as_str()
        .map(String::from)
        .context("upload answer without an id")
}

/// Waits until exam `id` is done (an error when it failed).
fn wait_done(addr: SocketAddr, token: &str, id: &str) -> Result<()> {
    loop {
        let (_, exam) = http(addr, "GET", &format!("/api/v1/exams/{id}"), token, b"")?;
        match exam["status"].as_str() {
            Some("done") => return Ok(()),
            Some("failed") => bail!("exam {id} failed: {}", exam["error"]),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Synthetic DICOM exams (256x256, 24 to 36 slices), each zipped in memory.
pub(super) fn zipped_exams(dir: &Path, count: usize) -> Result<Vec<Vec<u8>>> {
    let options = SynthOptions {
        exams: count,
        seed: 11,
        size: 256,
        slices: (24, 36),
        format: ExamFormat::Dicom,
        balance: Balance::Equal,
        difficulty: Difficulty::Realistic,
    };
    let manifest = synthesize(dir, &options, &|| {})?;
    manifest
        .rows
        .iter()
        .map(|row| {
            let mut files: Vec<_> = std::fs::read_dir(manifest.resolve(row))?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()?;
            files.sort();
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for file in files {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                zip.start_file(name, zip::write::SimpleFileOptions::default())?;
                zip.write_all(&std::fs::read(&file)?)?;
            }
            Ok(zip.finish()?.into_inner())
        })
        .collect()
}

/// The figures of one worker count.
pub(super) struct ServiceFigures {
    pub latency_s: f64,
    exams_per_minute: f64,
}

/// How the service under measurement analyses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Analysers {
    /// Workers, and as many analyser processes.
    pub count: usize,
    /// Whether an analyser keeps its model between jobs (else a fresh process per job, as
    /// the service ran before its pool).
    pub kept: bool,
}

/// Runs a fresh service on `data` serving `run` (the demo model when none) with `analysers` and
/// measures it with `exams`.
pub(super) fn measure(
    data: &Path,
    run: Option<&Path>,
    analysers: Analysers,
    exams: &[Vec<u8>],
    compute: Compute,
) -> Result<ServiceFigures> {
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
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let registry = registry(compute);
    let service = runtime.block_on(async {
        let service = Service::open(config, &registry).await?;
        let (secret, _) = service.first_start().await?;
        anyhow::Ok((
            service,
            secret.context("a fresh data folder gives an admin token")?,
        ))
    })?;
    let (service, token) = service;
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
        .context("the service did not start listening")?;

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
        .collect::<Result<Vec<_>>>()?;
    for id in &ids {
        wait_done(addr, &token, id)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    runtime.block_on(serving)??;
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
) -> Result<(f64, String)> {
    let registry = registry(compute);
    let model = match run {
        Some(run) => registry.open_run(run)?,
        None => registry.open_run(&cruciate_server::models::install_demo(dir)?)?,
    };
    let name = model.info().model.name.clone();
    let mut seconds = Vec::new();
    for (i, zip) in exams.iter().take(3).enumerate() {
        let input = dir.join(format!("exam-{i}.zip"));
        std::fs::write(&input, zip)?;
        let start = Instant::now();
        cruciate_server::analysis::analyse(model.as_ref(), &input, &dir.join(format!("out-{i}")))?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    Ok((seconds[seconds.len() / 2], name))
}

/// Runs `cruciate bench --service` with `count` exams per batch for each of `runs` (the demo
/// model when none) on the CPU named `cpu`.
pub fn run(count: usize, runs: &[std::path::PathBuf], compute: Compute, cpu: &str) -> Result<()> {
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let exams = zipped_exams(&scratch.path().join("phantoms"), count.max(3))?;
    let megabytes = exams.iter().map(Vec::len).sum::<usize>() as f64 / exams.len() as f64 / 1e6;
    println!(
        "cruciate bench --service on {compute} ({}, {} threads): {} synthetic DICOM exams (256x256, 24 to 36 slices, \
         {megabytes:.1} MB zipped each), SQLite",
        cpu,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        exams.len()
    );
    println!(
        "{:<24} {:<10} {:<24} {:>18} {:>22} {:>14} {:>10}",
        "model",
        "analysers",
        "model in the analyser",
        "decode+forward (s)",
        "upload-to-result (s)",
        "overhead (ms)",
        "exams/min"
    );
    let served: Vec<Option<&Path>> = if runs.is_empty() {
        vec![None]
    } else {
        runs.iter().map(|r| Some(r.as_path())).collect()
    };
    for (m, run) in served.into_iter().enumerate() {
        let here = scratch.path().join(format!("in-process-{m}"));
        std::fs::create_dir_all(&here)?;
        let (alone, name) = decode_and_forward(&here, run, &exams, compute)?;
        for (count, kept) in [(1, false), (1, true), (2, true)] {
            let analysers = Analysers { count, kept };
            let figures = measure(
                &scratch.path().join(format!("data-{m}-{count}-{kept}")),
                run,
                analysers,
                &exams,
                compute,
            )?;
            println!(
                "{name:<24} {count:<10} {:<24} {alone:>18.3} {:>22.3} {:>14.0} {:>10.1}",
                if kept {
                    "kept between jobs"
                } else {
                    "loaded per job (before)"
                },
                figures.latency_s,
                (figures.latency_s - alone) * 1000.0,
                figures.exams_per_minute
            );
        }
    }
    Ok(())
}
