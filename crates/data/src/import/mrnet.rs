//! MRNet (Bien et al. 2018): `train/` and `valid/` folders of `NNNN.npy` per plane (`axial`,
//! `coronal`, `sagittal`), and one label file per task and part (`train-acl.csv`,
//! `valid-meniscus.csv`, ...: `case,label` lines without a header, label 0 or 1).
//!
//! Grades: MRNet's labels are binary, so 0 (no tear) becomes grade 0 and 1 (tear) grade 3, the
//! two ends of the scale; the binary task reads them back as healthy and injured, and no model
//! should be asked for MRNet's grades 1 and 2, which do not exist. For `--task meniscus` or
//! `abnormal` the same 0 / 3 stands for that task's label. Splits: MRNet's `valid` part is its
//! public test set and becomes `test`; a stratified valid split is carved from `train`. Each
//! case is its own patient.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{ImportError, Imported, SplitFractions, row, split_training_rows};
use crate::manifest::Split;

/// Which of MRNet's three labels becomes the manifest's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrnetTask {
    /// ACL tear.
    Acl,
    /// Meniscal tear.
    Meniscus,
    /// Any abnormality.
    Abnormal,
}

impl std::str::FromStr for MrnetTask {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "acl" => Ok(Self::Acl),
            "meniscus" => Ok(Self::Meniscus),
            "abnormal" => Ok(Self::Abnormal),
            other => Err(format!(
                "MRNet task {other:?}: expected acl, meniscus or abnormal"
            )),
        }
    }
}

impl MrnetTask {
    fn name(self) -> &'static str {
        match self {
            Self::Acl => "acl",
            Self::Meniscus => "meniscus",
            Self::Abnormal => "abnormal",
        }
    }
}

/// The planes MRNet stores.
pub const PLANES: [&str; 3] = ["axial", "coronal", "sagittal"];

/// How MRNet is imported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MrnetOptions<'a> {
    /// `sagittal` (the study's plane), `coronal` or `axial`.
    pub plane: &'a str,
    /// Which label.
    pub task: MrnetTask,
    /// The valid share carved from `train` (its `test` share is unused: MRNet has a test set).
    pub splits: SplitFractions,
}

/// One part's labels by case number, with the problems found reading them.
fn read_labels(path: &Path, problems: &mut Vec<String>) -> Result<BTreeMap<u32, u8>, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ImportError::Layout(format!(
            "{}: {e} (MRNet's label files sit beside train/ and valid/)",
            path.display()
        ))
    })?;
    let mut labels = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("{}: line {}", path.display(), i + 1);
        let Some((case, label)) = line.split_once(',') else {
            problems.push(format!("{at}: expected case,label, got {line:?}"));
            continue;
        };
        let (Ok(case), Ok(label)) = (case.trim().parse::<u32>(), label.trim().parse::<u8>()) else {
            problems.push(format!(
                "{at}: expected a case number and 0 or 1, got {line:?}"
            ));
            continue;
        };
        if label > 1 {
            problems.push(format!("{at}: label {label} is not 0 or 1"));
        } else if labels.insert(case, label).is_some() {
            problems.push(format!("{at}: case {case:04} is labelled twice"));
        }
    }
    Ok(labels)
}

/// One part's volumes of `plane` by case number; other files are skipped with the reason.
fn read_cases(
    folder: &Path,
    skipped: &mut Vec<String>,
) -> Result<BTreeMap<u32, PathBuf>, ImportError> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        ImportError::Layout(format!(
            "{}: {e} (expected MRNet's PART/PLANE/NNNN.npy)",
            folder.display()
        ))
    })?;
    let mut cases = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let case = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".npy"))
            .and_then(|stem| stem.parse::<u32>().ok());
        match case {
            Some(case) if path.is_file() => {
                cases.insert(case, path);
            }
            _ => skipped.push(format!(
                "{}: not an MRNet case file (NNNN.npy)",
                path.display()
            )),
        }
    }
    Ok(cases)
}

/// Reads the MRNet dataset at `dir`.
pub fn import_mrnet(dir: &Path, options: &MrnetOptions) -> Result<Imported, ImportError> {
    if !PLANES.contains(&options.plane) {
        return Err(ImportError::Layout(format!(
            "plane {:?}: expected axial, coronal or sagittal",
            options.plane
        )));
    }
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for (part, split) in [("train", Split::Train), ("valid", Split::Test)] {
        let label_file = dir.join(format!("{part}-{}.csv", options.task.name()));
        let labels = read_labels(&label_file, &mut problems)?;
        let cases = read_cases(&dir.join(part).join(options.plane), &mut skipped)?;
        for case in labels.keys().filter(|c| !cases.contains_key(c)) {
            problems.push(format!(
                "{}: case {case:04} is labelled but {part}/{}/{case:04}.npy is missing",
                label_file.display(),
                options.plane
            ));
        }
        for (case, path) in &cases {
            let Some(&label) = labels.get(case) else {
                problems.push(format!(
                    "{}: no label in {}",
                    path.display(),
                    label_file.display()
                ));
                continue;
            };
            let id = format!("{case:04}");
            if !seen.insert(*case) {
                problems.push(format!("case {id} is in both train and valid"));
                continue;
            }
            let mut r = row(id.clone(), path, 3 * label, id);
            r.split = split;
            rows.push(r);
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Inconsistent(problems));
    }
    if rows.is_empty() {
        return Err(ImportError::Layout(format!(
            "{}: no MRNet cases found",
            dir.display()
        )));
    }
    split_training_rows(&mut rows, (options.splits.valid, 0.0), options.splits.seed);
    Ok(Imported {
        rows,
        skipped,
        source: format!(
            "MRNet ({} plane, {} labels: 0 -> grade 0, 1 -> grade 3) from {}",
            options.plane,
            options.task.name(),
            dir.display()
        ),
    })
}
