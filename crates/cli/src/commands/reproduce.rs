//! `cruciate reproduce mrnet`: MRNet's recipe (Bien et al. 2018) end to end on the user's copy
//! of the dataset: every plane and every label imported, a network per finding and plane
//! trained on MRNet's training part, a logistic regression per finding over the three planes
//! fitted on a validation share carved from it, and every figure on MRNet's validation part
//! (the paper's reported set), printed beside the published ones.
//!
//! Each step keeps what an earlier, interrupted call finished: a trained run (its `run.json`)
//! is not trained again, a killed one resumes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use cruciate_data::import::SplitFractions;
use cruciate_data::import::mrnet::{MrnetOptions, import_mrnet};
use cruciate_data::{Finding, Manifest, Split};
use cruciate_eval::combine::CombineReport;
use cruciate_infer::{AcrossFindings, ReadingModel, ReadingRun};
use cruciate_models::Compute;
use cruciate_train::{TrainConfig, TrainRequest};
use cruciate_volume::Plane;

use super::combine::{CombineArgs, auc_text, run_name};
use super::write_text;

/// MRNet's recipe as the paper trained it (`configs/mrnet.toml`).
const MRNET_RECIPE: &str = include_str!("../../../../configs/mrnet.toml");

/// The paper's validation-set AUC per finding with its 95 % interval (Bien et al. 2018,
/// PLOS Medicine, table 2).
pub const PUBLISHED: [(Finding, f64, [f64; 2]); 3] = [
    (Finding::Abnormal, 0.937, [0.895, 0.980]),
    (Finding::Acl, 0.965, [0.938, 0.993]),
    (Finding::Meniscus, 0.847, [0.780, 0.914]),
];

/// Arguments of `cruciate reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    #[command(subcommand)]
    study: Study,
}

#[derive(Debug, Subcommand)]
enum Study {
    /// MRNet: nine plane networks (abnormal, ACL, meniscus x sagittal, coronal, axial) and a
    /// logistic regression per finding; figures on MRNet's validation part beside the paper's.
    Mrnet(MrnetArgs),
}

/// Arguments of `cruciate reproduce mrnet`.
#[derive(Debug, Args)]
pub struct MrnetArgs {
    /// The MRNet folder (train/, valid/, the six label files).
    #[arg(value_name = "MRNET")]
    dir: PathBuf,
    /// Where everything goes: manifest.csv, runs/FINDING-PLANE, FINDING/ (combined runs),
    /// knee/ (the reading of the three findings), reproduce.md.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// ImageNet AlexNet weights (torchvision `alexnet.pth`), as the paper fine-tuned; without
    /// them every network trains from scratch, which is not the paper's recipe.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Settings in place of the paper's (configs/mrnet.toml, built in).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override any setting, e.g. `--set train.epochs=10`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Override a setting for one finding's networks only, after `--set`, e.g.
    /// `--set-for 'meniscus:model.spatial_pooling="max"'` (a tear is a few pixels; the ACL
    /// and abnormality keep the rest).
    #[arg(long = "set-for", value_name = "FINDING:KEY=VALUE", value_parser = parse_finding_setting)]
    set_for: Vec<FindingSetting>,
    /// One network per plane with a head per finding (trained on the sum of the three losses),
    /// in place of MRNet's network per plane and finding: `runs/joint-PLANE`, whose finding
    /// runs the regressions combine as MRNet's.
    #[arg(long)]
    joint: bool,
    /// Share of MRNet's training cases kept out as the validation split (epoch choice and the
    /// regressions' fit).
    #[arg(long, default_value_t = 0.15)]
    valid: f64,
    /// Seed of the validation split and of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// One `--set-for`: a setting for one finding's networks.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingSetting {
    /// The finding whose networks it applies to.
    finding: Finding,
    /// `KEY=VALUE`, as `--set` takes it.
    setting: String,
}

fn parse_finding_setting(text: &str) -> Result<FindingSetting, String> {
    let (finding, setting) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected FINDING:KEY=VALUE"))?;
    if !setting.contains('=') {
        return Err(format!("{text:?}: expected FINDING:KEY=VALUE"));
    }
    Ok(FindingSetting {
        finding: finding.parse()?,
        setting: setting.to_string(),
    })
}

/// Runs `cruciate reproduce`.
pub fn run(args: &ReproduceArgs, device: Compute) -> anyhow::Result<()> {
    let Study::Mrnet(args) = &args.study;
    mrnet(args, device)
}

fn mrnet(args: &MrnetArgs, device: Compute) -> anyhow::Result<()> {
    if !(0.0..0.5).contains(&args.valid) || args.valid == 0.0 {
        anyhow::bail!("--valid is a share above 0 and below 0.5");
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let manifest_path = args.out.join("manifest.csv");
    let options = MrnetOptions {
        plane: Plane::Sagittal,
        splits: SplitFractions {
            valid: args.valid,
            test: 0.0,
            calib: 0.0,
            seed: args.seed,
            external: false,
        },
    };
    let imported = import_mrnet(&args.dir, &options)?;
    imported.write(&manifest_path)?;
    println!("{}", imported.summary());
    let manifest = Manifest::read(&manifest_path)?;
    let recipe = match &args.config {
        Some(path) => path.clone(),
        None => {
            let path = args.out.join("mrnet.toml");
            write_text(&path, MRNET_RECIPE)?;
            path
        }
    };
    if args.weights.is_none() {
        println!(
            "note: no --weights: the networks train from scratch, where the paper fine-tuned ImageNet AlexNet features"
        );
    }
    println!(
        "note: MRNet's .npy files carry no spacing: every exam is read with its spacing unknown, as the paper's networks read pixels only"
    );
    if args.joint && !args.set_for.is_empty() {
        anyhow::bail!(
            "--set-for sets one finding's networks; with --joint the findings share each plane's network: use --set"
        );
    }
    let networks: Vec<Network> = if args.joint {
        vec![Network::Joint]
    } else {
        Finding::ALL.into_iter().map(Network::Finding).collect()
    };
    // Every network's settings are read before anything trains: a mistyped `--set-for` of the
    // last finding fails now, not after the first six networks.
    for &network in &networks {
        plane_config(args, &recipe, network, Plane::Sagittal)?;
    }
    for &network in &networks {
        for plane in Plane::ACQUIRED {
            let run = network.run(&args.out, plane);
            train_plane(args, &recipe, &manifest, network, plane, &run, device)?;
        }
    }
    let mut reports = Vec::new();
    for finding in Finding::ALL {
        let network = match args.joint {
            true => Network::Joint,
            false => Network::Finding(finding),
        };
        let runs: Vec<PathBuf> = Plane::ACQUIRED
            .into_iter()
            .map(|plane| network.finding_run(&args.out, plane, finding))
            .collect();
        let combine = CombineArgs {
            runs,
            manifest: manifest_path.clone(),
            out: args.out.join(finding.name()),
            fit_on: Split::Valid,
            split: Split::Test,
            seed: args.seed,
        };
        reports.push(super::combine::run(&combine, device)?);
    }
    let mut table = side_by_side(&reports);
    // The three combined runs as one reading of the knee, for predict, evaluate; and the same
    // with its findings informing each other, fitted on the exams the regressions were.
    let combined: Vec<PathBuf> = Finding::ALL
        .iter()
        .map(|f| args.out.join(f.name()))
        .collect();
    let knee = args.out.join("knee");
    let informed = args.out.join("knee-informed");
    super::reading::assemble(&combined, &knee, None, device)?;
    let across = super::reading::assemble(
        &combined,
        &informed,
        Some((&manifest_path, Split::Valid)),
        device,
    )?
    .across;
    table += &readings_side_by_side(&knee, across.as_ref(), &manifest, device)?;
    if imported.synthetic {
        table += &format!("{}\n", cruciate_infer::run::model_notice(true));
    }
    print!("{table}");
    write_text(&args.out.join("reproduce.md"), &table)?;
    println!("written to {}", args.out.join("reproduce.md").display());
    println!(
        "the whole knee (every finding from one study): `cruciate predict --run {}`, or {} with its findings informing each other",
        knee.display(),
        informed.display()
    );
    Ok(())
}

/// The reading in `knee` and the same with its findings informing each other by `across`,
/// scored on MRNet's validation part (the manifest's test split) as the service reads a study
/// (every finding, calls agreeing), each study read once for both, with the macro AUC.
fn readings_side_by_side(
    knee: &Path,
    across: Option<&AcrossFindings>,
    manifest: &Manifest,
    device: Compute,
) -> anyhow::Result<String> {
    let run = ReadingRun::read(knee)?
        .ok_or_else(|| anyhow::anyhow!("{}: no reading.json", knee.display()))?;
    let model = ReadingModel::open(&super::registry(device), knee, &run)?;
    let reports = cruciate_eval::reading::score_reading_variants(
        &model,
        &[None, across],
        manifest,
        Split::Test,
        0,
        &crate::progress::Bars::default(),
    )?;
    let named: Vec<(String, _)> = ["knee", "knee-informed"]
        .into_iter()
        .map(String::from)
        .zip(reports)
        .collect();
    let table = cruciate_eval::reading::comparison_table(&named);
    Ok(format!(
        "\nThe whole knee read as the service reads a study (each finding's combined call, an abnormal knee at least as likely as a tear it includes); knee-informed: each finding's call a regression over every finding's, fitted on the validation exams:\n\n{}",
        cruciate_eval::compare::to_markdown(&table)
    ))
}

/// The networks of each plane: one per finding (MRNet's) or one joint network.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Network {
    /// The network of one finding.
    Finding(Finding),
    /// One network with a head per finding.
    Joint,
}

impl Network {
    /// The run folder of this network on `plane`.
    fn run(self, out: &Path, plane: Plane) -> PathBuf {
        let name = match self {
            Network::Finding(finding) => run_name(finding, plane),
            Network::Joint => format!("joint-{plane}"),
        };
        out.join("runs").join(name)
    }

    /// The run that answers `finding` on `plane`.
    fn finding_run(self, out: &Path, plane: Plane, finding: Finding) -> PathBuf {
        match self {
            Network::Finding(_) => self.run(out, plane),
            Network::Joint => cruciate_train::joint::finding_run(&self.run(out, plane), finding),
        }
    }

    /// What it is asked, for messages.
    fn describe(self) -> String {
        match self {
            Network::Finding(finding) => finding.describe().to_string(),
            Network::Joint => "every finding (one joint network)".into(),
        }
    }

    /// The settings that make a plane's network this one.
    fn settings(self) -> String {
        match self {
            Network::Finding(finding) => format!("model.finding=\"{finding}\""),
            Network::Joint => format!(
                "model.findings=[{}]",
                Finding::ALL.map(|f| format!("\"{f}\"")).join(", ")
            ),
        }
    }
}

/// Trains `network` on `plane` into `run`, unless it is there already.
fn train_plane(
    args: &MrnetArgs,
    recipe: &Path,
    manifest: &Manifest,
    network: Network,
    plane: Plane,
    run: &Path,
    device: Compute,
) -> anyhow::Result<()> {
    let last = network.finding_run(&args.out, plane, Finding::ALL[2]);
    if cruciate_infer::RunInfo::read(&last)?.is_some() {
        println!("{}: trained already", run.display());
        return Ok(());
    }
    println!(
        "training {} on the {plane} plane: {}",
        network.describe(),
        run.display()
    );
    let config = plane_config(args, recipe, network, plane)?;
    let request = TrainRequest {
        manifest: config.view(manifest)?,
        out: run.to_path_buf(),
        weights: args.weights.clone(),
        config,
        compute: device,
        roi: None,
    };
    super::train::train_and_fit(&request, None, device)?;
    Ok(())
}

/// The settings of `network` on `plane`: the recipe, `--set`, then the finding's `--set-for`.
fn plane_config(
    args: &MrnetArgs,
    recipe: &Path,
    network: Network,
    plane: Plane,
) -> anyhow::Result<TrainConfig> {
    let mut overrides = vec![
        "model.task=\"binary\"".to_string(),
        network.settings(),
        format!("model.plane=\"{plane}\""),
    ];
    overrides.extend(args.set.iter().cloned());
    overrides.extend(
        args.set_for
            .iter()
            .filter(|s| Network::Finding(s.finding) == network)
            .map(|s| s.setting.clone()),
    );
    TrainConfig::load(Some(recipe), &overrides).with_context(|| match network {
        Network::Finding(finding) => format!("the settings of the {finding} networks"),
        Network::Joint => "the settings of the joint networks".into(),
    })
}

/// The figures beside the paper's, as Markdown.
fn side_by_side(reports: &[CombineReport]) -> String {
    let mut out = String::from(
        "\n| finding | sagittal | coronal | axial | combined (logistic regression) | MRNet, published |\n|---|---|---|---|---|---|\n",
    );
    for report in reports {
        let plane = |p: Plane| {
            report
                .single
                .iter()
                .find(|f| f.planes == [p])
                .map_or("-".into(), auc_text)
        };
        let published = PUBLISHED
            .iter()
            .find(|(f, ..)| *f == report.finding)
            .map_or("-".into(), |(_, auc, [lo, hi])| {
                format!("{auc:.3} ({lo:.3}-{hi:.3})")
            });
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            report.finding.describe(),
            plane(Plane::Sagittal),
            plane(Plane::Coronal),
            plane(Plane::Axial),
            auc_text(report.all_planes()),
            published
        );
    }
    let (_, exams, _) = reports
        .first()
        .map_or((Split::Test, 0, 0), |r| r.reported_on);
    let macro_auc: Vec<f64> = reports.iter().filter_map(|r| r.all_planes().auc).collect();
    if macro_auc.len() == reports.len() && !reports.is_empty() {
        out += &format!(
            "\nMacro AUC over the findings, combined: {:.3} (MRNet: {:.3}).\n",
            macro_auc.iter().sum::<f64>() / macro_auc.len() as f64,
            PUBLISHED.iter().map(|p| p.1).sum::<f64>() / 3.0
        );
    }
    out += &format!(
        "\nAUC with 95 % bootstrap intervals on the {exams} cases of MRNet's validation part (the paper's reported set); the published intervals are the paper's.\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_for_one_finding_is_parsed_once() {
        let parsed = parse_finding_setting("meniscus:model.spatial_pooling=\"max\"").unwrap();
        assert_eq!(parsed.finding, Finding::Meniscus);
        assert_eq!(parsed.setting, "model.spatial_pooling=\"max\"");
        let err = parse_finding_setting("knee:data.size=128").unwrap_err();
        assert!(err.contains("unknown finding"), "{err}");
        for bad in ["meniscus", "meniscus:data.size"] {
            let err = parse_finding_setting(bad).unwrap_err();
            assert!(err.contains("FINDING:KEY=VALUE"), "{err}");
        }
    }
}
