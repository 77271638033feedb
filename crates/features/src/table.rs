//! A manifest's feature vectors on disk, computed once per [`FeatureSpec::key`] and read back by
//! every later command (SVM fits, cross-validation, hyperparameter search).
//!
//! ```text
//! FEATS/features.json   the spec and its key, the weights file used, one entry per exam
//!                       (its manifest row and resolved path), whether the exams are synthetic
//! FEATS/features.npy    float32 [exams, width], row i for entry i (numpy reads it as it is)
//! ```
//!
//! A second extraction with the same key reuses every row whose exam (id and file) it already
//! holds and computes the rest; progress is written every few exams, so a killed extraction
//! resumes where it stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cruciate_data::{DatasetInfo, Finding, Manifest, ManifestRow, Split, Task, read_exam};
use cruciate_infer::Progress;
use cruciate_svm::Matrix;
use cruciate_volume::Plane;
use serde::{Deserialize, Serialize};

use crate::{Extractor, FeatureError, FeatureRegion, FeatureSpec};

const HEADER: &str = "features.json";
const VALUES: &str = "features.npy";
const FORMAT: u32 = 1;
/// Exams between two saves of a running extraction.
const SAVE_EVERY: usize = 16;

/// One exam of a feature table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamEntry {
    /// Its manifest row.
    pub row: ManifestRow,
    /// The exam's file as resolved when its features were computed (absolute: manifests
    /// resolve from their absolute folder).
    pub source: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    key: String,
    spec: FeatureSpec,
    weights_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    localiser_path: Option<PathBuf>,
    synthetic: bool,
    /// The finding the rows' labels are of (the ACL in tables written before findings).
    #[serde(default)]
    finding: Finding,
    width: usize,
    exams: Vec<ExamEntry>,
}

/// Feature vectors of a manifest's exams.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    /// What made them.
    pub spec: FeatureSpec,
    /// The weights file they were computed with, when there was one.
    pub weights_path: Option<PathBuf>,
    /// The localiser run whose boxes the exams were cut to, when they were.
    pub localiser_path: Option<PathBuf>,
    /// True when the exams are synthetic phantoms.
    pub synthetic: bool,
    /// The finding the rows' labels are of; their plane is in each row.
    pub finding: Finding,
    /// One entry per row of `matrix`.
    pub exams: Vec<ExamEntry>,
    /// The vectors.
    pub matrix: Matrix,
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExtractStats {
    /// Exams whose features were computed.
    pub computed: usize,
    /// Exams whose features were read from the folder.
    pub reused: usize,
    /// Seconds spent computing.
    pub seconds: f64,
}

impl ExtractStats {
    /// Exams computed per second.
    pub fn exams_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.computed as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl FeatureTable {
    /// The table in folder `dir`.
    pub fn read(dir: &Path) -> Result<Self, FeatureError> {
        let header_path = dir.join(HEADER);
        let text = std::fs::read_to_string(&header_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                FeatureError::invalid(dir, "holds no features.json: not a feature folder (make one with `cruciate features`)")
            } else {
                FeatureError::io(&header_path, e)
            }
        })?;
        let header: Header = serde_json::from_str(&text)
            .map_err(|e| FeatureError::invalid(&header_path, e.to_string()))?;
        if header.format != FORMAT {
            return Err(FeatureError::invalid(
                &header_path,
                format!("format {}, this build reads {FORMAT}", header.format),
            ));
        }
        header
            .spec
            .validate()
            .map_err(|e| FeatureError::invalid(&header_path, e))?;
        if header.exams.iter().any(|e| e.row.label > 3) {
            return Err(FeatureError::invalid(&header_path, "a grade above 3"));
        }
        if header.key != header.spec.key() {
            return Err(FeatureError::invalid(
                &header_path,
                "its key does not match its spec",
            ));
        }
        let values_path = dir.join(VALUES);
        let (shape, values) = read_matrix(&values_path)?;
        if shape != [header.exams.len(), header.width] {
            return Err(FeatureError::invalid(
                &values_path,
                format!(
                    "shape {shape:?}, features.json lists {} exams of {} values",
                    header.exams.len(),
                    header.width
                ),
            ));
        }
        let matrix = Matrix::new(shape[0], shape[1], values)
            .map_err(|e| FeatureError::invalid(&values_path, e.to_string()))?;
        Ok(Self {
            spec: header.spec,
            weights_path: header.weights_path,
            localiser_path: header.localiser_path,
            synthetic: header.synthetic,
            finding: header.finding,
            exams: header.exams,
            matrix,
        })
    }

    /// Writes the table into folder `dir` (values first, then the header that describes them;
    /// each file atomically).
    pub fn write(&self, dir: &Path) -> Result<(), FeatureError> {
        std::fs::create_dir_all(dir).map_err(|e| FeatureError::io(dir, e))?;
        let values_path = dir.join(VALUES);
        let shape = [self.matrix.rows() as u64, self.matrix.cols() as u64];
        cruciate_volume::atomic::write_atomically(&values_path, |w| {
            use npyz::WriterBuilder;
            let mut writer = npyz::WriteOptions::<f32>::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            writer.extend(self.matrix.values().iter().copied())?;
            writer.finish()
        })
        .map_err(|e| FeatureError::io(&values_path, e))?;
        let header = Header {
            format: FORMAT,
            key: self.spec.key(),
            spec: self.spec.clone(),
            weights_path: self.weights_path.clone(),
            localiser_path: self.localiser_path.clone(),
            synthetic: self.synthetic,
            finding: self.finding,
            width: self.matrix.cols(),
            exams: self.exams.clone(),
        };
        let text = serde_json::to_string_pretty(&header).expect("a header serialises");
        let header_path = dir.join(HEADER);
        cruciate_volume::atomic::write_atomically(&header_path, |w| {
            std::io::Write::write_all(w, text.as_bytes())
        })
        .map_err(|e| FeatureError::io(&header_path, e))
    }

    /// The features of every exam of `manifest` by `extractor` in folder `out`, each exam cut
    /// to `region` first when given (the extractor's spec must record that region): rows
    /// already there for the same spec are reused, the others computed (and saved as they
    /// come).
    pub fn extract(
        (manifest, finding): (&Manifest, Finding),
        (extractor, region): (&Extractor, Option<&FeatureRegion>),
        weights_path: Option<&Path>,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<(Self, ExtractStats), FeatureError> {
        let spec = extractor.spec().clone();
        if spec.region != region.map(FeatureRegion::spec) {
            return Err(FeatureError::Request(
                "the extractor's spec does not record the region exams are cut to".into(),
            ));
        }
        let previous = Self::read(out)
            .ok()
            .filter(|t| t.spec == spec && t.finding == finding);
        let known = |row: &ManifestRow, source: &str| -> Option<Vec<f32>> {
            let t = previous.as_ref()?;
            let i = t.exams.iter().position(|e| {
                e.row.exam_id == row.exam_id && e.source == source && e.row.plane == row.plane
            })?;
            Some(t.matrix.row(i).to_vec())
        };
        let mut table = Self {
            spec,
            weights_path: weights_path.map(|p| std::fs::canonicalize(p).unwrap_or(p.to_path_buf())),
            localiser_path: region
                .and_then(|r| r.localiser.as_deref())
                .map(|p| std::fs::canonicalize(p).unwrap_or(p.to_path_buf())),
            synthetic: DatasetInfo::is_synthetic(&manifest.root),
            finding,
            exams: Vec::new(),
            matrix: Matrix::new(0, extractor.width(), Vec::new())?,
        };
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let mut stats = ExtractStats {
            computed: 0,
            reused: 0,
            seconds: 0.0,
        };
        progress.start("features", Some(manifest.rows.len() as u64));
        for (k, row) in manifest.rows.iter().enumerate() {
            let source = manifest.resolve(row).display().to_string();
            let vector = match known(row, &source) {
                Some(v) => {
                    stats.reused += 1;
                    v
                }
                None => {
                    let mut exam =
                        read_exam(manifest, row).map_err(|e| FeatureError::Exam(e.to_string()))?;
                    if let Some(region) = region {
                        exam = region.cut(exam, &row.exam_id)?;
                    }
                    let start = Instant::now();
                    let v = extractor
                        .exam_features(&exam)
                        .map_err(|e| FeatureError::Exam(format!("exam {}: {e}", row.exam_id)))?;
                    stats.seconds += start.elapsed().as_secs_f64();
                    stats.computed += 1;
                    v
                }
            };
            rows.push(vector);
            table.exams.push(ExamEntry {
                row: row.clone(),
                source,
            });
            progress.set(k as u64 + 1);
            if stats.computed > 0 && stats.computed.is_multiple_of(SAVE_EVERY) {
                table.set_rows(&rows)?;
                table.merged_with(previous.as_ref()).write(out)?;
            }
        }
        progress.finish();
        table.set_rows(&rows)?;
        table.write(out)?;
        Ok((table, stats))
    }

    fn set_rows(&mut self, rows: &[Vec<f32>]) -> Result<(), FeatureError> {
        self.matrix = Matrix::new(rows.len(), self.matrix.cols(), rows.concat())?;
        Ok(())
    }

    /// This (partial) table with the rows of `previous` it does not hold yet, so that saving
    /// progress never loses rows computed before.
    fn merged_with(&self, previous: Option<&Self>) -> Self {
        let mut merged = self.clone();
        let Some(previous) = previous else {
            return merged;
        };
        let mut extra = Vec::new();
        for (i, e) in previous.exams.iter().enumerate() {
            if !self.exams.iter().any(|x| x.row.exam_id == e.row.exam_id) {
                merged.exams.push(e.clone());
                extra.extend_from_slice(previous.matrix.row(i));
            }
        }
        let mut values = self.matrix.values().to_vec();
        values.extend(extra);
        merged.matrix =
            Matrix::new(merged.exams.len(), self.matrix.cols(), values).expect("rows of one width");
        merged
    }

    /// The plane of the series the rows were read from.
    pub fn plane(&self) -> Plane {
        self.exams
            .first()
            .and_then(|e| e.row.plane)
            .unwrap_or(Plane::Sagittal)
    }

    /// Indices of the exams in `split`.
    pub fn split(&self, split: Split) -> Vec<usize> {
        (0..self.exams.len())
            .filter(|&i| self.exams[i].row.split == split)
            .collect()
    }

    /// Indices of the exams with ids in `ids`, in table order.
    pub fn with_ids<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
        let wanted: std::collections::BTreeSet<&str> = ids.into_iter().collect();
        (0..self.exams.len())
            .filter(|&i| wanted.contains(self.exams[i].row.exam_id.as_str()))
            .collect()
    }

    /// The class of each exam at `indices` for `task`.
    pub fn labels(&self, task: Task, indices: &[usize]) -> Vec<usize> {
        indices
            .iter()
            .map(|&i| task.class_of(self.exams[i].row.label))
            .collect()
    }
}

fn read_matrix(path: &Path) -> Result<([usize; 2], Vec<f32>), FeatureError> {
    let bytes = std::fs::read(path).map_err(|e| FeatureError::io(path, e))?;
    let npy = npyz::NpyFile::new(bytes.as_slice())
        .map_err(|e| FeatureError::invalid(path, e.to_string()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let [rows, cols] = shape[..] else {
        return Err(FeatureError::invalid(
            path,
            format!("shape {shape:?}, expected 2-D"),
        ));
    };
    let values = npy
        .into_vec::<f32>()
        .map_err(|e| FeatureError::invalid(path, format!("not float32: {e}")))?;
    Ok(([rows, cols], values))
}

impl FeatureTable {
    /// The input gate's domain reference of a run fitted on rows `fit` of this table, its
    /// limit accepting `share` of rows `held_out`: the vectors are the ones the run's
    /// predictions carry, so nothing is computed again.
    pub fn domain_reference(
        &self,
        fit: &[usize],
        held_out: &[usize],
        share: f64,
    ) -> Result<cruciate_infer::DomainReference, FeatureError> {
        let rows = |idx: &[usize]| -> Vec<Vec<f32>> {
            idx.iter().map(|&i| self.matrix.row(i).to_vec()).collect()
        };
        Ok(cruciate_infer::DomainReference::fit(
            &rows(fit),
            &rows(held_out),
            share,
        )?)
    }
}
