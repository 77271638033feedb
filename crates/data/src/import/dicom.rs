//! A folder of DICOM studies and a spreadsheet of reads: one exam per study, labelled from a
//! CSV with an `id` column (the StudyInstanceUID or the AccessionNumber) and a `grade` column
//! (0 healthy, 1 minor strain, 2 partial rupture, 3 complete rupture).
//!
//! Each exam is the deepest folder holding all of its study's images; reading it chooses the
//! series as everywhere else (sagittal, a PD fat-suppressed description first, then the most
//! slices). Studies must therefore sit in folders of their own: two studies sharing a folder
//! are refused. Patients are numbered in order of appearance (`patient-0001`), so that the
//! manifest groups a patient's exams without carrying the PatientID.

use std::collections::BTreeMap;
use std::path::Path;

use cruciate_volume::Limits;
use cruciate_volume::dicom::{FoundStudy, index_studies};
use serde::Deserialize;

use super::{ImportError, Imported, SplitFractions, row, split_training_rows};

/// How a DICOM folder is imported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DicomImport<'a> {
    /// The reads: `id,grade`.
    pub labels: &'a Path,
    /// List studies without a read as skipped instead of refusing the import.
    pub skip_unlabelled: bool,
    /// The splits.
    pub splits: SplitFractions,
}

#[derive(Deserialize)]
struct Read {
    id: String,
    grade: u8,
}

/// The reads by id, with the problems found.
fn read_labels(
    path: &Path,
    problems: &mut Vec<String>,
) -> Result<BTreeMap<String, u8>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| ImportError::Layout(format!("{}: {e}", path.display())))?;
    let mut labels = BTreeMap::new();
    for (i, read) in reader.deserialize::<Read>().enumerate() {
        let at = format!("{}: line {}", path.display(), i + 2);
        match read {
            Err(e) => problems.push(format!("{at}: {e} (columns id,grade)")),
            Ok(r) if r.grade > 3 => problems.push(format!("{at}: grade {} is not 0..3", r.grade)),
            Ok(r) if r.id.is_empty() => problems.push(format!("{at}: no id")),
            Ok(r) => {
                if labels.insert(r.id.clone(), r.grade).is_some() {
                    problems.push(format!("{at}: {} is read twice", r.id));
                }
            }
        }
    }
    Ok(labels)
}

/// The id of `study` the reads use (its StudyInstanceUID or AccessionNumber), and its grade.
fn read_of(study: &FoundStudy, labels: &BTreeMap<String, u8>) -> Option<(String, u8)> {
    [Some(&study.study_uid), study.accession.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|id| labels.get(id).map(|g| (id.clone(), *g)))
}

/// Reads the studies below `dir` and labels them from `options.labels`.
pub fn import_dicom(dir: &Path, options: &DicomImport) -> Result<Imported, ImportError> {
    let mut problems = Vec::new();
    let labels = read_labels(options.labels, &mut problems)?;
    let index =
        index_studies(dir, &Limits::default()).map_err(|e| ImportError::Layout(e.to_string()))?;
    let mut skipped: Vec<String> = index
        .skipped
        .iter()
        .map(|(path, why)| format!("{}: {why}", path.display()))
        .collect();
    let studies = &index.studies;
    for (i, a) in studies.iter().enumerate() {
        for b in &studies[i + 1..] {
            if a.folder.starts_with(&b.folder) || b.folder.starts_with(&a.folder) {
                problems.push(format!(
                    "studies {} and {} share the folder {}: put each study in a folder of its own",
                    a.study_uid,
                    b.study_uid,
                    a.folder
                        .ancestors()
                        .find(|f| b.folder.starts_with(f))
                        .unwrap_or(dir)
                        .display()
                ));
            }
        }
    }
    let mut rows = Vec::new();
    let mut patients: BTreeMap<String, String> = BTreeMap::new();
    let mut used = std::collections::BTreeSet::new();
    for study in studies {
        let Some((id, grade)) = read_of(study, &labels) else {
            let line = format!(
                "{}: study {} (accession {}) has no read in {}",
                study.folder.display(),
                study.study_uid,
                study.accession.as_deref().unwrap_or("none"),
                options.labels.display()
            );
            if options.skip_unlabelled {
                skipped.push(line);
            } else {
                problems.push(line);
            }
            continue;
        };
        used.insert(id.clone());
        let next = format!("patient-{:04}", patients.len() + 1);
        let patient = match &study.patient_id {
            Some(p) => patients.entry(p.clone()).or_insert(next).clone(),
            None => format!("study-{id}"),
        };
        rows.push(row(id, &study.folder, grade, patient));
    }
    for id in labels.keys().filter(|id| !used.contains(*id)) {
        problems.push(format!(
            "{}: {id} is read but no study below {} has that StudyInstanceUID or AccessionNumber",
            options.labels.display(),
            dir.display()
        ));
    }
    if !problems.is_empty() {
        return Err(ImportError::Inconsistent(problems));
    }
    if rows.is_empty() {
        return Err(ImportError::Layout(format!(
            "{}: no DICOM study found",
            dir.display()
        )));
    }
    split_training_rows(&mut rows, &options.splits, false);
    Ok(Imported {
        synthetic: crate::DatasetInfo::is_synthetic(dir),
        rows,
        skipped,
        source: format!(
            "DICOM studies from {} read in {}",
            dir.display(),
            options.labels.display()
        ),
    })
}
