//! Runs side by side: each run scored on the same manifest split, one table (Markdown and HTML)
//! with the settings that tell them apart, sorted by a chosen figure.

use std::path::PathBuf;

use cruciate_data::{Manifest, Split};
use cruciate_eval::metrics::Cumulative;
use serde::Serialize;

use crate::TrainError;
use crate::predict::LoadedRun;
use crate::run::prepare_exams;

/// The figure runs are sorted by (best first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Injured-vs-healthy ROC AUC.
    Auc,
    /// Accuracy.
    Accuracy,
    /// Support-weighted F1.
    WeightedF1,
}

/// One run in the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// The run folder.
    pub run: String,
    /// Model name.
    pub model: String,
    /// Training mode.
    pub mode: String,
    /// Task.
    pub task: String,
    /// Optimiser, learning rate, schedule, batch size, epochs.
    pub settings: String,
    /// Epoch whose weights were scored.
    pub epoch: usize,
    /// Exams scored.
    pub exams: usize,
    /// Accuracy.
    pub accuracy: Option<f64>,
    /// Weighted F1.
    pub weighted_f1: Option<f64>,
    /// AUC.
    pub auc: Option<f64>,
    /// Its bootstrap 95 % interval.
    pub auc_ci: Option<[f64; 2]>,
}

/// Scores every run on `split` of `manifest`, best first by `sort`.
pub fn compare(
    runs: &[PathBuf],
    manifest: &Manifest,
    split: Split,
    sort: SortBy,
) -> Result<Vec<CompareRow>, TrainError> {
    let mut rows = Vec::new();
    for run in runs {
        let model = LoadedRun::open(run)?;
        let c = &model.config;
        let mut subset = manifest.clone();
        subset.rows.retain(|r| r.split == split);
        let exams = prepare_exams(&subset, split, c)?;
        if exams.is_empty() {
            return Err(TrainError::Data(format!(
                "the manifest has no {split:?} exams"
            )));
        }
        let mut cumulative = Cumulative::new(c.model.task.classes());
        for (_, class, p) in model.held_out(&exams).predictions {
            cumulative.push(p.probabilities, class);
        }
        let s = cumulative.summary(0.5, 1000, 0);
        rows.push(CompareRow {
            run: run.display().to_string(),
            model: c.model.name.clone(),
            mode: format!("{:?}", c.model.mode).to_lowercase(),
            task: format!("{:?}", c.model.task).to_lowercase(),
            settings: format!(
                "{:?} lr {:.0e}, {:?} schedule, batch {}, {} epochs, {}x{} px x {} slices",
                c.optim.optimizer,
                c.optim.lr,
                c.schedule.kind,
                c.train.batch_size,
                c.train.epochs,
                c.data.size,
                c.data.size,
                c.data.slices
            )
            .to_lowercase(),
            epoch: model.epoch,
            exams: exams.len(),
            accuracy: s.accuracy,
            weighted_f1: s.report.as_ref().map(|r| r.weighted_avg.f1),
            auc: s.auc,
            auc_ci: s.auc_ci,
        });
    }
    let key = |r: &CompareRow| {
        match sort {
            SortBy::Auc => r.auc,
            SortBy::Accuracy => r.accuracy,
            SortBy::WeightedF1 => r.weighted_f1,
        }
        .unwrap_or(f64::NEG_INFINITY)
    };
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    Ok(rows)
}

/// Header and cells of the table.
pub fn table(rows: &[CompareRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    let header = [
        "run",
        "model",
        "mode",
        "task",
        "settings",
        "epoch",
        "exams",
        "accuracy",
        "weighted F1",
        "AUC (95% CI)",
    ]
    .map(String::from)
    .to_vec();
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.run.clone(),
                r.model.clone(),
                r.mode.clone(),
                r.task.clone(),
                r.settings.clone(),
                r.epoch.to_string(),
                r.exams.to_string(),
                f(r.accuracy),
                f(r.weighted_f1),
                format!(
                    "{}{}",
                    f(r.auc),
                    r.auc_ci
                        .map_or(String::new(), |[a, b]| format!(" ({a:.3}-{b:.3})"))
                ),
            ]
        })
        .collect();
    (header, cells)
}

/// The table as Markdown.
pub fn to_markdown(rows: &[CompareRow]) -> String {
    let (header, cells) = table(rows);
    let line = |c: &[String]| {
        format!(
            "| {} |\n",
            c.iter()
                .map(|s| s.replace('|', "\\|"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(&header);
    out += &format!("|{}\n", "---|".repeat(header.len()));
    for row in &cells {
        out += &line(row);
    }
    out
}
