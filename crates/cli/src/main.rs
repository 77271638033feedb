//! `cruciate`: read, inspect and export knee MRI exams.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cruciate reads knee MRI exams (DICOM, NIfTI, MRNet .npy, KneeMRI .pck) for ACL grading.
#[derive(Debug, Parser)]
#[command(name = "cruciate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an exam's format, plane, shape, spacing and intensity range.
    Inspect(commands::inspect::InspectArgs),
    /// Write every slice of an exam as an 8-bit PNG, plus a montage.
    Export(commands::export::ExportArgs),
    /// Generate a synthetic knee dataset (phantoms with known ACL grades) and its manifest.
    Synth(commands::synth::SynthArgs),
    /// Time MRNet forward and training step, VGG16 forward and phantom generation.
    Bench(commands::bench::BenchArgs),
    /// Train an exam model on a manifest into a run folder (resumes a killed run).
    Train(commands::train::TrainArgs),
    /// Grade one exam with a trained run.
    Predict(commands::predict::PredictArgs),
    /// Patient-level stratified k-fold cross-validation.
    Cv(commands::train::CvArgs),
    /// Show where a trained run's call on one exam came from (CAM / Grad-CAM overlays).
    Explain(commands::explain::ExplainArgs),
    /// Score a run on a manifest split: report.json and a self-contained report.html.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Runs side by side on one manifest split, as Markdown and HTML.
    Compare(commands::compare::CompareArgs),
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    // A panic that escapes a command (a bug, or a library's assertion) still ends in one line and
    // status 2 rather than a silent abort: the panic hook only logs at debug level.
    let outcome = std::panic::catch_unwind(|| run(cli.command));
    let result = outcome.unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown cause");
        Err(anyhow::anyhow!("internal error: {what}"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("cruciate: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command.
fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Inspect(args) => commands::inspect::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Synth(args) => commands::synth::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Predict(args) => commands::predict::run(&args),
        Command::Cv(args) => commands::train::run_cv(&args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Evaluate(args) => commands::evaluate::run(&args),
        Command::Compare(args) => commands::compare::run(&args),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CRUCIATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,cruciate_train=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    // Readers turn a third-party decoder's panic into an error; keep its report out of the
    // user's terminal unless they ask for debug output.
    std::panic::set_hook(Box::new(|info| tracing::debug!("recovered panic: {info}")));
}
