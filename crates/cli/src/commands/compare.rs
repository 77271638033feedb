//! `cruciate compare`: runs side by side on one manifest split.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use cruciate_data::{Manifest, Split};
use cruciate_eval::report::Page;
use cruciate_train::compare::{SortBy, compare, table, to_markdown};

/// Sort key.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SortArg {
    /// Injured-vs-healthy AUC.
    Auc,
    /// Accuracy.
    Accuracy,
    /// Weighted F1.
    F1,
}

/// Arguments of `cruciate compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folders.
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// The exams to score every run on.
    #[arg(long, value_name = "CSV")]
    manifest: PathBuf,
    /// Which split.
    #[arg(long, default_value = "valid", value_parser = ["valid", "test", "train"])]
    split: String,
    /// Sort by (best first).
    #[arg(long, value_enum, default_value = "auc")]
    sort: SortArg,
    /// Folder for compare.md and compare.html (the table is printed either way).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `cruciate compare`.
pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    let manifest = Manifest::read(&args.manifest)?;
    let split = match args.split.as_str() {
        "test" => Split::Test,
        "train" => Split::Train,
        _ => Split::Valid,
    };
    let sort = match args.sort {
        SortArg::Auc => SortBy::Auc,
        SortArg::Accuracy => SortBy::Accuracy,
        SortArg::F1 => SortBy::WeightedF1,
    };
    let rows = compare(&args.runs, &manifest, split, sort)?;
    let markdown = to_markdown(&rows);
    print!("{markdown}");
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
        let (header, cells) = table(&rows);
        let page = Page {
            title: format!("Cruciate: {} runs on the {} split", rows.len(), args.split),
            notes: vec!["Figures on synthetic phantoms are synthetic and say nothing about clinical performance.".into()],
            tables: vec![("Runs".into(), header, cells)],
            ..Page::default()
        };
        for (name, body) in [("compare.md", markdown), ("compare.html", page.to_html())] {
            let path = out.join(name);
            cruciate_volume::atomic::write_atomically(&path, |w| w.write_all(body.as_bytes()))
                .with_context(|| path.display().to_string())?;
        }
    }
    Ok(())
}
