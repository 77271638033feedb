//! `cruciate bench --service`: how fast the service turns uploads into results on this machine.
//!
//! A fresh service (SQLite, the bundled demo model, no seeded exams) runs in this process with
//! 1 and then 2 workers; synthetic DICOM series, zipped as a PACS export would be, go through
//! its HTTP API as a client sends them. Two figures per worker count: the upload-to-result
//! latency of one exam on an idle service (median of three), and exams per minute when a batch
//! is uploaded at once (from the first upload to the last result).

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
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
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

/// Runs a fresh service on `data` with `analysers` and measures it with `exams`.
pub(super) fn measure(
    data: &Path,
    analysers: Analysers,
    exams: &[Vec<u8>],
    compute: Compute,
) -> Result<ServiceFigures> {
    let config = ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data: data.to_path_buf(),
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

/// Runs `cruciate bench --service` with `count` exams per batch on the CPU named `cpu`.
pub fn run(count: usize, compute: Compute, cpu: &str) -> Result<()> {
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let exams = zipped_exams(&scratch.path().join("phantoms"), count.max(3))?;
    let megabytes = exams.iter().map(Vec::len).sum::<usize>() as f64 / exams.len() as f64 / 1e6;
    println!(
        "cruciate bench --service on {compute} ({}, {} threads): {} synthetic DICOM exams (256x256, 24 to 36 slices, \
         {megabytes:.1} MB zipped each), bundled demo model, SQLite",
        cpu,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        exams.len()
    );
    println!(
        "{:<10} {:<22} {:>24} {:>14}",
        "analysers", "model", "upload-to-result (s)", "exams/min"
    );
    for (count, kept) in [(1, false), (1, true), (2, true)] {
        let analysers = Analysers { count, kept };
        let figures = measure(
            &scratch.path().join(format!("data-{count}-{kept}")),
            analysers,
            &exams,
            compute,
        )?;
        println!(
            "{count:<10} {:<22} {:>24.2} {:>14.1}",
            if kept {
                "kept between jobs"
            } else {
                "loaded per job (before)"
            },
            figures.latency_s,
            figures.exams_per_minute
        );
    }
    Ok(())
}
