//! One module per subcommand.

pub mod bench;
pub mod beside;
pub mod calibrate;
pub mod cascade;
pub mod combine;
pub mod compare;
pub mod cv;
pub mod data;
pub mod dicom;
pub mod domain;
pub mod evaluate;
pub mod explain;
pub mod export;
pub mod features;
pub mod inspect;
pub mod localise;
pub mod predict;
pub mod reading;
pub mod reproduce;
pub mod research;
pub mod service;
pub mod svm;
pub mod synth;
pub mod train;
pub mod tune;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use cruciate_data::Manifest;
use cruciate_features::{FeatureRegion, features_kind};
use cruciate_infer::gate::Gate;
use cruciate_infer::{Classifier, Registry};
use cruciate_infer::{RoiCrop, RoiSource};
use cruciate_models::{Compute, network_kind};
use cruciate_volume::{ReadOptions, Study, Volume, read_paths, read_study};

/// The run kinds this build opens, computing on `device`.
pub fn registry(device: Compute) -> Registry {
    Registry::new()
        .with(network_kind(device))
        .with(features_kind(device))
        .with(cruciate_localise::localiser_kind())
}

/// Where the ACL region an exam is cut to comes from (`--roi`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RoiChoice {
    /// Whole exams: no cut.
    None,
    /// The manifest's roi column's boxes.
    Manifest,
    /// The boxes the localiser (`--localiser RUN`) finds.
    Auto,
}

/// Where exams are cut to their ACL region before a model sees them (`--roi`).
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct RoiArgs {
    /// Cut each exam to its ACL region first: none, manifest (the roi column's boxes) or auto
    /// (the boxes --localiser finds).
    #[arg(long, value_enum, default_value_t = RoiChoice::None)]
    pub roi: RoiChoice,
    /// The localiser run for --roi auto (`cruciate localise train`).
    #[arg(long, value_name = "RUN")]
    pub localiser: Option<PathBuf>,
    /// Voxels added around the box: slices,rows,columns.
    #[arg(long = "roi-margin", default_value = "2,16,16", value_parser = parse_margin)]
    pub roi_margin: [usize; 3],
}

/// Three whole numbers `slices,rows,columns`.
pub fn parse_margin(text: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = text
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("margin {text:?}: expected three whole numbers, slices,rows,columns")
        })?;
    <[usize; 3]>::try_from(parts)
        .map_err(|_| format!("margin {text:?}: expected slices,rows,columns"))
}

impl RoiArgs {
    /// The crop asked for, `None` for `--roi none`.
    pub fn crop(&self, device: Compute) -> anyhow::Result<Option<RoiCrop>> {
        let source = match (self.roi, &self.localiser) {
            (RoiChoice::None, _) => return Ok(None),
            (RoiChoice::Manifest, _) => RoiSource::Manifest,
            (RoiChoice::Auto, Some(run)) => {
                RoiSource::Auto(Arc::from(registry(device).open_localiser(run)?))
            }
            (RoiChoice::Auto, None) => anyhow::bail!("--roi auto needs --localiser RUN"),
        };
        Ok(Some(RoiCrop {
            source,
            margin: self.roi_margin,
        }))
    }

    /// The crop asked for as feature extraction takes it (with the localiser's folder).
    pub fn feature_region(&self, device: Compute) -> anyhow::Result<Option<FeatureRegion>> {
        Ok(self.crop(device)?.map(|crop| FeatureRegion {
            crop,
            localiser: self
                .localiser
                .clone()
                .filter(|_| self.roi == RoiChoice::Auto),
        }))
    }

    /// A model trained on ACL regions only sees regions: with `--localiser` (also beside
    /// `--roi manifest`, to predict with found boxes what was trained on true ones), writes
    /// the cascade that gives the run at `run` its regions to `RUN/cascade` (its folder is
    /// returned), else says how to make one.
    pub fn cascade_beside(&self, run: &Path, device: Compute) -> anyhow::Result<Option<PathBuf>> {
        let [s, r, c] = self.roi_margin;
        let Some(localiser) = &self.localiser else {
            println!(
                "trained on ACL regions: predict through a cascade, `cruciate cascade --localiser LOC --classifier {} --margin {s},{r},{c} --out RUN`",
                run.display()
            );
            return Ok(None);
        };
        let out = run.join("cascade");
        cascade::write(localiser, run, self.roi_margin, &out, device)?;
        println!(
            "cascade (the localiser's region, then this model): {}",
            out.display()
        );
        Ok(Some(out))
    }
}

/// Opens the run folder `run` as a classifier.
pub fn open_run(run: &Path, device: Compute) -> anyhow::Result<Box<dyn Classifier>> {
    Ok(registry(device).open_run(run)?)
}

/// The manifest at `manifest` as the model of run folder `run` sees it: its finding's labels,
/// its plane's series (the manifest itself for the ACL on the sagittal plane, and for folders
/// without `run.json`).
pub fn manifest_for(run: &Path, manifest: &Path) -> anyhow::Result<Manifest> {
    let manifest = Manifest::read(manifest)?;
    Ok(match cruciate_infer::RunInfo::read(run)? {
        Some(info) => info.view(&manifest)?,
        None => manifest,
    })
}

/// Writes `body` to `path` atomically.
pub fn write_text(path: &Path, body: &str) -> anyhow::Result<()> {
    cruciate_volume::atomic::write_atomically(path, |w| {
        std::io::Write::write_all(w, body.as_bytes())
    })
    .with_context(|| path.display().to_string())
}

/// A figure to three decimals, or "n/a" when it could not be computed.
pub fn figure(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// The exam to read, shared by every command that reads one.
#[derive(Debug, Args)]
pub struct ExamArgs {
    /// A DICOM folder, zip or file(s), a NIfTI .nii/.nii.gz, an .npy or a KneeMRI .pck.
    /// Several files are read as one DICOM series.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Read this DICOM series (SeriesInstanceUID) instead of the one chosen automatically.
    #[arg(long, value_name = "UID")]
    pub series: Option<String>,
}

impl ExamArgs {
    fn options(&self) -> ReadOptions {
        ReadOptions {
            series_uid: self.series.clone(),
            ..ReadOptions::default()
        }
    }

    /// Reads the exam, choosing its series by the reader's rules (sagittal first).
    pub fn read(&self) -> anyhow::Result<Volume> {
        Ok(read_paths(&self.paths, &self.options())?)
    }

    /// Every series of the exam, none decoded yet.
    pub fn study(&self) -> anyhow::Result<Study> {
        Ok(read_study(&self.paths, &self.options())?)
    }

    /// Reads the exam, the series chosen with `gate`: the most suitable one its rules accept.
    pub fn read_for(&self, gate: &Gate) -> anyhow::Result<Volume> {
        Ok(gate.choose(self.study()?, self.series.as_deref())?)
    }
}

/// Two whole numbers written `A..B` on the command line; `example` shows the form in errors.
pub fn parse_bounds(text: &str, example: &str) -> Result<(usize, usize), String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected {example}"))?;
    let number = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("{t:?} is not a whole number"))
    };
    Ok((number(a)?, number(b)?))
}
