//! Studies become exams: when no instance of a study arrived for the quiet period, its files
//! are grouped by series, the series to analyse is chosen by rule, and the exam is queued; the
//! other series are kept beside it and listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cruciate_volume::dicom::pd_fs_score;
use cruciate_volume::{Orientation, Plane};
use dicom_dictionary_std::tags;

use super::NodeContext;
use crate::storage::ExamFiles;
use crate::store::{Arrival, AuditEntry, DicomExam, NewExam, SeriesEntry, now_ms, random_hex};

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
                plane: plane.to_string(),
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

/// Moves the chosen series into the exam's `upload/` folder and the others into
/// `other-series/N/`.
fn file_away(series: &[FoundSeries], chosen: usize, exam: &ExamFiles) -> std::io::Result<PathBuf> {
    let upload = exam.dir.join("upload");
    for (i, s) in series.iter().enumerate() {
        let target = if i == chosen {
            upload.clone()
        } else {
            exam.dir.join("other-series").join(i.to_string())
        };
        std::fs::create_dir_all(&target)?;
        for f in &s.files {
            std::fs::rename(f, target.join(f.file_name().expect("a file name")))?;
        }
    }
    Ok(upload)
}

impl NodeContext {
    /// Turns every quiet study into an exam.
    pub(crate) async fn assemble_quiet(&self) {
        let before = now_ms() - (self.config.stable_after_seconds * 1000) as i64;
        let quiet = match self.store.quiet_arrivals(before).await {
            Ok(q) => q,
            Err(e) => {
                tracing::error!("DICOM arrivals: {e}");
                return;
            }
        };
        for arrival in quiet {
            match self.store.take_arrival(&arrival).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!("DICOM arrivals: {e}");
                    continue;
                }
            }
            if let Err(e) = self.assemble(&arrival).await {
                tracing::error!("study from {}: {e}", arrival.calling_ae);
            }
        }
    }

    async fn assemble(&self, arrival: &Arrival) -> Result<(), String> {
        let folder = self.incoming.join(&arrival.folder);
        if !folder.is_dir() {
            return Ok(());
        }
        let id = random_hex(12);
        let exam = ExamFiles::new(&self.data, &id);
        let preference = self.config.series_preference.clone();
        let dir = folder.clone();
        let (series, upload) = tokio::task::spawn_blocking(move || {
            let mut series = series_of(&dir);
            let chosen = choose(&mut series, &preference).ok_or("no readable instance")?;
            let upload = file_away(&series, chosen, &exam).map_err(|e| e.to_string())?;
            let _ = std::fs::remove_dir(&dir);
            Ok::<_, String>((series, upload))
        })
        .await
        .map_err(|e| e.to_string())??;
        let chosen = series.iter().find(|s| s.entry.chosen).expect("one chosen");
        let description = if chosen.entry.description.is_empty() {
            "series without description".to_string()
        } else {
            chosen.entry.description.clone()
        };
        let new = NewExam {
            id: id.clone(),
            site: self.config.site.clone(),
            uploaded_by: format!("dicom:{}", arrival.calling_ae),
            filename: format!(
                "{description} ({} images from {})",
                chosen.entry.instances, arrival.calling_ae
            ),
            format: None,
            model: self.default_model.clone(),
        };
        let record = DicomExam {
            exam_id: id.clone(),
            study_uid: arrival.study_uid.clone(),
            calling_ae: arrival.calling_ae.clone(),
            chosen_series: Some(chosen.entry.uid.clone()),
            series: series.iter().map(|s| s.entry.clone()).collect(),
        };
        let listed: Vec<String> = series
            .iter()
            .map(|s| {
                format!(
                    "{} ({}, {}, {} images{})",
                    s.entry.description,
                    s.entry.plane,
                    s.entry.uid,
                    s.entry.instances,
                    if s.entry.chosen { ", analysed" } else { "" }
                )
            })
            .collect();
        let detail = match self.containment.probe(&upload).await {
            Ok(probe) => {
                let new = NewExam {
                    format: Some(probe.format),
                    ..new
                };
                self.store
                    .insert_exam(&new, self.max_attempts)
                    .await
                    .map_err(|e| e.to_string())?;
                self.wake.notify_one();
                format!("study from {}: {}", arrival.calling_ae, listed.join("; "))
            }
            Err(e) => {
                let reason = e
                    .to_string()
                    .replace(&upload.display().to_string(), "upload");
                self.store
                    .insert_failed_exam(&new, &reason)
                    .await
                    .map_err(|e| e.to_string())?;
                format!("study from {} refused: {reason}", arrival.calling_ae)
            }
        };
        self.store
            .insert_dicom_exam(&record, &self.config.destinations)
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .audit(AuditEntry {
                actor: format!("dicom:{}", arrival.calling_ae),
                action: "receive".into(),
                exam_id: Some(id),
                detail: Some(detail),
                ..AuditEntry::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(description: &str, sagittal: bool, instances: usize) -> FoundSeries {
        FoundSeries {
            entry: SeriesEntry {
                uid: description.into(),
                description: description.into(),
                plane: if sagittal { "sagittal" } else { "axial" }.into(),
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
