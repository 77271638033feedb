//! The one way an exam enters the service, whatever brought it (an HTTP upload, a study the
//! DICOM node assembled): [`ServiceContext::admit`] probes it in an analyser (bounded by the
//! pool, contained), then queues it, wakes a worker and writes the audit row; or, refused,
//! lists it as failed with the reader's reason and removes its files.

use std::path::PathBuf;

use crate::analysis::Probe;
use crate::context::ServiceContext;
use crate::deidentify::DeidentifiedUpload;
use crate::destination::ResultDestination;
use crate::job::{Answer, DeidentifyInto, FailureKind, Job, JobError};
use crate::models::Served;
use crate::store::{AuditEntry, NewExam};

/// The longest exam name kept (the worklist, captions and audit rows show it).
pub const MAX_NAME_CHARS: usize = 120;

/// An exam handed to the service.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The exam's id; its folder (`DATA/exams/ID`) holds `input`.
    pub id: String,
    /// The exam as stored.
    pub input: PathBuf,
    /// What the sender called it.
    pub name: String,
    /// The site it belongs to.
    pub site: String,
    /// Who sent it (a token's name, `dicom:AE`).
    pub submitted_by: String,
    /// The served model to analyse it with.
    pub model: String,
    /// The audit row of its arrival: actor and action set; the exam and detail are filled in.
    pub audit: AuditEntry,
    /// Whether it may still carry the patient's identity (an upload; a study the DICOM node
    /// received was de-identified instance by instance on arrival).
    pub identified: bool,
    /// Where its results go besides the FHIR server (a PACS it was retrieved from by
    /// DICOMweb), queued with the exam.
    pub results_to: Vec<crate::destination::ResultDestination>,
}

/// How an admission ended.
#[derive(Debug)]
pub enum Admission {
    /// Queued for analysis.
    Queued(Probe),
    /// Not an exam the service can read: listed as failed, its files removed.
    Refused(JobError),
}

/// `name` as the service keeps it: control characters dropped, at most [`MAX_NAME_CHARS`]
/// characters (longer names end with an ellipsis), never empty.
pub fn bounded_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() {
        return "upload".into();
    }
    if clean.chars().count() <= MAX_NAME_CHARS {
        return clean.to_string();
    }
    let mut cut: String = clean.chars().take(MAX_NAME_CHARS - 1).collect();
    cut.push('…');
    cut
}

impl ServiceContext {
    /// Probes `submission` and queues it, or lists it as refused. An error means nothing was
    /// recorded and the files are left where they are: the analysers were unavailable (the
    /// sender may try again) or the database failed.
    pub async fn admit(&self, submission: Submission) -> Result<Admission, AdmitError> {
        let name = bounded_name(&submission.name);
        let files = self.exam_files(&submission.id);
        let staged = files.dir.join("deidentified.partial");
        // What an earlier try (a study whose admission is taken up again) left.
        for leftover in [&staged, &files.decoded()] {
            let _ = tokio::fs::remove_dir_all(leftover).await;
        }
        let probe = self
            .analysers
            .run(Job::Probe {
                input: submission.input.clone(),
                decoded: Some(files.decoded()),
                deidentify: submission.identified.then(|| DeidentifyInto {
                    out: staged.clone(),
                    deid: self.deidentification(),
                }),
                gate: match self.models.get(&submission.model).map(|m| &m.what) {
                    Some(Served::Run(info)) => Some(Box::new(cruciate_infer::Gate::for_run(info))),
                    _ => None,
                },
                plane_gates: match self.models.get(&submission.model).map(|m| &m.what) {
                    Some(Served::Reading(reading)) => reading.plane_gates(),
                    _ => Vec::new(),
                },
            })
            .await;
        let exam = NewExam {
            id: submission.id.clone(),
            site: submission.site.clone(),
            uploaded_by: submission.submitted_by.clone(),
            filename: name.clone(),
            format: None,
            model: submission.model.clone(),
            study_uid: None,
            series_description: None,
            scanner: None,
        };
        let audit = |detail: String| AuditEntry {
            exam_id: Some(submission.id.clone()),
            detail: Some(detail),
            ..submission.audit.clone()
        };
        let probe = match probe {
            Ok(Answer::Probed(probe)) => match &probe.deidentified {
                Some(done) => self
                    .keep_deidentified(&submission, done, &staged)
                    .await
                    .map(|()| Answer::Probed(probe)),
                None => Ok(Answer::Probed(probe)),
            },
            other => other,
        };
        match probe {
            Ok(Answer::Probed(probe)) => {
                let exam = NewExam {
                    format: Some(probe.format.to_string()),
                    study_uid: probe.study_uid.clone(),
                    series_description: probe.series_description.clone(),
                    scanner: probe.scanner.clone(),
                    ..exam
                };
                let sends: Vec<String> = submission
                    .results_to
                    .iter()
                    .cloned()
                    .chain(
                        self.config
                            .fhir
                            .endpoint
                            .clone()
                            .map(ResultDestination::Fhir),
                    )
                    .map(|d| d.to_string())
                    .collect();
                self.store
                    .insert_exam_sending(&exam, self.config.max_attempts, &sends)
                    .await?;
                self.wake.notify_one();
                self.store
                    .audit(audit(format!("{name} ({})", probe.format)))
                    .await?;
                Ok(Admission::Queued(probe))
            }
            Ok(other) => Err(AdmitError::Analyser(other.unexpected())),
            Err(e) if e.kind.retry() || e.kind == FailureKind::Internal => {
                for partial in [&staged, &files.decoded()] {
                    let _ = tokio::fs::remove_dir_all(partial).await;
                }
                Err(AdmitError::Analyser(e))
            }
            Err(e) => {
                // The reader names the file by the server's path: the sender knows it by its own.
                let e = e.naming(&submission.input, &name).naming(&staged, &name);
                if let Err(io) = tokio::fs::remove_dir_all(&files.dir).await {
                    tracing::warn!("removing refused exam {}: {io}", submission.id);
                }
                self.store.insert_failed_exam(&exam, &e.message).await?;
                self.store
                    .audit(audit(format!("{name}: refused: {}", e.message)))
                    .await?;
                Ok(Admission::Refused(e))
            }
        }
    }
}

impl ServiceContext {
    /// Replaces an uploaded DICOM exam by its instances de-identified as the DICOM node's are
    /// (`staged`, which becomes `DATA/exams/ID/upload/`), and keeps what they were in the
    /// database only.
    async fn keep_deidentified(
        &self,
        submission: &Submission,
        done: &DeidentifiedUpload,
        staged: &std::path::Path,
    ) -> Result<(), JobError> {
        let files = self.exam_files(&submission.id);
        self.remember(&done.identities)
            .await
            .map_err(JobError::internal)?;
        let io = |e: std::io::Error| JobError::internal(format!("storing the upload: {e}"));
        let original = submission.input.clone();
        if original.is_dir() {
            tokio::fs::remove_dir_all(&original).await.map_err(io)?;
        } else {
            tokio::fs::remove_file(&original).await.map_err(io)?;
        }
        tokio::fs::rename(staged, files.dir.join("upload"))
            .await
            .map_err(io)?;
        if done.skipped > 0 {
            tracing::info!(
                exam = %submission.id,
                "{} of its files were not DICOM instances and were left out",
                done.skipped
            );
        }
        Ok(())
    }
}

/// Why an exam could not be admitted now (nothing was recorded).
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// No analyser could read it now.
    #[error("{0}")]
    Analyser(JobError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_cleaned() {
        assert_eq!(bounded_name("knee.zip"), "knee.zip");
        assert_eq!(bounded_name("a\nb\u{1b}[31m.zip"), "ab[31m.zip");
        assert_eq!(bounded_name("  \t "), "upload");
        let long = bounded_name(&"x".repeat(65_400));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(long.ends_with('…'));
    }
}
