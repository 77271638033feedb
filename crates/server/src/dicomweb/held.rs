//! An exam's results (the SR, the Segmentations, the Secondary Captures) among the studies
//! Cruciate holds, as its DICOMweb shows them: made in the held, de-identified study (not
//! re-linked to the hospital's, which these listings never show), written under
//! `exams/ID/held-results/` beside a stamp of the result they were made from, and made again
//! when that result, or whether its call is shown, changed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dicom::results::{InStudy, ResultsError, result_objects_in};
use crate::store::{ExamRow, JobStatus, Store};

/// The folder of an exam's held results, below its exam folder.
pub const FOLDER: &str = "held-results";
/// The stamp file: what the results were made from.
const STAMP: &str = "stamp";

/// What `exam`'s results are made from: its result document and whether its call is shown.
fn stamp(exam: &ExamRow) -> String {
    let mut hash = Sha256::new();
    for part in [
        exam.result.as_deref(),
        exam.not_analysed.as_deref(),
        exam.shown_by.as_deref(),
    ] {
        hash.update(part.unwrap_or("-").as_bytes());
        hash.update([0]);
    }
    format!("{:x}", hash.finalize())
}

/// The result files in folder `dir`, in name order (the SR, the SEGs, the SCs).
pub fn existing(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files
}

/// The held result files of `exam` (in exam folder `dir`), made (again) when missing or
/// stale; none for an exam not done.
pub async fn held_results(
    store: &Store,
    data: &Path,
    exam: &ExamRow,
    dir: &Path,
) -> Result<Vec<PathBuf>, ResultsError> {
    if exam.status != JobStatus::Done {
        return Ok(Vec::new());
    }
    let folder = dir.join(FOLDER);
    let wanted = stamp(exam);
    if std::fs::read_to_string(folder.join(STAMP)).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(existing(&folder));
    }
    let objects = result_objects_in(store, data, exam, InStudy::Held).await?;
    let damaged = |e: &dyn std::fmt::Display| ResultsError::Damaged(e.to_string());
    let mut named = vec![("0-sr.dcm".to_string(), objects.sr)];
    named.extend(
        (objects.seg.into_iter().enumerate()).map(|(n, o)| (format!("1-seg-{n:03}.dcm"), o)),
    );
    named
        .extend((objects.sc.into_iter().enumerate()).map(|(n, o)| (format!("2-sc-{n:03}.dcm"), o)));
    let partial = dir.join(format!("{FOLDER}.{}.partial", crate::store::random_hex(6)));
    let folder_in = folder.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&partial)?;
        for (name, obj) in named {
            let bytes = cruciate_dicom_results::part10_bytes(obj).map_err(std::io::Error::other)?;
            std::fs::write(partial.join(name), bytes)?;
        }
        std::fs::write(partial.join(STAMP), wanted)?;
        // Another request may have made them meanwhile: the last one made stays.
        let _ = std::fs::remove_dir_all(&folder_in);
        if std::fs::rename(&partial, &folder_in).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|e| damaged(&e))?
    .map_err(|e| damaged(&e))?;
    Ok(existing(&folder))
}
