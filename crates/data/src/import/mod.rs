//! Datasets on disk become manifests in one step: MRNet's layout ([`mrnet`]), KneeMRI's
//! `metadata.csv` and volumes ([`kneemri`]), and a folder of DICOM studies with a spreadsheet
//! of reads ([`dicom`]). Every import checks the whole dataset first and refuses inconsistent
//! input with one line per problem (a label for a missing file, a file without a label, an id
//! given twice), writing nothing; what it skipped is listed with the reason.

pub mod dicom;
pub mod kneemri;
pub mod mrnet;

use std::path::{Path, PathBuf};

use crate::manifest::{Manifest, ManifestRow, Split};
use crate::provenance::DatasetInfo;

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The dataset's layout is not what the importer reads (a missing label file, a folder that
    /// is not there).
    #[error("{0}")]
    Layout(String),
    /// The dataset contradicts itself: one line per problem.
    #[error("the dataset is inconsistent ({} problems), nothing written:\n{}", .0.len(), .0.join("\n"))]
    Inconsistent(Vec<String>),
    /// The manifest could not be written.
    #[error("{0}")]
    Write(String),
}

/// How the imported exams are split (patient level, stratified by grade).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    /// Share of patients for the valid split.
    pub valid: f64,
    /// Share of patients for the test split (where the dataset has no test set of its own).
    pub test: f64,
    /// Share of patients for the calib split (0: none).
    pub calib: f64,
    /// Seed of the assignment.
    pub seed: u64,
    /// Every exam in the test split instead: the dataset held out whole, to score a model
    /// trained elsewhere (an external validation).
    pub external: bool,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            valid: 0.15,
            test: 0.15,
            calib: 0.0,
            seed: 0,
            external: false,
        }
    }
}

/// A dataset read into manifest rows, with what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// One row per exam; paths absolute.
    pub rows: Vec<ManifestRow>,
    /// Files or studies left out, each `path: reason`.
    pub skipped: Vec<String>,
    /// What the dataset is, for `dataset.json`.
    pub source: String,
    /// True when the dataset's own folder says its exams are synthetic (its `dataset.json`, as
    /// `cruciate synth` writes): the manifest says so too, and so does every model trained on it.
    pub synthetic: bool,
}

impl Imported {
    /// Exams per grade in each split, in a few lines.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!("{}: {} exams", self.source, self.rows.len())];
        for split in Split::ALL {
            if split == Split::Calib && !self.rows.iter().any(|r| r.split == split) {
                continue;
            }
            let mut grades = [0usize; 4];
            for row in self.rows.iter().filter(|r| r.split == split) {
                grades[usize::from(row.label.min(3))] += 1;
            }
            let total: usize = grades.iter().sum();
            lines.push(format!(
                "  {:<5} {total:>5} exams, grades 0/1/2/3: {}/{}/{}/{}",
                split.name(),
                grades[0],
                grades[1],
                grades[2],
                grades[3]
            ));
        }
        for split in Split::ALL {
            let grades: Vec<u8> = self
                .rows
                .iter()
                .filter(|r| r.split == split)
                .map(|r| r.label)
                .collect();
            lines.extend(
                crate::splits::undefined_figures(split, &grades, crate::Task::Binary)
                    .into_iter()
                    .map(|w| format!("  warning: {w}")),
            );
        }
        if !self.skipped.is_empty() {
            lines.push(format!("  skipped {}:", self.skipped.len()));
            lines.extend(self.skipped.iter().map(|s| format!("    {s}")));
        }
        lines.join("\n")
    }

    /// Writes the manifest to `out` (atomically) and `dataset.json` beside it (real data unless
    /// the dataset said it was synthetic). A real dataset's manifest is refused a folder whose
    /// `dataset.json` says its exams are synthetic.
    pub fn write(&self, out: &Path) -> Result<Manifest, ImportError> {
        let folder = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if !self.synthetic && DatasetInfo::read(&folder).is_some_and(|d| d.synthetic) {
            return Err(ImportError::Write(format!(
                "{}: its dataset.json describes synthetic exams; write the manifest of a real dataset elsewhere",
                folder.display()
            )));
        }
        std::fs::create_dir_all(&folder)
            .map_err(|e| ImportError::Write(format!("{}: {e}", folder.display())))?;
        let manifest = Manifest {
            root: folder.clone(),
            rows: self.rows.clone(),
        };
        manifest
            .write(out)
            .map_err(|e| ImportError::Write(e.to_string()))?;
        DatasetInfo {
            synthetic: self.synthetic,
            source: self.source.clone(),
        }
        .write(&folder)
        .map_err(|e| ImportError::Write(e.to_string()))?;
        Ok(manifest)
    }
}

/// An absolute form of `path` for a manifest row.
fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Every file below `root` whose name ends with `suffix`, in path order.
fn files_below(root: &Path, suffix: &str) -> Result<Vec<PathBuf>, ImportError> {
    let mut pending = vec![root.to_path_buf()];
    let mut out = Vec::new();
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ImportError::Layout(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            // Links to folders are not followed (a link back up the tree would never end);
            // links to files are.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
                && path.to_string_lossy().ends_with(suffix)
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The rows' splits set at patient level from `splits`, for the rows now in the train split
/// (a dataset with a test set of its own, `own_test`, gets no other test rows); with
/// `splits.external`, every row in the test split.
fn split_training_rows(rows: &mut [ManifestRow], splits: &SplitFractions, own_test: bool) {
    if splits.external {
        rows.iter_mut().for_each(|r| r.split = Split::Test);
        return;
    }
    let held_out = crate::splits::HeldOut {
        valid: splits.valid,
        test: if own_test { 0.0 } else { splits.test },
        calib: splits.calib,
    };
    let training: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].split == Split::Train)
        .collect();
    let exams: Vec<(&str, u8)> = training
        .iter()
        .map(|&i| (rows[i].patient_id(), rows[i].label))
        .collect();
    let splits = crate::splits::patient_splits(&exams, held_out, splits.seed);
    for (i, split) in training.into_iter().zip(splits) {
        rows[i].split = split;
    }
}

/// A row with the fields every importer sets; the rest empty.
fn row(exam_id: String, path: &Path, label: u8, patient: String) -> ManifestRow {
    ManifestRow {
        exam_id,
        path: absolute(path),
        label,
        split: Split::Train,
        roi: None,
        patient: Some(patient),
        spacing: None,
        side: None,
        meniscus: None,
        abnormal: None,
        plane: None,
    }
}
