//! `manifest.csv`: one row per exam with its path, label, split and ACL box.

use std::path::{Path, PathBuf};

use cruciate_volume::{Plane, RoiBox};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors of datasets: manifests that cannot be read or written, exams that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// A manifest row breaks the format.
    #[error("{}: line {line}: {message}", path.display())]
    Row {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An exam could not be written.
    #[error("{0}")]
    Write(String),
    /// The manifest lacks the labels a model asks for.
    #[error("{0}")]
    Unlabelled(String),
}

/// Which part of a dataset an exam belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used to fit the model.
    Train,
    /// Used to choose epochs and hyperparameters.
    Valid,
    /// Held out for the final figures.
    Test,
    /// Held out from fitting and from choosing the epoch or hyperparameters: where a manifest
    /// has it, a run's input-gate limit, calibration, grade sets and drift reference are set
    /// on it rather than on the valid split (whose choice of the epoch leaves its exams more
    /// typical of the model than new ones).
    Calib,
}

impl Split {
    /// The four splits, in order.
    pub const ALL: [Split; 4] = [Split::Train, Split::Valid, Split::Test, Split::Calib];

    /// Whether exams of this split take part in developing a model (fitting it, choosing its
    /// epoch, cross-validation's folds): train and valid.
    pub fn develops(self) -> bool {
        matches!(self, Split::Train | Split::Valid)
    }

    /// The name used in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
            Split::Calib => "calib",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Split::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| format!("unknown split {text:?} (train, valid, test or calib)"))
    }
}

/// One exam of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// Unique exam identifier.
    pub exam_id: String,
    /// Path of the exam, relative to the manifest's folder (or absolute).
    pub path: String,
    /// ACL grade 0..=3 (0 healthy, 1 minor strain, 2 partial rupture, 3 complete rupture).
    pub label: u8,
    /// Train, valid, test or calib.
    pub split: Split,
    /// The ACL's voxel box, `s0 s1 r0 r1 c0 c1` (half-open), when known.
    #[serde(serialize_with = "roi_to_text", deserialize_with = "roi_from_text")]
    pub roi: Option<RoiBox>,
    /// The patient the exam belongs to, when several exams share one (optional column; empty
    /// means the exam is its own patient). Cross-validation keeps a patient's exams together.
    #[serde(default)]
    pub patient: Option<String>,
    /// Millimetres between slices, rows and columns (`"3.5 0.55 0.55"`), for exams whose files
    /// carry no geometry (`.npy`, KneeMRI pickles); a file's own spacing wins. Empty: unknown.
    #[serde(
        default,
        serialize_with = "spacing_to_text",
        deserialize_with = "spacing_from_text"
    )]
    pub spacing: Option<[f64; 3]>,
    /// Which knee: `L` or `R` (KneeMRI's kneeLR); empty when unknown.
    #[serde(default)]
    pub side: Option<String>,
    /// A meniscal tear: 1 torn, 0 not (MRNet's `meniscus` label); empty when not labelled.
    #[serde(default)]
    pub meniscus: Option<u8>,
    /// Any abnormality: 1 abnormal, 0 normal (MRNet's `abnormal` label); empty when not
    /// labelled.
    #[serde(default)]
    pub abnormal: Option<u8>,
    /// Which series of the exam's study to read (`sagittal`, `coronal`, `axial`); empty: the
    /// reader's choice, the sagittal series where the study has one.
    #[serde(default)]
    pub plane: Option<Plane>,
}

impl ManifestRow {
    /// The patient identifier: the `patient` column, else the exam id.
    pub fn patient_id(&self) -> &str {
        self.patient
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.exam_id)
    }
}

fn roi_to_text<S: Serializer>(roi: &Option<RoiBox>, s: S) -> Result<S::Ok, S::Error> {
    match roi {
        Some(b) => s.serialize_str(&format!(
            "{} {} {} {} {} {}",
            b.s0, b.s1, b.r0, b.r1, b.c0, b.c1
        )),
        None => s.serialize_str(""),
    }
}

fn roi_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RoiBox>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let n: Vec<usize> = text
        .split_whitespace()
        .map(|v| v.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| serde::de::Error::custom(format!("roi {text:?} is not six whole numbers")))?;
    let [s0, s1, r0, r1, c0, c1] = n[..] else {
        return Err(serde::de::Error::custom(format!(
            "roi {text:?} needs six numbers: s0 s1 r0 r1 c0 c1"
        )));
    };
    if s0 >= s1 || r0 >= r1 || c0 >= c1 {
        return Err(serde::de::Error::custom(format!(
            "roi {text:?} is empty (each start must be below its end)"
        )));
    }
    Ok(Some(RoiBox {
        s0,
        s1,
        r0,
        r1,
        c0,
        c1,
    }))
}

fn spacing_to_text<S: Serializer>(spacing: &Option<[f64; 3]>, s: S) -> Result<S::Ok, S::Error> {
    match spacing {
        Some([a, b, c]) => s.serialize_str(&format!("{a} {b} {c}")),
        None => s.serialize_str(""),
    }
}

fn spacing_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 3]>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bad = || {
        serde::de::Error::custom(format!(
            "spacing {text:?} needs three positive millimetre figures: slices rows columns"
        ))
    };
    let n: Vec<f64> = text
        .split_whitespace()
        .map(|v| v.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    match n[..] {
        [a, b, c] if n.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1e4) => Ok(Some([a, b, c])),
        _ => Err(bad()),
    }
}

/// A manifest and the folder its relative paths start from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest's folder.
    pub root: PathBuf,
    /// Its exams, in file order.
    pub rows: Vec<ManifestRow>,
}

impl Manifest {
    /// Reads `path`, checking labels (0..=3) and unique exam ids.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(file);
        let mut rows = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, row) in reader.deserialize::<ManifestRow>().enumerate() {
            let line = i + 2;
            let bad = |message: String| DataError::Row {
                path: path.to_path_buf(),
                line,
                message,
            };
            let row = row.map_err(|e| bad(e.to_string()))?;
            if row.label > 3 {
                return Err(bad(format!("label {} is not a grade 0..3", row.label)));
            }
            for (name, value) in [("meniscus", row.meniscus), ("abnormal", row.abnormal)] {
                if let Some(v) = value.filter(|&v| v > 1) {
                    return Err(bad(format!("{name} {v} is not 0 or 1")));
                }
            }
            if !seen.insert(row.exam_id.clone()) {
                return Err(bad(format!("exam_id {} appears twice", row.exam_id)));
            }
            rows.push(row);
        }
        // Absolute, so that paths resolved from it (and recorded, as feature tables do) still
        // name the file whatever folder later reads them.
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let root = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        Ok(Self { root, rows })
    }

    /// Writes the manifest as `path` (atomically).
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        cruciate_volume::atomic::write_atomically(path, |w| {
            let mut writer = csv::Writer::from_writer(w);
            for row in &self.rows {
                writer.serialize(row).map_err(std::io::Error::other)?;
            }
            writer.flush()
        })
        .map_err(io)
    }

    /// Where an exam's file is.
    pub fn resolve(&self, row: &ManifestRow) -> PathBuf {
        let p = Path::new(&row.path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// The rows of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &ManifestRow> {
        self.rows.iter().filter(move |r| r.split == split)
    }

    /// The split a run's input-gate limit, calibration, grade sets and drift reference are
    /// set on: calib where the manifest has any, else valid.
    pub fn calibration_split(&self) -> Split {
        if self.split(Split::Calib).next().is_some() {
            Split::Calib
        } else {
            Split::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_resolve_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.csv");
        let rows = vec![
            ManifestRow {
                exam_id: "00001".into(),
                path: "exams/00001.npy".into(),
                label: 3,
                split: Split::Valid,
                roi: Some(RoiBox {
                    s0: 1,
                    s1: 3,
                    r0: 4,
                    r1: 9,
                    c0: 5,
                    c1: 7,
                }),
                patient: Some("p1".into()),
                spacing: Some([3.5, 0.5, 0.5]),
                side: None,
                meniscus: None,
                abnormal: None,
                plane: None,
            },
            ManifestRow {
                exam_id: "00002".into(),
                path: "/abs/x.nii".into(),
                label: 0,
                split: Split::Train,
                roi: None,
                patient: None,
                spacing: None,
                side: None,
                meniscus: None,
                abnormal: None,
                plane: None,
            },
        ];
        Manifest {
            root: dir.path().into(),
            rows: rows.clone(),
        }
        .write(&path)
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(
                "exam_id,path,label,split,roi,patient,spacing,side,meniscus,abnormal,plane\n00001,exams/00001.npy,3,valid,1 3 4 9 5 7,p1,3.5 0.5 0.5,,,,\n"
            ),
            "{text}"
        );
        // A manifest written before the meniscus and abnormal columns reads as unlabelled.
        let old = dir.path().join("old.csv");
        std::fs::write(
            &old,
            "exam_id,path,label,split,roi,patient,spacing,side\n00001,exams/00001.npy,3,valid,,,,\n",
        )
        .unwrap();
        let row = &Manifest::read(&old).unwrap().rows[0];
        assert_eq!((row.meniscus, row.abnormal), (None, None));
        let back = Manifest::read(&path).unwrap();
        assert_eq!(back.rows, rows);
        assert_eq!(
            back.resolve(&back.rows[0]),
            dir.path().join("exams/00001.npy")
        );
        assert_eq!(back.resolve(&back.rows[1]), PathBuf::from("/abs/x.nii"));
        assert_eq!(back.split(Split::Train).count(), 1);
        assert_eq!(back.rows[0].patient_id(), "p1");
        assert_eq!(back.rows[1].patient_id(), "00002");
        // A manifest named by a relative path resolves its rows to absolute paths.
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count() - 1);
        let relative = PathBuf::from(up).join(path.strip_prefix("/").unwrap());
        assert!(relative.is_relative());
        let again = Manifest::read(&relative).unwrap();
        assert!(again.root.is_absolute(), "{}", again.root.display());
        assert!(again.resolve(&again.rows[0]).is_absolute());
        assert_eq!(
            std::fs::canonicalize(&again.root).unwrap(),
            std::fs::canonicalize(dir.path()).unwrap()
        );
        // Manifests without the patient column still read.
        std::fs::write(&path, "exam_id,path,label,split,roi\na,x.npy,1,train,\n").unwrap();
        assert_eq!(Manifest::read(&path).unwrap().rows[0].patient, None);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        let cases = [
            ("a,x.npy,7,train,\n", "label 7"),
            ("a,x.npy,1,holdout,\n", "line 2"),
            ("a,x.npy,1,train,1 2 3\n", "six numbers"),
            (
                "a,x.npy,1,train,\nb,y.npy,0,test,\na,z.npy,0,test,\n",
                "appears twice",
            ),
        ];
        for (body, expected) in cases {
            std::fs::write(&path, format!("exam_id,path,label,split,roi\n{body}")).unwrap();
            let err = Manifest::read(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        for spacing in ["3 0.5", "3 0 0.5", "3 NaN 1", "a b c"] {
            std::fs::write(
                &path,
                format!(
                    "exam_id,path,label,split,roi,patient,spacing\na,x.npy,1,train,,,{spacing}\n"
                ),
            )
            .unwrap();
            let err = Manifest::read(&path).unwrap_err().to_string();
            assert!(
                err.contains("line 2") && err.contains("three positive"),
                "{err}"
            );
        }
        for (labels, expected) in [("2,", "meniscus 2 is not 0 or 1"), ("0,9", "abnormal 9")] {
            std::fs::write(
                &path,
                format!(
                    "exam_id,path,label,split,roi,patient,spacing,side,meniscus,abnormal
a,x.npy,1,train,,,,,{labels}\n"
                ),
            )
            .unwrap();
            let err = Manifest::read(&path).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains(expected), "{err}");
        }
    }
}
