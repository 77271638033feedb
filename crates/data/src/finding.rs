//! What a model is asked about a knee: one [`Finding`] (the ACL, a meniscal tear, any
//! abnormality, MRNet's three) read on one plane, and the manifest as such a model sees it.
//!
//! A manifest row carries every label it has (the ACL grade in `label`, `meniscus` and
//! `abnormal` where known) and the path of the exam's study. A model of one finding on one
//! plane trains, is evaluated and is calibrated on [`Manifest::for_finding`]: the same rows with
//! that finding's label in `label` (binary findings as grade 0 or 3, the two ends of the scale,
//! so that [`Task::Binary`] reads them as negative and positive) and that plane's series to
//! read. Every consumer of a manifest then works unchanged for every finding and plane.

use std::path::{Path, PathBuf};

use cruciate_volume::Plane;
use serde::{Deserialize, Serialize};

use crate::manifest::{DataError, Manifest, ManifestRow};
use crate::task::Task;

/// One question about the knee.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Finding {
    /// The anterior cruciate ligament: graded 0..3, or healthy vs injured.
    #[default]
    Acl,
    /// A tear of the medial or lateral meniscus (MRNet's `meniscus`).
    Meniscus,
    /// Any abnormality (MRNet's `abnormal`: any tear, effusion, bone bruise, ...).
    Abnormal,
}

impl Finding {
    /// Every finding, in MRNet's order.
    pub const ALL: [Finding; 3] = [Finding::Abnormal, Finding::Acl, Finding::Meniscus];

    /// The name used on the command line, in files and in MRNet's label files.
    pub fn name(self) -> &'static str {
        match self {
            Finding::Acl => "acl",
            Finding::Meniscus => "meniscus",
            Finding::Abnormal => "abnormal",
        }
    }

    /// The finding in words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Finding::Acl => "ACL tear",
            Finding::Meniscus => "meniscal tear",
            Finding::Abnormal => "abnormality",
        }
    }

    /// The positive call in words, as "P {positive} 0.83" reads: "injured" (any ACL grade
    /// above 0), "meniscal tear", "abnormal".
    pub fn positive(self) -> &'static str {
        match self {
            Finding::Acl => "injured",
            Finding::Meniscus => "meniscal tear",
            Finding::Abnormal => "abnormal",
        }
    }

    /// The SNOMED CT disorder a positive call names, `(concept id, term)`: 444470001 "Injury
    /// of anterior cruciate ligament" and 239720000 "Tear of meniscus of knee", as Synthea's
    /// injuries module codes them (no SNOMED CT release was at hand to check them in); none
    /// for an abnormal knee, which is no one disorder.
    pub fn snomed_disorder(self) -> Option<(&'static str, &'static str)> {
        match self {
            Finding::Acl => Some(("444470001", "Injury of anterior cruciate ligament")),
            Finding::Meniscus => Some(("239720000", "Tear of meniscus of knee")),
            Finding::Abnormal => None,
        }
    }

    /// The SNOMED CT body structure the finding lies in, `(concept id, term)`: 895007
    /// "Anterior cruciate ligament of knee joint" (in FHIR R4's SNOMED CT body-site value set),
    /// 74135004 "Meniscus" and 49076000 "Knee joint" (DICOM PS3.16: the meniscus in CIDs 7151,
    /// 7166 and 7191, which hold no medial or lateral meniscus). The site is the meniscus, not
    /// the medial or lateral one: the meniscal-tear models (MRNet's label) say that a meniscus
    /// is torn, not which, and a coded side would claim what no model said.
    pub fn snomed_site(self) -> (&'static str, &'static str) {
        match self {
            Finding::Acl => ("895007", "Anterior cruciate ligament of knee joint"),
            Finding::Meniscus => ("74135004", "Meniscus"),
            Finding::Abnormal => ("49076000", "Knee joint"),
        }
    }

    /// The class names of `task` for this finding, in class order.
    pub fn class_names(self, task: Task) -> Vec<String> {
        let names: &[&str] = match self {
            Finding::Acl => task.class_names(),
            Finding::Meniscus => &["no meniscal tear", "meniscal tear"],
            Finding::Abnormal => &["normal", "abnormal"],
        };
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Whether `task` can be asked of this finding: only the ACL is graded.
    pub fn check_task(self, task: Task) -> Result<(), String> {
        match (self, task) {
            (Finding::Acl, _) | (_, Task::Binary) => Ok(()),
            (finding, task) => Err(format!(
                "the {} is labelled yes or no: task {task} needs the ACL (use --task binary)",
                finding.describe()
            )),
        }
    }

    /// `row`'s label for this finding on the grade scale, `None` where it is not labelled
    /// (the manifest holds MRNet's labels as 0 or 1, checked when it is read).
    pub fn grade_of(self, row: &ManifestRow) -> Option<u8> {
        match self {
            Finding::Acl => Some(row.label),
            Finding::Meniscus => row.meniscus.map(|m| 3 * m),
            Finding::Abnormal => row.abnormal.map(|a| 3 * a),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Finding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Finding::ALL
            .into_iter()
            .find(|f| f.name() == text)
            .ok_or_else(|| format!("unknown finding {text:?} (acl, meniscus or abnormal)"))
    }
}

/// Parses a plane for a model to read: sagittal, coronal or axial.
pub fn parse_plane(text: &str) -> Result<Plane, String> {
    Plane::from_name(text)
        .ok_or_else(|| format!("unknown plane {text:?} (sagittal, coronal or axial)"))
}

impl Manifest {
    /// The manifest as a model of `finding` on `plane` sees it: every row with `finding`'s
    /// label as its `label`, and `plane`'s series to read (MRNet's `PLANE/NNNN.npy` beside the
    /// file named, or that plane's series of a study). The ACL on the sagittal plane is the
    /// manifest itself. Rows without a label for `finding` are an error naming them.
    pub fn for_finding(&self, finding: Finding, plane: Plane) -> Result<Manifest, DataError> {
        if finding == Finding::Acl && plane == Plane::Sagittal {
            return Ok(self.clone());
        }
        let unlabelled: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| finding.grade_of(r).is_none())
            .map(|r| r.exam_id.as_str())
            .collect();
        if let Some(first) = unlabelled.first() {
            return Err(DataError::Unlabelled(format!(
                "{} of {} exams have no {} label (exam {first} first): add the `{}` column",
                unlabelled.len(),
                self.rows.len(),
                finding.name(),
                finding.name()
            )));
        }
        let rows = self
            .rows
            .iter()
            .map(|r| ManifestRow {
                label: finding.grade_of(r).unwrap_or(r.label),
                path: plane_file(Path::new(&r.path), plane)
                    .to_string_lossy()
                    .into_owned(),
                plane: Some(plane),
                // The ACL box belongs to the sagittal series.
                roi: r.roi.filter(|_| plane == Plane::Sagittal),
                ..r.clone()
            })
            .collect();
        Ok(Manifest {
            root: self.root.clone(),
            rows,
        })
    }
}

/// MRNet's layout keeps each plane in a folder of its name: `sagittal/0001.npy` becomes
/// `coronal/0001.npy`. Any other path (a study folder, a zip) is the study itself.
pub(crate) fn plane_file(path: &Path, plane: Plane) -> PathBuf {
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str());
    match (folder.and_then(Plane::from_name), path.file_name()) {
        (Some(_), Some(name)) => {
            let above = path
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new(""));
            above.join(plane.as_str()).join(name)
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Split;

    /// Whether `id`'s last digit is its Verhoeff check digit, as every SNOMED CT identifier's.
    fn verhoeff_valid(id: &str) -> bool {
        const D: [[u8; 10]; 10] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
            [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
            [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
            [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
            [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
            [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
            [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
            [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
            [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        ];
        const P: [[u8; 10]; 8] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
            [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
            [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
            [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
            [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
            [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
            [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
        ];
        let mut check = 0u8;
        for (i, digit) in id.bytes().rev().enumerate() {
            check = D[check as usize][P[i % 8][(digit - b'0') as usize] as usize];
        }
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && check == 0
    }

    /// Every SNOMED CT identifier a finding is coded with is well formed (its check digit
    /// holds), the way a mistyped code would not be; the check itself refuses one.
    #[test]
    fn snomed_codes_carry_valid_check_digits() {
        for finding in Finding::ALL {
            let (site, _) = finding.snomed_site();
            assert!(verhoeff_valid(site), "{finding}: {site}");
            if let Some((disorder, _)) = finding.snomed_disorder() {
                assert!(verhoeff_valid(disorder), "{finding}: {disorder}");
            }
        }
        // A candidate once found for the ACL, and a neighbour of a valid code.
        assert!(!verhoeff_valid("20453009") && !verhoeff_valid("895008"));
    }

    fn row(id: &str, path: &str, acl: u8, meniscus: Option<u8>) -> ManifestRow {
        ManifestRow {
            exam_id: id.into(),
            path: path.into(),
            label: acl,
            split: Split::Train,
            roi: None,
            patient: None,
            spacing: None,
            side: None,
            meniscus,
            abnormal: None,
            plane: None,
        }
    }

    #[test]
    fn a_finding_on_a_plane_is_a_view_of_the_manifest() {
        let manifest = Manifest {
            root: PathBuf::from("/data"),
            rows: vec![
                row("0001", "train/sagittal/0001.npy", 3, Some(0)),
                row("0002", "studies/0002", 0, Some(1)),
            ],
        };
        let view = manifest
            .for_finding(Finding::Meniscus, Plane::Coronal)
            .unwrap();
        assert_eq!(view.rows[0].path, "train/coronal/0001.npy");
        assert_eq!(view.rows[1].path, "studies/0002");
        assert_eq!(
            view.rows.iter().map(|r| r.label).collect::<Vec<_>>(),
            [0, 3]
        );
        assert!(view.rows.iter().all(|r| r.plane == Some(Plane::Coronal)));
        assert_eq!(
            manifest.for_finding(Finding::Acl, Plane::Sagittal).unwrap(),
            manifest
        );
        let err = manifest
            .for_finding(Finding::Abnormal, Plane::Sagittal)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 of 2 exams have no abnormal label"), "{err}");
    }

    #[test]
    fn only_the_acl_is_graded() {
        assert!(Finding::Acl.check_task(Task::Grade).is_ok());
        assert!(Finding::Meniscus.check_task(Task::Binary).is_ok());
        let err = Finding::Meniscus.check_task(Task::Grade).unwrap_err();
        assert!(err.contains("--task binary"), "{err}");
        assert_eq!("abnormal".parse::<Finding>(), Ok(Finding::Abnormal));
        assert!("mcl".parse::<Finding>().is_err());
        assert_eq!(parse_plane("cor"), Ok(Plane::Coronal));
        assert!(parse_plane("oblique").is_err());
    }
}
