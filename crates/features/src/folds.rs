//! Cross-validated scores of a feature model straight from a feature table: the folds' fits and
//! held-out calls need no exam read again, which is what makes a search over many SVM settings
//! cheap once the features exist.

use cruciate_data::folds::assign_folds;
use cruciate_data::{Manifest, ManifestRow, Split, Task};
use cruciate_metrics::Metric;
use cruciate_svm::ModelSettings;

use crate::{FeatureError, FeatureTable};

/// The table's train and valid rows as a manifest (test rows left out), for fold assignment.
pub fn training_manifest(table: &FeatureTable) -> Manifest {
    Manifest {
        root: std::path::PathBuf::from("/"),
        rows: table
            .exams
            .iter()
            .filter(|e| e.row.split != Split::Test)
            .map(|e| ManifestRow {
                path: e.source.clone(),
                ..e.row.clone()
            })
            .collect(),
    }
}

/// The metric of `settings` on each of `folds` patient-level stratified folds of the table's
/// train and valid rows (fold assignment from `seed`).
pub fn fold_scores(
    table: &FeatureTable,
    task: Task,
    settings: &ModelSettings,
    folds: usize,
    seed: u64,
    metric: Metric,
) -> Result<Vec<f64>, FeatureError> {
    if folds < 2 {
        return Err(FeatureError::Request(format!(
            "{folds} folds: at least 2 are needed"
        )));
    }
    let manifest = training_manifest(table);
    let fold_of = assign_folds(&manifest, folds, task, seed);
    let rows: Vec<(usize, usize)> = (0..table.exams.len())
        .filter_map(|i| Some((i, *fold_of.get(&table.exams[i].row.exam_id)?)))
        .collect();
    (0..folds)
        .map(|f| {
            let fit: Vec<usize> = rows.iter().filter(|r| r.1 != f).map(|r| r.0).collect();
            let held: Vec<usize> = rows.iter().filter(|r| r.1 == f).map(|r| r.0).collect();
            let model = settings.fit(
                &table.matrix.select(&fit),
                &table.labels(task, &fit),
                task.classes(),
            )?;
            let probabilities = held
                .iter()
                .map(|&i| model.probabilities(table.matrix.row(i)))
                .collect::<Result<Vec<_>, _>>()?;
            metric
                .of(&probabilities, &table.labels(task, &held))
                .ok_or_else(|| {
                    FeatureError::Request(format!(
                        "fold {} cannot be scored by {} (too few exams of a class)",
                        f + 1,
                        metric.name()
                    ))
                })
        })
        .collect()
}
