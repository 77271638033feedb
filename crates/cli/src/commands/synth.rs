//! `cruciate synth`: a synthetic knee dataset with a manifest.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use cruciate_data::phantom::Difficulty;
use cruciate_data::synth::{Balance, ExamFormat, MRNET_MENISCAL_TEARS, SynthOptions, synthesize};
use cruciate_volume::Plane;
use indicatif::{ProgressBar, ProgressStyle};

/// File format of the exams.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// MRNet layout: uint8 .npy per exam.
    Npy,
    /// A DICOM MR series (folder) per exam.
    Dicom,
    /// NIfTI-1 .nii.gz per exam.
    Nifti,
}

/// Class proportions.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum BalanceArg {
    /// The study's 462 / 88 / 59 / 152.
    Study,
    /// Equal counts per grade.
    Equal,
}

/// How subtle the grades are.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DifficultyArg {
    /// Every grade clearly visible.
    Easy,
    /// Grades 1 and 2 subtle, more noise.
    Realistic,
}

/// Arguments of `cruciate synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder to write exams/ and manifest.csv into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of exams.
    #[arg(long, default_value_t = 100)]
    exams: usize,
    /// Dataset seed: the same seed gives the same dataset.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rows and columns per slice.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Slice count range, MIN..MAX (inclusive).
    #[arg(long, default_value = "24..36", value_parser = parse_range)]
    slices: (usize, usize),
    /// File format.
    #[arg(long, value_enum, default_value_t = FormatArg::Npy)]
    format: FormatArg,
    /// Class proportions.
    #[arg(long, value_enum, default_value_t = BalanceArg::Study)]
    balance: BalanceArg,
    /// How subtle grades 1 and 2 are.
    #[arg(long, value_enum, default_value_t = DifficultyArg::Easy)]
    difficulty: DifficultyArg,
    /// Planes to acquire, comma-separated: sagittal (always), coronal, axial. With more than
    /// one, npy exams go in MRNet's plane folders, DICOM exams become a study of one series
    /// per plane, NIfTI exams a folder of one file per plane.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sagittal")]
    planes: Vec<PlaneArg>,
    /// Share of exams given a meniscal tear, 0 to 1 (default: 0.35, MRNet's, with several
    /// planes; none with the sagittal plane alone). Labels go in the manifest's `meniscus` and
    /// `abnormal` columns.
    #[arg(long, value_name = "SHARE")]
    meniscal_tears: Option<f64>,
    /// Also lay the exams out as MRNet's dataset in DIR (`train/`, `valid/`, the six label
    /// files), for `data import mrnet` and `reproduce mrnet`; needs three planes and npy.
    #[arg(long, value_name = "DIR")]
    mrnet_layout: Option<PathBuf>,
    /// Share of exams put in a calib split (taken from the training share, below 0.5): held
    /// out from training and from choosing the epoch, it sets a run's input-gate limit,
    /// calibration and grade sets. Train, valid and test exams are those of the same seed
    /// without it, less the exams it takes from train.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    calib: f64,
}

/// An acquisition plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlaneArg {
    /// Slices from side to side: every exam has it.
    Sagittal,
    /// Slices from front to back.
    Coronal,
    /// Slices from foot to head.
    Axial,
}

impl From<PlaneArg> for Plane {
    fn from(plane: PlaneArg) -> Self {
        match plane {
            PlaneArg::Sagittal => Plane::Sagittal,
            PlaneArg::Coronal => Plane::Coronal,
            PlaneArg::Axial => Plane::Axial,
        }
    }
}

fn parse_range(text: &str) -> Result<(usize, usize), String> {
    let (a, b) = super::parse_bounds(text, "MIN..MAX, such as 24..36")?;
    if a == 0 || a > b {
        return Err(format!("slice range {a}..{b} must have 1 <= MIN <= MAX"));
    }
    Ok((a, b))
}

/// Runs `cruciate synth`.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    if args.exams == 0 {
        bail!("--exams must be at least 1");
    }
    if !(32..=1024).contains(&args.size) {
        bail!("--size {} is outside 32..=1024", args.size);
    }
    let mut planes: Vec<Plane> = Vec::new();
    for plane in args.planes.iter().map(|&p| Plane::from(p)) {
        if plane != Plane::Sagittal && !planes.contains(&plane) {
            planes.push(plane);
        }
    }
    let meniscal_tears = args.meniscal_tears.unwrap_or(if planes.is_empty() {
        0.0
    } else {
        MRNET_MENISCAL_TEARS
    });
    if !(0.0..=1.0).contains(&meniscal_tears) {
        bail!("--meniscal-tears {meniscal_tears} is outside 0..=1");
    }
    if !(0.0..0.5).contains(&args.calib) {
        bail!("--calib {} is outside 0..0.5", args.calib);
    }
    if args.mrnet_layout.is_some() && (planes.len() != 2 || !matches!(args.format, FormatArg::Npy))
    {
        bail!("--mrnet-layout needs --planes sagittal,coronal,axial and --format npy");
    }
    let options = SynthOptions {
        planes,
        meniscal_tears,
        calib: args.calib,
        exams: args.exams,
        seed: args.seed,
        size: args.size,
        slices: args.slices,
        format: match args.format {
            FormatArg::Npy => ExamFormat::Npy,
            FormatArg::Dicom => ExamFormat::Dicom,
            FormatArg::Nifti => ExamFormat::Nifti,
        },
        balance: match args.balance {
            BalanceArg::Study => Balance::Study,
            BalanceArg::Equal => Balance::Equal,
        },
        difficulty: match args.difficulty {
            DifficultyArg::Easy => Difficulty::Easy,
            DifficultyArg::Realistic => Difficulty::Realistic,
        },
    };
    let bar = ProgressBar::new(args.exams as u64).with_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} exams, {per_sec}, ETA {eta}")
            .expect("valid template"),
    );
    bar.set_message("synth");
    let start = Instant::now();
    let manifest = synthesize(&args.out, &options, &|| bar.inc(1)).context("synth failed")?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let count = |k: u8| manifest.rows.iter().filter(|r| r.label == k).count();
    println!(
        "wrote {} synthetic exams (grades 0/1/2/3: {}/{}/{}/{}) and {} in {seconds:.1} s ({:.1} exams/s)",
        manifest.rows.len(),
        count(0),
        count(1),
        count(2),
        count(3),
        args.out.join("manifest.csv").display(),
        manifest.rows.len() as f64 / seconds
    );
    if let Some(dir) = &args.mrnet_layout {
        cruciate_data::import::mrnet::write_layout(&manifest, dir)?;
        println!("laid out as MRNet's dataset in {}", dir.display());
    }
    println!(
        "these are synthetic phantoms: results on them say nothing about clinical performance"
    );
    Ok(())
}
