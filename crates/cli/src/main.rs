//! `cruciate`: grade the anterior cruciate ligament on knee MRI, and train, evaluate, compare
//! and explain the models that do it. This binary parses flags and renders progress; the work is
//! done by the library crates.

mod commands;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::service::LogFormat;

/// Cruciate grades the ACL on sagittal knee MRI (DICOM, NIfTI, MRNet .npy, KneeMRI .pck) and
/// trains, evaluates, compares and explains the models that do it.
#[derive(Debug, Parser)]
#[command(name = "cruciate", version, about, long_about = None)]
struct Cli {
    /// Where models compute: cpu; vulkan / vulkan:N in builds with the `gpu` (Vulkan) feature;
    /// cuda / cuda:N in builds with the `cuda` feature.
    #[arg(
        long,
        global = true,
        env = "CRUCIATE_DEVICE",
        default_value = "cpu",
        value_name = "DEVICE"
    )]
    device: cruciate_models::Target,
    /// What runs backbones on the CPU: auto (oneDNN when this build has it, else flex), flex
    /// (Burn, the reference) or dnnl.
    #[arg(long, global = true, default_value = "auto", value_name = "ENGINE")]
    engine: cruciate_engine::EngineKind,
    /// The engine's number format: auto (bf16 where the CPU has AMX, else f32, as measured
    /// fastest), f32 or bf16.
    #[arg(long, global = true, default_value = "auto", value_name = "PRECISION", value_parser = precision_flag)]
    precision: PrecisionFlag,
    #[command(subcommand)]
    command: Command,
}

/// `--precision`, parsed once: a precision, or `auto` (none chosen).
#[derive(Debug, Clone, Copy)]
struct PrecisionFlag(Option<cruciate_engine::Precision>);

fn precision_flag(text: &str) -> Result<PrecisionFlag, String> {
    cruciate_engine::parse_precision(text).map(PrecisionFlag)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an exam's format, plane, shape, spacing and intensity range.
    Inspect(commands::inspect::InspectArgs),
    /// Write every slice of an exam as an 8-bit PNG, plus a montage.
    Export(commands::export::ExportArgs),
    /// Generate a synthetic knee dataset (phantoms with known ACL grades) and its manifest.
    Synth(commands::synth::SynthArgs),
    /// Turn a dataset on disk (MRNet, KneeMRI, a folder of DICOM studies) into a manifest.
    Data(commands::data::DataArgs),
    /// Time MRNet forward and training step, VGG16 forward and phantom generation.
    Bench(commands::bench::BenchArgs),
    /// Train an exam model on a manifest into a run folder (resumes a killed run).
    Train(commands::train::TrainArgs),
    /// Grade one exam with a trained run.
    Predict(commands::predict::PredictArgs),
    /// Patient-level stratified k-fold cross-validation.
    Cv(commands::cv::CvArgs),
    /// Show where a trained run's call on one exam came from, drawn on the exam's slices.
    Explain(commands::explain::ExplainArgs),
    /// Fit a run's domain reference: the input gate's check that an exam is like its training
    /// exams (train and svm train fit it themselves).
    Domain(commands::domain::DomainArgs),
    /// Fit a run's calibration on held-out exams (calib, else valid): a temperature for networks and the
    /// conformal grade sets (train and svm train fit it themselves).
    Calibrate(commands::calibrate::CalibrateArgs),
    /// A frozen backbone's feature vector for every exam of a manifest (cached).
    Features(commands::features::FeaturesArgs),
    /// Support vector classifiers (and the logistic baseline) on deep features.
    Svm(commands::svm::SvmArgs),
    /// Convert pretrained weights (a Keras VGG16 in ONNX) to the torchvision layout.
    Weights(commands::features::WeightsArgs),
    /// Hyperparameter search (SVM or network path), resumable, with the best refitted.
    Tune(commands::tune::TuneArgs),
    /// Score a run on a manifest split: report.json and a self-contained report.html.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Runs side by side on one manifest split, as Markdown and HTML.
    Compare(commands::compare::CompareArgs),
    /// MRNet's combiner: the plane runs of one finding joined by a logistic regression fitted
    /// on validation exams, scored beside each plane.
    Combine(commands::combine::CombineArgs),
    /// The whole knee read at once: one model per finding (runs or combined runs) assembled
    /// into a reading that `predict` and `evaluate` take as a run.
    Reading(commands::reading::ReadingArgs),
    /// A published study's recipe end to end on your copy of its data (`reproduce mrnet`).
    Reproduce(commands::reproduce::ReproduceArgs),
    /// The web service: worklist, viewer and API, with workers (SQLite by default).
    Serve(commands::service::ServeArgs),
    /// A run that puts a localiser in front of a classifier (the ACL region only).
    Cascade(commands::cascade::CascadeArgs),
    /// Find the ACL region of an exam with a localiser, or train one (`localise train`).
    Localise(commands::localise::LocaliseArgs),
    /// Check a DICOM peer: C-ECHO it, or C-STORE files to it.
    Dicom(commands::dicom::DicomArgs),
    /// More workers on a service's queue (share its --db and --data).
    Worker(commands::service::WorkerArgs),
    /// Write the radiologists' reads recorded by the service as a training manifest.
    ExportReads(commands::service::ExportReadsArgs),
    /// An analyser process of the service: jobs as JSON lines on standard input.
    #[command(hide = true)]
    Analyse,
}

fn main() -> ExitCode {
    // Before any thread starts, so that every thread inherits it.
    cruciate_engine::flush_denormals();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            init_logging(false, DEFAULT_LOG);
            return flag_error(e);
        }
    };
    let json_logs = match &cli.command {
        Command::Serve(a) => a.service.log_format == Some(LogFormat::Json),
        Command::Worker(a) => a.service.log_format == Some(LogFormat::Json),
        _ => false,
    };
    if matches!(
        cli.command,
        Command::Train(_)
            | Command::Tune(_)
            | Command::Cv(_)
            | Command::Reproduce(_)
            | Command::Bench(_)
    ) {
        keep_freed_memory();
    }
    if !matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        // Network servers keep SIGPIPE ignored: a closed connection must not end them.
        restore_broken_pipe();
    }
    // The service benchmark keeps the service's per-exam lines out of its table.
    let quiet = matches!(&cli.command, Command::Bench(_));
    init_logging(json_logs, if quiet { "warn" } else { DEFAULT_LOG });
    let compute = cruciate_models::Compute {
        target: cli.device,
        engine: cruciate_engine::EngineChoice {
            engine: cli.engine,
            precision: cli.precision.0,
        },
    };
    finish(guarded(|| {
        compute.check().map_err(anyhow::Error::msg)?;
        run(cli.command, compute)
    }))
}

/// Help and version as clap prints them; any other flag error as one line and status 2.
fn flag_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let first = first_paragraph(&e.render().to_string());
    finish(Err(anyhow::anyhow!(
        "{} (see --help)",
        first.trim_start_matches("error: ")
    )))
}

/// The first paragraph of clap's message on one line: what is missing comes on the lines after
/// its first ("the following required arguments were not provided:" / "--labels <CSV>").
fn first_paragraph(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    match lines.join(" ") {
        line if line.is_empty() => "invalid arguments".to_string(),
        line => line,
    }
}

/// Runs `command`; a panic that escapes it (a bug, or a library's assertion) becomes an
/// "internal error" rather than an abort: the panic hook only logs it at debug level.
fn guarded(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown cause");
        Err(anyhow::anyhow!("internal error: {what}"))
    })
}

/// Exit status 0, or the error as one line on stderr and status 2.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cruciate: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line; a cause that the message before it already quotes
/// (library errors often print their source) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

/// Runs one command.
fn run(command: Command, device: cruciate_models::Compute) -> anyhow::Result<()> {
    match command {
        Command::Inspect(args) => commands::inspect::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Synth(args) => commands::synth::run(&args),
        Command::Data(args) => commands::data::run(&args),
        Command::Bench(args) => commands::bench::run(&args, device),
        Command::Train(args) => commands::train::run(&args, device),
        Command::Predict(args) => commands::predict::run(&args, device),
        Command::Cv(args) => commands::cv::run(&args, device),
        Command::Explain(args) => commands::explain::run(&args, device),
        Command::Domain(args) => commands::domain::run(&args, device),
        Command::Calibrate(args) => commands::calibrate::run(&args, device),
        Command::Features(args) => commands::features::run(&args, device),
        Command::Svm(args) => commands::svm::run(&args, device),
        Command::Weights(args) => commands::features::run_weights(&args),
        Command::Tune(args) => commands::tune::run(&args, device),
        Command::Evaluate(args) => commands::evaluate::run(&args, device),
        Command::Compare(args) => commands::compare::run(&args, device),
        Command::Combine(args) => commands::combine::run(&args, device).map(|_| ()),
        Command::Reading(args) => commands::reading::run(&args, device),
        Command::Reproduce(args) => commands::reproduce::run(&args, device),
        Command::Dicom(args) => commands::dicom::run(&args),
        Command::Localise(args) => commands::localise::run(&args),
        Command::Cascade(args) => commands::cascade::run(&args, device),
        Command::Serve(args) => commands::service::serve(&args, device),
        Command::Worker(args) => commands::service::worker(&args, device),
        Command::ExportReads(args) => commands::service::export_reads(&args),
        Command::Analyse => commands::service::analyse(device),
    }
}

/// Lets a closed pipe end the process quietly, as it ends `cat` or `grep`
/// (`cruciate inspect X --json | head -c 10`): Rust ignores SIGPIPE, so a write to a closed pipe
/// would otherwise fail inside `println!` and end as an internal error.
fn restore_broken_pipe() {
    // SAFETY: called first thing in `main`, before any thread starts; restoring a signal's
    // default disposition has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Keeps memory the process frees for its next allocations instead of handing it back to the
/// kernel: a training step allocates and frees the same large buffers (weights handed to the
/// engine, gradients, the optimiser's moments) every step, and glibc's defaults unmap or trim
/// most of them, so that every step pays again for fresh zeroed pages. Measured on ResNet-50's
/// training step (8 x 224x224, dnnl bf16, AMD EPYC, 2 cores, 2026-12-07): 470 ms a step with
/// the defaults, 394 ms with these settings (`MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`
/// in the environment). For the commands that train or measure; the service keeps the
/// defaults.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called from `main` before any thread starts; `mallopt` only changes glibc's
    // thresholds for later allocations (32 MiB is the largest mmap threshold it takes on 64-bit).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// What is logged when `CRUCIATE_LOG` does not say.
const DEFAULT_LOG: &str = "warn,cruciate_train=info,cruciate_server=info";

fn init_logging(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CRUCIATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colour only for a terminal: a log written to a file or a journal stays plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    // Readers turn a third-party decoder's panic into an error; keep its report out of the
    // user's terminal unless they ask for debug output.
    std::panic::set_hook(Box::new(|info| tracing::debug!("recovered panic: {info}")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_command_becomes_one_internal_error_line() {
        std::panic::set_hook(Box::new(|_| {}));
        let e = guarded(|| panic!("index 7 out of range\nfor slice of length 3")).unwrap_err();
        assert_eq!(
            one_line(&e),
            "internal error: index 7 out of range for slice of length 3"
        );
        assert!(guarded(|| Ok(())).is_ok());
        let e = guarded(|| Err(anyhow::anyhow!("plain"))).unwrap_err();
        assert_eq!(one_line(&e), "plain");
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let quoted = anyhow::Error::new(cruciate_data::DataError::Io {
            path: "m.csv".into(),
            source: io,
        });
        assert_eq!(one_line(&quoted), "m.csv: No such file");
        let context = anyhow::anyhow!("reading\nthe exam").context("predicting");
        assert_eq!(one_line(&context), "predicting: reading the exam");
    }

    #[test]
    fn a_missing_argument_is_named_on_the_error_line() {
        let e =
            Cli::try_parse_from(["cruciate", "data", "import", "dicom", "studies"]).unwrap_err();
        let line = first_paragraph(&e.render().to_string());
        assert!(line.contains("--labels"), "{line}");
    }

    #[test]
    fn flag_errors_keep_their_first_line() {
        let e = Cli::try_parse_from(["cruciate", "export", "x", "--out", "o", "--window", "x"])
            .unwrap_err();
        let text = e.render().to_string();
        assert!(text.lines().count() > 1, "clap's own message spans lines");
        assert!(text.contains("--window"));
    }
}
