//! `cruciate bench`: how fast the models, the SVM path or the service run on this machine
//! (measured by `cruciate-bench`), printed as a table or as JSON lines.

use anyhow::Result;
use clap::Args;
use cruciate_bench::{Machine, ModelBench, Row, ServiceRow, service::Batch};
use cruciate_models::Compute;

/// Arguments of `cruciate bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Slices per MRNet exam.
    #[arg(long, default_value_t = 32)]
    slices: usize,
    /// Timed repetitions of each measurement (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Phantom exams for the feature-extraction and synth figures (with --service: exams per
    /// batch).
    #[arg(long, default_value_t = 8)]
    exams: usize,
    /// One JSON object per line (a header, then one per row) instead of a table: what
    /// `bench/compare.sh` reads.
    #[arg(long)]
    json: bool,
    /// Measure the service instead: upload-to-result latency and exams per minute, with 1 and
    /// 2 analysers, beside the exam's decode and forward pass alone.
    #[arg(long)]
    pub service: bool,
    /// With --service: the runs to serve, one after the other (repeat the flag); the bundled
    /// demo model when none. With --exam: the runs to time.
    #[arg(long = "run", value_name = "RUN")]
    pub runs: Vec<std::path::PathBuf>,
    /// Measure whole-exam latency instead: each --run's analysis of zipped DICOM exams (read,
    /// decode, choose the series, resample, forward, explanation, result files) with the model
    /// open, per exam; `bench/exam_latency.sh` puts a Python pipeline beside it.
    #[arg(long, requires = "runs")]
    pub exam: bool,
    /// With --exam: the zipped exams (`*.zip`); --exams synthetic DICOM phantoms are made and
    /// zipped there when it holds none [default: a scratch folder].
    #[arg(long, value_name = "DIR", requires = "exam")]
    pub zips: Option<std::path::PathBuf>,
    /// Measure the SVM path instead: a 20-setting x 5-fold SVM grid on 500 x 1,024 features,
    /// and VGG16 feature extraction (8 central slices at 224x224) in exams/s on --exams phantoms.
    #[arg(long)]
    pub svm: bool,
    /// Measure the backbones' forward passes alone (VGG16, ResNet-18, ResNet-50, SqueezeNet on
    /// 8 x 224x224), on every engine: `bench/compare.sh --backbones` puts PyTorch beside them.
    #[arg(long)]
    pub backbones: bool,
}

/// Runs `cruciate bench`.
pub fn run(args: &BenchArgs, compute: Compute) -> Result<()> {
    let machine = Machine::here(compute);
    if args.service {
        return service(args, compute, &machine);
    }
    if args.svm {
        return svm(args, compute, &machine);
    }
    if args.exam {
        return exam(args, compute, &machine);
    }
    let best = cruciate_bench::models::label(compute, compute.engine_choice().resolve()?);
    if args.json {
        let header = serde_json::json!({"side": "cruciate", "cpu": machine.cpu,
            "threads": machine.threads, "onednn": machine.onednn, "isa": machine.isa,
            "default_engine": best, "slices": args.slices, "device": machine.device});
        println!("{header}");
    } else {
        println!(
            "cruciate bench on {} ({} threads), oneDNN {} ({}); default engine: {best}",
            machine.cpu, machine.threads, machine.onednn, machine.isa
        );
        println!(
            "{:<40} {:<12} {:>10} {:>8} {:>8} {:>8}",
            "workload", "engine", "median ms", "min", "max", "GFLOP/s"
        );
    }
    let bench = ModelBench {
        slices: args.slices,
        repeat: args.repeat,
        exams: args.exams,
    };
    let json = args.json;
    let mut print = |row: Row| print_row(&row, json);
    if args.backbones {
        cruciate_bench::models::backbones(&bench, compute, &mut print)?;
    } else {
        cruciate_bench::models::run(&bench, compute, super::registry, &mut print)?;
    }
    Ok(())
}

/// Prints one model row as a table line or a JSON line.
fn print_row(row: &Row, json: bool) {
    let rate = row.gflop_per_s();
    if json {
        let t = &row.timing;
        let line = serde_json::json!({"workload": row.workload, "variant": row.variant,
            "median_ms": t.median, "min_ms": t.min, "max_ms": t.max, "gflop_per_s": rate});
        println!("{line}");
        return;
    }
    let rate = rate.map_or("-".into(), |r| format!("{r:.1}"));
    let ms = |v: f64| {
        if v.is_nan() {
            "-".into()
        } else {
            format!("{v:.1}")
        }
    };
    let t = &row.timing;
    println!(
        "{:<40} {:<12} {:>10} {:>8} {:>8} {rate:>8}",
        row.workload,
        row.variant,
        ms(t.median),
        ms(t.min),
        ms(t.max)
    );
}

/// `cruciate bench --svm`.
fn svm(args: &BenchArgs, compute: Compute, machine: &Machine) -> Result<()> {
    println!(
        "cruciate bench --svm on {}, {} CPU threads",
        machine.cpu, machine.threads
    );
    let f = cruciate_bench::svm::run(args.exams, compute)?;
    println!(
        "one RBF SVM fit with Platt scaling on 1000 x 1024: {:.2} s",
        f.one_fit_s
    );
    println!(
        "SVM grid: {} settings x 5 folds ({} fits with Platt scaling) on 500 x 1024: {:.1} s",
        f.settings, f.fits, f.grid_s
    );
    println!(
        "VGG16 features, 8 central slices at 224x224: {:.2} exams/s ({} phantom exams in {:.1} s)",
        f.exams_per_s(),
        f.exams,
        f.extraction_s
    );
    Ok(())
}

/// `cruciate bench --exam`.
fn exam(args: &BenchArgs, compute: Compute, machine: &Machine) -> Result<()> {
    let zips = cruciate_bench::exam::Zips::in_dir(args.zips.as_deref(), args.exams)?;
    let rows = cruciate_bench::exam::run(&args.runs, &zips.paths, compute, super::registry)?;
    if args.json {
        let header = serde_json::json!({"side": "cruciate", "cpu": machine.cpu,
            "threads": machine.threads, "onednn": machine.onednn, "isa": machine.isa,
            "device": machine.device, "engine": compute.to_string(), "exams": zips.paths.len()});
        println!("{header}");
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    println!(
        "cruciate bench --exam on {compute} ({}, {} threads): {} zipped DICOM exams from {}",
        machine.cpu,
        machine.threads,
        zips.paths.len(),
        zips.dir.display()
    );
    println!(
        "{:<24} {:<10} {:>16} {:>14}",
        "model", "kind", "median (s/exam)", "mean (s/exam)"
    );
    for row in rows {
        println!(
            "{:<24} {:<10} {:>16.3} {:>14.3}",
            row.model, row.kind, row.median_s, row.mean_s
        );
    }
    Ok(())
}

/// `cruciate bench --service`.
fn service(args: &BenchArgs, compute: Compute, machine: &Machine) -> Result<()> {
    let batch = Batch::new(args.exams)?;
    println!(
        "cruciate bench --service on {compute} ({}, {} threads): {} synthetic DICOM exams \
         (256x256, 24 to 36 slices, {:.1} MB zipped each), SQLite",
        machine.cpu,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        batch.exams.len(),
        batch.megabytes_each()
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
    let print = |row: ServiceRow| {
        println!(
            "{:<24} {:<10} {:<24} {:>18.3} {:>22.3} {:>14.0} {:>10.1}",
            row.model,
            row.analysers.count,
            if row.analysers.kept {
                "kept between jobs"
            } else {
                "loaded per job (before)"
            },
            row.decode_and_forward_s,
            row.latency_s,
            row.overhead_ms(),
            row.exams_per_minute
        )
    };
    cruciate_bench::service::run(&batch, &args.runs, compute, super::registry, &mut { print })?;
    Ok(())
}
