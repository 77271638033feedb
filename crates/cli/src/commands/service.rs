//! `cruciate serve`, `cruciate worker`, `cruciate export-reads`, and `cruciate analyse` (an
//! analyser process of the service's pool, jobs on its standard input; not for people).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use cruciate_models::Compute;
use cruciate_server::{ServerConfig, Service};

use super::{RoiChoice, registry};

/// Settings shared by `serve` and `worker`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Settings file (TOML; every key in configs/serve.toml); flags given here win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder: database (SQLite), uploads, results, the demo model [default: ./cruciate-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Database URL: postgres://USER@HOST:PORT/DB [default: SQLite in the data folder].
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// A run folder to serve (repeat for several; the first is the default) [default: the
    /// bundled demo model, trained on synthetic data].
    #[arg(long = "model", value_name = "RUN")]
    models: Vec<PathBuf>,
    /// Worker tasks in this process [serve: 1, worker: 1].
    #[arg(long)]
    workers: Option<usize>,
    /// Cut each exam to its ACL region before the models see it: auto (the boxes --localiser
    /// finds; each model is served behind it as NAME-roi) or none. Received exams carry no
    /// manifest box, so manifest is refused.
    #[arg(long, value_enum)]
    roi: Option<RoiChoice>,
    /// The localiser run for --roi auto (`cruciate localise train`).
    #[arg(long, value_name = "RUN")]
    localiser: Option<PathBuf>,
    /// Voxels added around the found box: slices,rows,columns [default: 2,16,16].
    #[arg(long = "roi-margin", value_parser = super::parse_margin)]
    roi_margin: Option<[usize; 3]>,
    /// How log lines are written [default: text].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// How a service process writes its log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

impl ServiceArgs {
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let mut c = match &self.config {
            Some(path) => ServerConfig::from_file(path)?,
            None => ServerConfig::default(),
        };
        if let Some(d) = &self.data {
            c.data = d.clone();
        }
        if let Some(db) = &self.db {
            c.db = Some(db.clone());
        }
        if !self.models.is_empty() {
            c.models = self.models.clone();
        }
        if let Some(w) = self.workers {
            c.workers = w;
        }
        if let Some(localiser) = &self.localiser {
            c.localiser = Some(localiser.clone());
        }
        if let Some(margin) = self.roi_margin {
            c.roi_margin = margin;
        }
        match self.roi {
            Some(RoiChoice::Manifest) => anyhow::bail!(
                "--roi manifest: exams sent to the service carry no manifest box; use --roi auto --localiser RUN"
            ),
            Some(RoiChoice::None) => c.localiser = None,
            Some(RoiChoice::Auto) if c.localiser.is_none() => {
                anyhow::bail!(
                    "--roi auto needs --localiser RUN (or `localiser` in the settings file)"
                )
            }
            _ => {}
        }
        Ok(c)
    }
}

/// Arguments of `cruciate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<std::net::SocketAddr>,
    /// Largest upload in MiB [default: 512].
    #[arg(long, value_name = "MIB")]
    max_upload_mib: Option<u64>,
    #[command(flatten)]
    dicom: DicomNodeArgs,
    /// A FHIR R4 server's base URL (http://host[:port]/path): each analysed exam's
    /// DiagnosticReport is posted to BASE/DiagnosticReport [default: none].
    #[arg(long, value_name = "URL")]
    fhir_endpoint: Option<cruciate_server::http_base::HttpBase>,
    /// The PACS's DICOMweb root (http://host[:port]/path): studies found on it and analysed from
    /// the API and the UI, their results stored back by STOW-RS; its token in `[dicomweb]`
    /// [default: none].
    #[arg(long, value_name = "URL")]
    pacs_dicomweb: Option<cruciate_server::http_base::HttpBase>,
    /// OHIF Viewer's built files (the dist folder of the npm package @ohif/app), served on
    /// --ohif-port and reading this service's DICOMweb [default: none].
    #[arg(long, value_name = "DIR")]
    ohif: Option<std::path::PathBuf>,
    /// OHIF's port, on the HTTP address's host (0: any free one) [default: 0].
    #[arg(long, value_name = "PORT")]
    ohif_port: Option<u16>,
}

/// The DICOM node's flags (`[dicom]` in the settings file).
#[derive(Debug, Args)]
pub struct DicomNodeArgs {
    /// Port of the DICOM storage SCP (C-ECHO, C-STORE), on the HTTP address's host [default: none].
    #[arg(long, value_name = "PORT")]
    dicom_port: Option<u16>,
    /// This node's AE title [default: CRUCIATE].
    #[arg(long, value_name = "AE")]
    ae_title: Option<String>,
    /// A calling AE title allowed to send (repeat; none given: any).
    #[arg(long = "dicom-allow", value_name = "AE")]
    allowed_callers: Vec<String>,
    /// Where results (SR and Secondary Capture) are sent, AE@host:port (repeat).
    #[arg(long = "dicom-destination", value_name = "AE@HOST:PORT")]
    destinations: Vec<cruciate_dimse::Destination>,
    /// De-identification before storage: basic (PS3.15 Basic Profile), basic-retain-dates, off [default: basic].
    #[arg(long, value_name = "PROFILE")]
    deidentify: Option<cruciate_deid::Profile>,
    /// Seconds without a new instance after which a study is analysed [default: 10].
    #[arg(long, value_name = "SECONDS")]
    stable_after: Option<u64>,
}

impl DicomNodeArgs {
    fn apply(&self, c: &mut cruciate_server::DicomConfig) {
        if self.dicom_port.is_some() {
            c.port = self.dicom_port;
        }
        if let Some(t) = &self.ae_title {
            c.ae_title = t.clone();
        }
        if !self.allowed_callers.is_empty() {
            c.allowed_callers = self.allowed_callers.clone();
        }
        if !self.destinations.is_empty() {
            c.destinations = self.destinations.clone();
        }
        if let Some(p) = self.deidentify {
            c.deidentify = p;
        }
        if let Some(s) = self.stable_after {
            c.stable_after_seconds = s;
        }
    }
}

/// Arguments of `cruciate worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Run research jobs (the trials of `cruciate tune --queue`) instead of analysing exams:
    /// any number of such workers, on any machine that reaches the database (--db) and sees
    /// the search's files at the same paths, share a search.
    #[arg(long)]
    pub research: bool,
}

/// The async runtime of a command that talks to the service's database.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping: jobs in hand finish, then the process ends");
}

/// Runs `cruciate serve`.
pub fn serve(args: &ServeArgs, device: Compute) -> anyhow::Result<()> {
    let mut config = args.service.config()?;
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(mib) = args.max_upload_mib {
        config.max_upload_bytes = mib << 20;
    }
    args.dicom.apply(&mut config.dicom);
    if let Some(endpoint) = &args.fhir_endpoint {
        config.fhir.endpoint = Some(endpoint.clone());
    }
    if let Some(pacs) = &args.pacs_dicomweb {
        config.dicomweb.pacs = Some(pacs.clone());
    }
    if let Some(folder) = &args.ohif {
        config.ohif.folder = Some(folder.clone());
    }
    if let Some(port) = args.ohif_port {
        config.ohif.port = port;
    }
    config.analyser_flags = device.flags();
    let registry = registry(device);
    runtime()?.block_on(async move {
        let service = Service::open(config, &registry).await?;
        let (secret, seeded) = service.first_start().await?;
        let data = service.config().data.clone();
        if let Some(secret) = secret {
            println!(
                "admin token (shown once; also in {}): {secret}",
                data.join("admin-token").display()
            );
        }
        if seeded > 0 {
            println!("{seeded} synthetic demo exams queued for analysis");
        }
        let ae_title = service.config().dicom.ae_title.clone();
        let model = service.models().default_model();
        println!(
            "model {} ({}){}",
            model.name,
            match &model.what {
                cruciate_server::models::Served::Run(info) => info.model.name.clone(),
                cruciate_server::models::Served::Reading(r) => format!(
                    "a reading of {}",
                    r.findings
                        .iter()
                        .map(|f| f.describe())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            if model.what.synthetic() {
                ": demo model trained on synthetic data, not for clinical use"
            } else {
                ""
            }
        );
        service
            .serve(stop_signal(), |at| {
                println!(
                    "Cruciate is listening on http://{}/ (not for diagnostic use)",
                    at.http
                );
                if let Some(dicom) = at.dicom {
                    println!("DICOM storage SCP {} on {dicom}", ae_title);
                }
                if let Some(ohif) = at.ohif {
                    println!(
                        "OHIF Viewer on http://{ohif}/ (reads this service's DICOMweb; \
                         not for diagnostic use)"
                    );
                }
            })
            .await?;
        anyhow::Ok(())
    })
}

/// Runs `cruciate worker`.
pub fn worker(args: &WorkerArgs, device: Compute) -> anyhow::Result<()> {
    if args.research {
        return research_worker(args, device);
    }
    let mut config = args.service.config()?;
    config.analyser_flags = device.flags();
    let registry = registry(device);
    runtime()?.block_on(async move {
        let service = Service::open(config, &registry).await?;
        println!(
            "worker on {} with {} task(s)",
            service
                .config()
                .database_url()
                .split('?')
                .next()
                .unwrap_or_default(),
            service.config().workers.max(1)
        );
        service.work(stop_signal()).await;
        anyhow::Ok(())
    })
}

/// Runs `cruciate analyse`: an analyser process of the service (see
/// `cruciate_server::analyser`), serving jobs from standard input until it closes.
pub fn analyse(device: Compute) -> anyhow::Result<()> {
    let registry = registry(device);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    cruciate_server::analyser::serve(&registry, stdin.lock(), stdout.lock())
        .context("the analyser's pipes")?;
    Ok(())
}

/// Arguments of `cruciate export-reads`.
#[derive(Debug, Args)]
pub struct ExportReadsArgs {
    /// The service's data folder [default: ./cruciate-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The service's database URL [default: SQLite in the data folder].
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// The manifest to write.
    #[arg(long, value_name = "CSV")]
    out: PathBuf,
    /// Seed of the train / valid / test split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs `cruciate export-reads`: the radiologists' reads as a training manifest.
pub fn export_reads(args: &ExportReadsArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::default();
    if let Some(d) = &args.data {
        config.data = d.clone();
    }
    config.db = args.db.clone();
    let reads = runtime()?.block_on(cruciate_server::read_exams(&config))?;
    if reads.is_empty() {
        anyhow::bail!("no exam has a radiologist's read yet: nothing to export");
    }
    let labels: Vec<u8> = reads.iter().map(|r| r.grade).collect();
    let splits = cruciate_data::splits::stratified_splits(
        &labels,
        cruciate_data::splits::HeldOut::STUDY,
        args.seed,
    );
    let manifest = cruciate_data::Manifest {
        root: args.out.parent().map(PathBuf::from).unwrap_or_default(),
        rows: reads
            .iter()
            .zip(splits)
            .map(|(r, split)| cruciate_data::ManifestRow {
                exam_id: r.exam_id.clone(),
                path: std::path::absolute(&r.path)
                    .unwrap_or_else(|_| r.path.clone())
                    .display()
                    .to_string(),
                label: r.grade,
                split,
                roi: None,
                patient: None,
                spacing: None,
                side: None,
                meniscus: r.meniscus,
                abnormal: r.abnormal,
                plane: None,
            })
            .collect(),
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    manifest.write(&args.out)?;
    let count = |g: u8| labels.iter().filter(|&&l| l == g).count();
    println!(
        "wrote {} read exams (grades 0/1/2/3: {}/{}/{}/{}) to {}",
        labels.len(),
        count(0),
        count(1),
        count(2),
        count(3),
        args.out.display()
    );
    Ok(())
}

/// Runs `cruciate worker --research`: research jobs until Ctrl-C or SIGTERM (a job in hand is
/// finished first).
fn research_worker(args: &WorkerArgs, device: Compute) -> anyhow::Result<()> {
    use cruciate_server::research::{ResearchQueue, ResearchWorker};
    let config = args.service.config()?;
    if config.db.is_none() {
        std::fs::create_dir_all(&config.data).with_context(|| config.data.display().to_string())?;
    }
    let url = config.database_url();
    runtime()?.block_on(async move {
        let queue = ResearchQueue::open(&url).await?;
        let worker = ResearchWorker::new(
            queue,
            super::research::worker_name(),
            std::sync::Arc::new(super::research::ResearchJobs { device }),
        );
        println!(
            "research worker {} on {}",
            worker.name(),
            super::research::shown_url(&url)
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop_signal().await;
            let _ = stop.send(true);
        });
        worker.run(stopped).await;
        anyhow::Ok(())
    })
}
