//! MRNet (Bien et al. 2018): `train/` and `valid/` folders of `NNNN.npy` per plane (`axial`,
//! `coronal`, `sagittal`), and one label file per finding and part (`train-acl.csv`,
//! `valid-meniscus.csv`, ...: `case,label` lines without a header, label 0 or 1).
//!
//! All three planes and all three label files are read: a row's path names the case's file of
//! one plane (sagittal unless asked), the other planes lie beside it in MRNet's folders (a model
//! of another plane reads them through [`crate::Manifest::for_finding`]); its `label` is the ACL
//! (0, no tear, becomes grade 0 and 1, tear, grade 3: the two ends of the scale, which the
//! binary task reads back as healthy and injured; no model should be asked for MRNet's grades 1
//! and 2, which do not exist), and `meniscus` and `abnormal` are MRNet's other two labels.
//! Splits: MRNet's `valid` part is its public test set and becomes `test`; a stratified valid
//! split is carved from `train`. Each case is its own patient. MRNet's `.npy` files carry no
//! spacing: the manifest leaves it empty and every reader says the spacing is unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cruciate_volume::Plane;

use super::{ImportError, Imported, SplitFractions, row, split_training_rows};
use crate::finding::Finding;
use crate::manifest::Split;

/// The planes MRNet stores.
pub const PLANES: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

/// How MRNet is imported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MrnetOptions {
    /// The plane whose file each row names (`sagittal`, the study's plane, by default).
    pub plane: Plane,
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
            "plane {}: expected axial, coronal or sagittal",
            options.plane
        )));
    }
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for (part, split) in [("train", Split::Train), ("valid", Split::Test)] {
        let mut labels = BTreeMap::new();
        for finding in Finding::ALL {
            let file = dir.join(format!("{part}-{finding}.csv"));
            labels.insert(finding, (read_labels(&file, &mut problems)?, file));
        }
        let mut planes = BTreeMap::new();
        for plane in PLANES {
            let cases = read_cases(&dir.join(part).join(plane.as_str()), &mut skipped)?;
            planes.insert(plane.as_str(), cases);
        }
        let (acl, acl_file) = &labels[&Finding::Acl];
        for (plane, cases) in &planes {
            for case in acl.keys().filter(|c| !cases.contains_key(c)) {
                problems.push(format!(
                    "{}: case {case:04} is labelled but {part}/{plane}/{case:04}.npy is missing",
                    acl_file.display()
                ));
            }
        }
        for (case, path) in &planes[options.plane.as_str()] {
            let label_of = |finding: Finding, problems: &mut Vec<String>| {
                let (labels, file) = &labels[&finding];
                let label = labels.get(case).copied();
                if label.is_none() {
                    problems.push(format!(
                        "{}: no label in {}",
                        path.display(),
                        file.display()
                    ));
                }
                label
            };
            let (acl, meniscus, abnormal) = (
                label_of(Finding::Acl, &mut problems),
                label_of(Finding::Meniscus, &mut problems),
                label_of(Finding::Abnormal, &mut problems),
            );
            let Some(acl) = acl else { continue };
            let id = format!("{case:04}");
            if !seen.insert(*case) {
                problems.push(format!("case {id} is in both train and valid"));
                continue;
            }
            let mut r = row(id.clone(), path, 3 * acl, id);
            r.split = split;
            r.meniscus = meniscus;
            r.abnormal = abnormal;
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
    split_training_rows(&mut rows, &options.splits, true);
    Ok(Imported {
        synthetic: crate::DatasetInfo::is_synthetic(dir),
        rows,
        skipped,
        source: format!(
            "MRNet (three planes, rows naming the {} file; labels acl, meniscus and abnormal; ACL 0 -> grade 0, 1 -> grade 3; spacing unknown: MRNet's .npy files carry none) from {}",
            options.plane,
            dir.display()
        ),
    })
}

/// Lays the exams of `manifest` out as MRNet's dataset in `dir` (`train/` its train and valid
/// splits, `valid/` its test split; cases numbered in manifest order; the three label files
/// per part), so that `data import mrnet` and `reproduce mrnet` can be tried on phantoms. Each
/// row must name a `PLANE/ID.npy` file with the other planes beside it and carry all three
/// labels; the manifest folder's `dataset.json` is copied (a synthetic dataset stays labelled
/// synthetic).
pub fn write_layout(manifest: &crate::Manifest, dir: &Path) -> Result<(), ImportError> {
    let fail =
        |path: &Path, e: std::io::Error| ImportError::Write(format!("{}: {e}", path.display()));
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for (case, row) in manifest.rows.iter().enumerate() {
        let part = match row.split {
            Split::Test => "valid",
            Split::Train | Split::Valid | Split::Calib => "train",
        };
        let (Some(meniscus), Some(abnormal)) = (row.meniscus, row.abnormal) else {
            return Err(ImportError::Layout(format!(
                "exam {}: MRNet's layout needs the meniscus and abnormal labels",
                row.exam_id
            )));
        };
        for plane in PLANES {
            let view = crate::Manifest {
                root: manifest.root.clone(),
                rows: vec![row.clone()],
            }
            .for_finding(Finding::Acl, plane)
            .map_err(|e| ImportError::Layout(e.to_string()))?;
            let from = view.resolve(&view.rows[0]);
            if from.extension().and_then(|e| e.to_str()) != Some("npy") || !from.is_file() {
                return Err(ImportError::Layout(format!(
                    "exam {}: no {plane} .npy file at {} (MRNet's layout is built from `synth --planes ... --format npy`)",
                    row.exam_id,
                    from.display()
                )));
            }
            let folder = dir.join(part).join(plane.as_str());
            std::fs::create_dir_all(&folder).map_err(|e| fail(&folder, e))?;
            let to = folder.join(format!("{case:04}.npy"));
            std::fs::copy(&from, &to).map_err(|e| fail(&to, e))?;
        }
        for (finding, label) in [
            (Finding::Acl, u8::from(row.label > 0)),
            (Finding::Meniscus, meniscus),
            (Finding::Abnormal, abnormal),
        ] {
            *labels.entry(format!("{part}-{finding}.csv")).or_default() +=
                &format!("{case:04},{label}\n");
        }
    }
    for (name, text) in labels {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| fail(&path, e))?;
    }
    if let Some(info) = crate::DatasetInfo::read(&manifest.root) {
        crate::DatasetInfo {
            synthetic: info.synthetic,
            source: format!("{} (in MRNet's layout)", info.source),
        }
        .write(dir)
        .map_err(|e| ImportError::Write(e.to_string()))?;
    }
    Ok(())
}
