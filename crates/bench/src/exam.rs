//! Whole-exam latency as a user meets it: a zipped DICOM exam to its result, in a process with
//! the model open (read the zip, decode every instance, choose the series, resample, the
//! forward pass, the explanation, the result files), per exam. `bench/exam_latency.sh` puts
//! these figures beside a Python pipeline (pydicom, numpy, PyTorch) doing the same work on the
//! same zips.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cruciate_infer::Classifier;
use cruciate_models::Compute;
use serde::Serialize;

use crate::{BenchError, RegistryFor};

/// The zipped exams timed, and where they are.
pub struct Zips {
    /// The zips, by name.
    pub paths: Vec<PathBuf>,
    /// Their folder.
    pub dir: PathBuf,
    _scratch: Option<tempfile::TempDir>,
}

impl Zips {
    /// The zipped exams in `dir` (`*.zip`, by name); when it holds none, `count` synthetic
    /// DICOM phantoms (256x256, 24 to 36 slices) are made and zipped there first, so that
    /// another pipeline can time the same files. Without `dir`, they are made in a scratch
    /// folder that lives as long as the value.
    pub fn in_dir(dir: Option<&Path>, count: usize) -> Result<Self, BenchError> {
        let scratch = match dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().map_err(BenchError::io("making a scratch folder"))?),
        };
        let dir = dir
            .or(scratch.as_ref().map(tempfile::TempDir::path))
            .expect("a folder or a scratch one")
            .to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(BenchError::io(format!("making {}", dir.display())))?;
        if zips(&dir)?.is_empty() {
            let phantoms =
                tempfile::tempdir().map_err(BenchError::io("making a scratch folder"))?;
            let exams = crate::inputs::zipped_exams(phantoms.path(), count.max(1))?;
            for (i, zip) in exams.iter().enumerate() {
                let path = dir.join(format!("exam-{i:03}.zip"));
                cruciate_volume::atomic::write_atomically(&path, |w| w.write_all(zip))
                    .map_err(BenchError::io(format!("writing {}", path.display())))?;
            }
        }
        Ok(Self {
            paths: zips(&dir)?,
            dir,
            _scratch: scratch,
        })
    }
}

/// The `*.zip` files in `dir`, by name.
fn zips(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .map_err(BenchError::io(format!("listing {}", dir.display())))?;
    zips.retain(|p| p.extension().is_some_and(|e| e == "zip"));
    zips.sort();
    Ok(zips)
}

/// Seconds the whole analysis of each exam took with `model` open, results under `out`.
pub fn time_analyses(
    model: &dyn Classifier,
    zips: &[PathBuf],
    out: &Path,
) -> Result<Vec<f64>, BenchError> {
    zips.iter()
        .enumerate()
        .map(|(i, zip)| {
            let start = Instant::now();
            cruciate_server::analysis::analyse(model, zip, &out.join(format!("out-{i}")))?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

/// One row: a run's whole-exam latency.
#[derive(Debug, Clone, Serialize)]
pub struct ExamRow {
    /// The run's model name.
    pub model: String,
    /// Its kind (`network`, `features`, ...).
    pub kind: String,
    /// Exams timed.
    pub exams: usize,
    /// Median seconds per exam.
    pub median_s: f64,
    /// Mean seconds per exam.
    pub mean_s: f64,
}

/// Times every run of `runs` on `zips` (at least one; after one untimed exam that warms the
/// model up). Each model is timed without its input gate's domain check, which would spare
/// the explanation of an exam it abstains on: the call and its explanation are computed for
/// every exam, as the pipeline put beside it does (the gate's rules still choose the series).
pub fn run(
    runs: &[PathBuf],
    zips: &[PathBuf],
    compute: Compute,
    registry: RegistryFor,
) -> Result<Vec<ExamRow>, BenchError> {
    if zips.is_empty() {
        return Err(BenchError::Service("no zipped exam to time".into()));
    }
    let registry = registry(compute);
    let scratch = tempfile::tempdir().map_err(BenchError::io("making a scratch folder"))?;
    runs.iter()
        .enumerate()
        .map(|(r, run)| {
            let model = registry.open_model(run)?;
            let out = scratch.path().join(format!("run-{r}"));
            time_analyses(model.as_ref(), &zips[..1], &out.join("warm-up"))?;
            let mut seconds = time_analyses(model.as_ref(), zips, &out)?;
            seconds.sort_by(f64::total_cmp);
            Ok(ExamRow {
                model: model.info().model.name.clone(),
                kind: model.info().kind.clone(),
                exams: seconds.len(),
                median_s: seconds[seconds.len() / 2],
                mean_s: seconds.iter().sum::<f64>() / seconds.len() as f64,
            })
        })
        .collect()
}
