//! Studies become exams: when no instance of a study arrived for the quiet period, its files
//! are grouped by series, the series to analyse is chosen by rule, and the exam is admitted
//! through the service's one intake; the other series are kept beside it and listed.
//!
//! Crash-safe: the study is first claimed in the database for the exam it will become, every
//! step after is idempotent (files are moved into `DATA/exams/ID/received/` and filed from
//! there), and its arrival row goes only once the exam is recorded. A claim whose process died
//! (this host's process gone, or older than the longest a probe may take) is replayed with the
//! same exam id, so no acknowledged instance is lost and no study becomes two exams.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cruciate_volume::dicom::pd_fs_score;
use cruciate_volume::{Orientation, Plane};
use dicom_dictionary_std::tags;

use super::NodeContext;
use crate::intake::{AdmitError, Submission};
use crate::storage::ExamFiles;
use crate::store::{Arrival, AuditEntry, Claim, DicomExam, SeriesEntry, now_ms, random_hex};

/// One series found in a study folder, with its files.
struct FoundSeries {
    entry: SeriesEntry,
    files: Vec<PathBuf>,
    sagittal: bool,
}

fn header_text(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// The series of the study in `dir`, read from the headers.
fn series_of(dir: &Path) -> Vec<FoundSeries> {
    let mut by_uid: BTreeMap<String, FoundSeries> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "dcm") {
            continue;
        }
        let Ok(file) = dicom_object::OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(&path)
        else {
            continue;
        };
        let obj = file.into_inner();
        let uid = header_text(&obj, tags::SERIES_INSTANCE_UID);
        let plane = obj
            .get(tags::IMAGE_ORIENTATION_PATIENT)
            .and_then(|e| e.to_multi_float64().ok())
            .and_then(|v| <[f64; 6]>::try_from(v.as_slice()).ok())
            .and_then(|iop| Orientation::from_dicom(iop, [0.0; 3]))
            .map_or(Plane::Unknown, |o| o.plane());
        let found = by_uid.entry(uid.clone()).or_insert_with(|| FoundSeries {
            entry: SeriesEntry {
                uid,
                description: header_text(&obj, tags::SERIES_DESCRIPTION),
                plane,
                instances: 0,
                chosen: false,
            },
            files: Vec::new(),
            sagittal: plane == Plane::Sagittal,
        });
        found.entry.instances += 1;
        found.files.push(path);
    }
    by_uid.into_values().collect()
}

/// Picks the series to analyse: the first whose description contains a preferred pattern, else
/// the sagittal one with the best PD / fat-suppression description, then the most images.
fn choose(series: &mut [FoundSeries], preference: &[String]) -> Option<usize> {
    let by_pattern = preference.iter().find_map(|p| {
        let p = p.to_ascii_lowercase();
        series
            .iter()
            .position(|s| s.entry.description.to_ascii_lowercase().contains(&p))
    });
    let chosen = by_pattern.or_else(|| {
        (0..series.len()).max_by_key(|&i| {
            let s = &series[i];
            (
                s.sagittal,
                pd_fs_score(&s.entry.description),
                s.entry.instances,
            )
        })
    })?;
    series[chosen].entry.chosen = true;
    Some(chosen)
}

/// Moves every file directly in `from` into `to` (made if needed), then removes `from` if it is
/// empty; a file already moved is not there to move again.
fn move_files(from: &Path, to: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to)?;
    for entry in entries.flatten() {
        if entry.file_type()?.is_file() {
            std::fs::rename(entry.path(), to.join(entry.file_name()))?;
        }
    }
    let _ = std::fs::remove_dir(from);
    Ok(())
}

/// Gathers the study into the exam's `received/` (from `incoming/`, and back from an earlier
/// attempt's filing), chooses the series and files it: the chosen one in `upload/`, the others
/// in `other-series/N/`; for a model that reads the `whole` study (a reading of several
/// planes), every series in `upload/N/`, each marked chosen. Idempotent: a replay after a
/// crash at any point ends the same way.
fn gather_and_file(
    incoming: &Path,
    exam: &ExamFiles,
    preference: &[String],
    whole: bool,
) -> std::io::Result<Vec<FoundSeries>> {
    let received = exam.dir.join("received");
    let upload = exam.dir.join("upload");
    let others = exam.dir.join("other-series");
    move_files(incoming, &received)?;
    for filed in [&upload, &others] {
        if let Ok(entries) = std::fs::read_dir(filed) {
            for entry in entries.flatten() {
                move_files(&entry.path(), &received)?;
            }
        }
    }
    move_files(&upload, &received)?;
    let mut series = series_of(&received);
    let Some(chosen) = choose(&mut series, preference) else {
        return Ok(series);
    };
    for (i, s) in series.iter_mut().enumerate() {
        let target = match (whole, i == chosen) {
            (true, _) => upload.join(i.to_string()),
            (false, true) => upload.clone(),
            (false, false) => others.join(i.to_string()),
        };
        s.entry.chosen |= whole;
        std::fs::create_dir_all(&target)?;
        for f in &mut s.files {
            let moved = target.join(f.file_name().unwrap_or_default());
            std::fs::rename(&*f, &moved)?;
            *f = moved;
        }
    }
    let _ = std::fs::remove_dir(&received);
    Ok(series)
}

impl NodeContext {
    /// Turns every quiet study into an exam, and takes up the claims of processes that died.
    pub(crate) async fn assemble_quiet(&self) {
        let before = now_ms() - (self.dicom().stable_after_seconds * 1000) as i64;
        let arrivals = match self.ctx.store.arrivals(before).await {
            Ok(q) => q,
            Err(e) => {
                tracing::error!("DICOM arrivals: {e}");
                return;
            }
        };
        let me = crate::sweep::worker_prefix();
        let stale_before = now_ms() - ((self.ctx.config.job_timeout_seconds + 60) * 1000) as i64;
        let quiet = std::time::Duration::from_secs(self.dicom().stable_after_seconds);
        for arrival in arrivals {
            if arrival.claim.is_none() && self.receiving.busy(&arrival.calling_ae, quiet) {
                continue;
            }
            if let Some(claim) = &arrival.claim {
                let gone = claim.by != me && crate::sweep::dead_here(&claim.by);
                if !gone && claim.at_ms >= stale_before {
                    continue;
                }
                tracing::warn!(exam = %claim.exam_id, "taking up an interrupted assembly");
            }
            let claim = match self
                .ctx
                .store
                .claim_arrival(&arrival, &random_hex(12), &me)
                .await
            {
                Ok(Some(claim)) => claim,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!("DICOM arrivals: {e}");
                    continue;
                }
            };
            if let Err(e) = self.assemble(&arrival, &claim).await {
                tracing::error!("study from {}: {e}", arrival.calling_ae);
            }
        }
    }

    async fn assemble(&self, arrival: &Arrival, claim: &Claim) -> Result<(), AssembleError> {
        let id = claim.exam_id.clone();
        let exam = self.ctx.exam_files(&id);
        if self.ctx.store.exam(&id, None).await?.is_none() {
            self.make_exam(arrival, &id).await?;
        }
        let record = self.series_record(arrival, &id).await?;
        self.ctx
            .store
            .insert_dicom_exam(&record, &self.dicom().destinations)
            .await?;
        self.ctx.store.finish_arrival(arrival).await?;
        let _ = std::fs::remove_file(exam.dir.join(SERIES_FILE));
        Ok(())
    }

    /// Files the study and admits it as exam `id` (queued, or refused and removed).
    async fn make_exam(&self, arrival: &Arrival, id: &str) -> Result<(), AssembleError> {
        let exam = self.ctx.exam_files(id);
        let incoming = self.incoming.join(&arrival.folder);
        let preference = self.dicom().series_preference.clone();
        let dir = exam.dir.clone();
        let whole = matches!(
            self.ctx.models.default_model().what,
            crate::models::Served::Reading(_)
        );
        let series = tokio::task::spawn_blocking(move || {
            let exam = ExamFiles { dir };
            let series = gather_and_file(&incoming, &exam, &preference, whole)?;
            let entries: Vec<&SeriesEntry> = series.iter().map(|s| &s.entry).collect();
            let json = serde_json::to_vec(&entries).map_err(std::io::Error::other)?;
            cruciate_volume::atomic::write_atomically(&exam.dir.join(SERIES_FILE), |w| {
                std::io::Write::write_all(w, &json)
            })?;
            Ok::<_, std::io::Error>(series)
        })
        .await
        .map_err(|e| AssembleError::Files(std::io::Error::other(e)))??;
        let chosen = series.iter().find(|s| s.entry.chosen);
        let images: usize = series.iter().map(|s| s.entry.instances).sum();
        let name = match chosen {
            Some(_) if whole => format!(
                "study of {} series ({images} images from {})",
                series.len(),
                arrival.calling_ae
            ),
            Some(s) if !s.entry.description.is_empty() => format!(
                "{} ({} images from {})",
                s.entry.description, s.entry.instances, arrival.calling_ae
            ),
            Some(s) => format!(
                "series without description ({} images from {})",
                s.entry.instances, arrival.calling_ae
            ),
            None => format!("study from {}", arrival.calling_ae),
        };
        let submission = Submission {
            id: id.to_string(),
            input: exam.dir.join("upload"),
            name,
            site: self.dicom().site.clone(),
            submitted_by: format!("dicom:{}", arrival.calling_ae),
            model: self.ctx.models.default_model().name.clone(),
            audit: AuditEntry {
                actor: format!("dicom:{}", arrival.calling_ae),
                action: "receive".into(),
                ..AuditEntry::default()
            },
            identified: false,
            results_to: Vec::new(),
        };
        self.ctx.admit(submission).await?;
        Ok(())
    }

    /// The series found in the study of exam `id`, as filed (none when the exam was refused).
    async fn series_record(&self, arrival: &Arrival, id: &str) -> Result<DicomExam, AssembleError> {
        let path = self.ctx.exam_files(id).dir.join(SERIES_FILE);
        let series: Vec<SeriesEntry> = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AssembleError::Files(std::io::Error::other(e)))?,
            Err(_) => match self.ctx.store.dicom_exam(id).await? {
                Some(done) => done.series,
                None => Vec::new(),
            },
        };
        Ok(DicomExam {
            exam_id: id.to_string(),
            study_uid: arrival.study_uid.clone(),
            calling_ae: arrival.calling_ae.clone(),
            chosen_series: series.iter().find(|s| s.chosen).map(|s| s.uid.clone()),
            series,
        })
    }
}

/// The series list of a study being assembled, kept beside it until its exam is recorded.
const SERIES_FILE: &str = "series.json";

/// Why a study could not be made an exam now (its claim stays, to be taken up again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssembleError {
    /// Moving or reading its files failed.
    #[error("filing the study: {0}")]
    Files(#[from] std::io::Error),
    /// The intake could not take it now.
    #[error("admitting the study: {0}")]
    Admit(#[from] AdmitError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(description: &str, sagittal: bool, instances: usize) -> FoundSeries {
        FoundSeries {
            entry: SeriesEntry {
                uid: description.into(),
                description: description.into(),
                plane: if sagittal {
                    Plane::Sagittal
                } else {
                    Plane::Axial
                },
                instances,
                chosen: false,
            },
            files: Vec::new(),
            sagittal,
        }
    }

    #[test]
    fn the_sagittal_pd_fat_suppressed_series_is_chosen_unless_a_pattern_says_otherwise() {
        let mut s = vec![
            found("AX PD FS", false, 40),
            found("SAG T1", true, 30),
            found("SAG PD FS", true, 24),
            found("COR T2 FS", false, 24),
        ];
        assert_eq!(choose(&mut s, &[]), Some(2));
        assert!(s[2].entry.chosen);
        let mut s2 = vec![
            found("SAG PD FS", true, 24),
            found("knee_sag_custom", true, 20),
        ];
        assert_eq!(choose(&mut s2, &["CUSTOM".into()]), Some(1));
        assert_eq!(choose(&mut [], &[]), None);
    }
}
