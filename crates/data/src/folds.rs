//! Patient-level stratified k-fold assignment: every exam of a patient lands in the same fold,
//! and each fold keeps the class proportions of the data (stratified on the patient's highest
//! class). Test and calib rows take no part.

use std::collections::BTreeMap;

use crate::manifest::{Manifest, Split};
use crate::seeds::{mix, text_hash};
use crate::task::Task;

/// The fold (0-based, below `folds`) of each train and valid row of `manifest`, by exam id.
pub fn assign_folds(
    manifest: &Manifest,
    folds: usize,
    task: Task,
    seed: u64,
) -> BTreeMap<String, usize> {
    let folds = folds.max(1);
    let taking_part = || manifest.rows.iter().filter(|r| r.split.develops());
    let mut patients: BTreeMap<&str, usize> = BTreeMap::new();
    for row in taking_part() {
        let class = task.class_of(row.label);
        let entry = patients.entry(row.patient_id()).or_insert(class);
        *entry = (*entry).max(class);
    }
    let mut by_class: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (patient, class) in patients {
        by_class.entry(class).or_default().push(patient);
    }
    let mut fold_of_patient = BTreeMap::new();
    let mut next = 0;
    for (_, mut members) in by_class {
        members.sort_by_key(|p| mix(seed, text_hash(p), 0xf01d));
        for p in members {
            fold_of_patient.insert(p, next % folds);
            next += 1;
        }
    }
    taking_part()
        .map(|r| (r.exam_id.clone(), fold_of_patient[r.patient_id()]))
        .collect()
}

/// The manifest of fold `fold` (0-based): its exams become `valid`, the other folds' `train`,
/// and test and calib rows are left out.
pub fn fold_manifest(
    manifest: &Manifest,
    folds: &BTreeMap<String, usize>,
    fold: usize,
) -> Manifest {
    let rows = manifest
        .rows
        .iter()
        .filter_map(|row| {
            let f = folds.get(&row.exam_id)?;
            let mut row = row.clone();
            row.split = if *f == fold {
                Split::Valid
            } else {
                Split::Train
            };
            Some(row)
        })
        .collect();
    Manifest {
        root: manifest.root.clone(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManifestRow;

    fn manifest() -> Manifest {
        let rows = (0..60)
            .map(|i| ManifestRow {
                exam_id: format!("e{i}"),
                path: format!("{i}.npy"),
                label: if i % 4 == 0 { 2 } else { 0 },
                split: if i >= 57 { Split::Test } else { Split::Train },
                roi: None,
                patient: Some(format!("p{}", i / 2)),
                spacing: None,
                side: None,
                meniscus: None,
                abnormal: None,
                plane: None,
            })
            .collect();
        Manifest {
            root: ".".into(),
            rows,
        }
    }

    #[test]
    fn folds_keep_patients_together_and_classes_spread() {
        let manifest = manifest();
        let folds = assign_folds(&manifest, 3, Task::Binary, 1);
        assert_eq!(folds.len(), 57);
        for i in (0..56).step_by(2) {
            assert_eq!(folds[&format!("e{i}")], folds[&format!("e{}", i + 1)]);
        }
        for f in 0..3 {
            let injured = folds
                .iter()
                .filter(|(id, k)| **k == f && id[1..].parse::<usize>().unwrap() % 4 == 0)
                .count();
            assert!((4..=6).contains(&injured), "fold {f}: {injured}");
        }
    }

    #[test]
    fn a_fold_manifest_validates_on_its_fold_only() {
        let manifest = manifest();
        let folds = assign_folds(&manifest, 3, Task::Binary, 1);
        let m = fold_manifest(&manifest, &folds, 1);
        assert_eq!(m.rows.len(), 57, "test rows are left out");
        for row in &m.rows {
            assert_eq!(
                row.split == Split::Valid,
                folds[&row.exam_id] == 1,
                "{}",
                row.exam_id
            );
        }
    }
}
