//! KneeMRI (Štajduhar et al. 2017): `.pck` volumes (in one folder or in the `volNN/` folders
//! the archives unpack to) and `metadata.csv` (examId, serieNo, aclDiagnosis, kneeLR, roiX,
//! roiY, roiZ, roiHeight, roiWidth, roiDepth, volumeFilename).
//!
//! Grades: aclDiagnosis 0 (healthy) becomes grade 0, 1 (partially injured) grade 2 (partial
//! rupture), 2 (completely ruptured) grade 3; KneeMRI has no minor-strain grade 1. The ROI
//! becomes the manifest's box: slices roiZ..roiZ+roiDepth, rows roiY..roiY+roiHeight, columns
//! roiX..roiX+roiWidth. kneeLR 0 / 1 becomes side L / R. Each exam is its own patient (the
//! dataset names no patients); splits are stratified by grade.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cruciate_volume::kneemri::read_metadata;

use super::{ImportError, Imported, SplitFractions, files_below, row, split_training_rows};

/// KneeMRI's aclDiagnosis (0, 1, 2) as a grade (0, 2, 3).
pub fn grade_of_diagnosis(diagnosis: u8) -> u8 {
    match diagnosis {
        0 => 0,
        1 => 2,
        _ => 3,
    }
}

/// Reads the KneeMRI dataset at `dir` (its `metadata.csv` and the `.pck` files below it).
pub fn import_kneemri(dir: &Path, splits: &SplitFractions) -> Result<Imported, ImportError> {
    let records = read_metadata(&dir.join("metadata.csv"))
        .map_err(|e| ImportError::Layout(format!("{e} (KneeMRI's metadata.csv)")))?;
    let mut problems = Vec::new();
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files_below(dir, ".pck")? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(first) = files.insert(name.clone(), path.clone()) {
            problems.push(format!(
                "{name} is both {} and {}",
                first.display(),
                path.display()
            ));
        }
    }
    let mut rows = Vec::new();
    let mut ids = BTreeSet::new();
    let mut named = BTreeSet::new();
    for (i, r) in records.iter().enumerate() {
        let at = format!("metadata.csv line {}", i + 2);
        if !named.insert(r.volume_filename.clone()) {
            problems.push(format!("{at}: {} is listed twice", r.volume_filename));
            continue;
        }
        if !ids.insert(r.exam_id) {
            problems.push(format!("{at}: examId {} is listed twice", r.exam_id));
            continue;
        }
        let Some(path) = files.get(&r.volume_filename) else {
            problems.push(format!("{at}: {} is missing", r.volume_filename));
            continue;
        };
        if r.roi_depth == 0 || r.roi_height == 0 || r.roi_width == 0 {
            problems.push(format!("{at}: the ROI of {} is empty", r.volume_filename));
            continue;
        }
        let id = r.exam_id.to_string();
        let mut exam = row(id.clone(), path, grade_of_diagnosis(r.acl_diagnosis), id);
        exam.roi = Some(r.roi());
        exam.side = Some(if r.knee_lr == 0 { "L" } else { "R" }.into());
        rows.push(exam);
    }
    for (name, path) in &files {
        if !named.contains(name) {
            problems.push(format!("{}: not listed in metadata.csv", path.display()));
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Inconsistent(problems));
    }
    if rows.is_empty() {
        return Err(ImportError::Layout(format!(
            "{}: metadata.csv lists no volume",
            dir.display()
        )));
    }
    split_training_rows(&mut rows, splits, false);
    Ok(Imported {
        synthetic: crate::DatasetInfo::is_synthetic(dir),
        rows,
        skipped: Vec::new(),
        source: format!(
            "KneeMRI (aclDiagnosis 0/1/2 -> grades 0/2/3) from {}",
            dir.display()
        ),
    })
}
