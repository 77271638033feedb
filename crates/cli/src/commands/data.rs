//! `cruciate data import mrnet|kneemri|dicom`: a dataset on disk becomes a manifest.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use cruciate_data::import::dicom::{DicomImport, import_dicom};
use cruciate_data::import::kneemri::import_kneemri;
use cruciate_data::import::mrnet::{MrnetOptions, import_mrnet};
use cruciate_data::import::{Imported, SplitFractions};

/// `cruciate data ...`.
#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Write the manifest of a dataset on disk (MRNet, KneeMRI or a folder of DICOM studies).
    Import {
        #[command(subcommand)]
        dataset: Dataset,
    },
}

/// Where the manifest goes and how exams are split.
#[derive(Debug, Args)]
struct ImportOut {
    /// The manifest to write (dataset.json is written beside it).
    #[arg(long, value_name = "CSV")]
    out: PathBuf,
    /// Share of patients in the valid split.
    #[arg(long, default_value_t = 0.15)]
    valid: f64,
    /// Share of patients in the test split (MRNet keeps its own test set).
    #[arg(long, default_value_t = 0.15)]
    test: f64,
    /// Share of patients in the calib split, held out from training and from choosing the
    /// epoch: where there is one, `train` sets the input gate's limit, the calibration and the
    /// grade sets on it instead of on the valid split.
    #[arg(long, default_value_t = 0.0)]
    calib: f64,
    /// Seed of the split assignment.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Every exam in the test split: the dataset held out whole, to score a model trained
    /// elsewhere on it (an external validation, as MRNet's authors scored theirs on KneeMRI)
    /// with `cruciate evaluate --split test`.
    #[arg(long, conflicts_with_all = ["valid", "test", "calib", "seed"])]
    external: bool,
}

#[derive(Debug, Subcommand)]
enum Dataset {
    /// MRNet: DIR/train|valid/{sagittal,coronal,axial}/NNNN.npy and
    /// DIR/train|valid-{acl,meniscus,abnormal}.csv, all read. ACL labels 0/1 become grades 0/3
    /// (`meniscus` and `abnormal` columns hold the others); MRNet's valid part becomes the test
    /// split. Train a model of another finding or plane with `train --finding F --plane P`.
    Mrnet {
        /// The MRNet folder.
        dir: PathBuf,
        /// The plane whose file each row names (the others lie beside it).
        #[arg(long, default_value = "sagittal", value_parser = |s: &str| cruciate_data::parse_plane(s))]
        plane: cruciate_volume::Plane,
        #[command(flatten)]
        out: ImportOut,
    },
    /// KneeMRI: DIR/metadata.csv and the .pck volumes below DIR. aclDiagnosis 0/1/2 become
    /// grades 0/2/3; the ROI becomes the manifest's box.
    Kneemri {
        /// The KneeMRI folder.
        dir: PathBuf,
        #[command(flatten)]
        out: ImportOut,
    },
    /// A folder of DICOM studies (one folder each) and a CSV of reads `id,grade` (id: the
    /// StudyInstanceUID or AccessionNumber; grade 0..3).
    Dicom {
        /// The folder of studies.
        dir: PathBuf,
        /// The reads.
        #[arg(long, value_name = "CSV")]
        labels: PathBuf,
        /// List studies without a read as skipped instead of refusing the import.
        #[arg(long)]
        skip_unlabelled: bool,
        #[command(flatten)]
        out: ImportOut,
    },
}

impl ImportOut {
    fn fractions(&self) -> anyhow::Result<SplitFractions> {
        let ok = |f: f64| (0.0..0.5).contains(&f);
        if !ok(self.valid) || !ok(self.test) || !ok(self.calib) {
            anyhow::bail!("--valid, --test and --calib are shares below 0.5");
        }
        if self.valid + self.test + self.calib >= 1.0 {
            anyhow::bail!("--valid, --test and --calib leave no exams to train on");
        }
        Ok(SplitFractions {
            valid: self.valid,
            test: self.test,
            calib: self.calib,
            seed: self.seed,
            external: self.external,
        })
    }
}

/// Runs `cruciate data`.
pub fn run(args: &DataArgs) -> anyhow::Result<()> {
    let DataCommand::Import { dataset } = &args.command;
    let (imported, out): (Imported, &ImportOut) = match dataset {
        Dataset::Mrnet { dir, plane, out } => {
            let options = MrnetOptions {
                plane: *plane,
                splits: out.fractions()?,
            };
            (import_mrnet(dir, &options)?, out)
        }
        Dataset::Kneemri { dir, out } => (import_kneemri(dir, &out.fractions()?)?, out),
        Dataset::Dicom {
            dir,
            labels,
            skip_unlabelled,
            out,
        } => {
            let options = DicomImport {
                labels,
                skip_unlabelled: *skip_unlabelled,
                splits: out.fractions()?,
            };
            (import_dicom(dir, &options)?, out)
        }
    };
    imported.write(&out.out)?;
    println!("{}", imported.summary());
    println!("manifest: {}", out.out.display());
    Ok(())
}
