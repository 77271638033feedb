//! The analyser process: a long-lived child of the service (`cruciate analyse`, which only
//! dispatches here) that reads [`Request`]s from its standard input, one JSON line each, and
//! answers each with one [`Reply`] line on its standard output. It opens each model once and
//! keeps it (and, on a GPU, its device) for the jobs after; the service's [`crate::pool`]
//! bounds how many run, limits their memory and time, and restarts them.
//!
//! A fault inside a job (a decoder's panic) becomes that job's [`FailureKind::Internal`]
//! reply; a fault that ends the process (out of its memory allowance, a stack overflow) is
//! seen by the pool from the exit status.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use cruciate_infer::{Classifier, ReadingModel, ReadingRun, Registry};

use crate::job::{Answer, FailureKind, Job, JobError, Reply, Request};
use crate::{analysis, deidentify};

/// A served model, open.
enum OpenModel {
    /// One run.
    Run(Box<dyn Classifier>),
    /// A reading of several findings.
    Reading(ReadingModel),
}

/// Models kept open between jobs, by run folder.
struct OpenModels<'r> {
    registry: &'r Registry,
    open: HashMap<PathBuf, OpenModel>,
}

impl OpenModels<'_> {
    fn get(&mut self, run: &Path) -> Result<&OpenModel, JobError> {
        if !self.open.contains_key(run) {
            let model = match ReadingRun::read(run)? {
                Some(reading) => {
                    OpenModel::Reading(ReadingModel::open(self.registry, run, &reading)?)
                }
                None => OpenModel::Run(self.registry.open_run(run)?),
            };
            self.open.insert(run.to_path_buf(), model);
        }
        Ok(&self.open[run])
    }
}

fn answer(models: &mut OpenModels<'_>, job: &Job) -> Result<Answer, JobError> {
    match job {
        Job::Probe {
            input,
            decoded,
            deidentify,
            gate,
            plane_gates,
        } => analysis::probe(
            input,
            decoded.as_deref(),
            deidentify.as_ref(),
            gate.as_deref(),
            plane_gates,
        )
        .map(Answer::Probed),
        Job::Analyse { run, input, out } => {
            let result = match models.get(run)? {
                OpenModel::Run(model) => analysis::analyse(model.as_ref(), input, out),
                OpenModel::Reading(reading) => {
                    let name = run
                        .file_name()
                        .map_or_else(|| "reading".into(), |n| n.to_string_lossy().into_owned());
                    analysis::reading::analyse(reading, &name, input, out)
                }
            };
            result.map(|r| Answer::Analysed(Box::new(r)))
        }
        Job::Receive {
            input,
            out,
            expected,
            deid,
        } => deidentify::receive_instance(input, expected, deid, out).map(Answer::Received),
    }
}

/// Serves jobs from `input` until it ends, replying on `output`; models come from `registry`.
pub fn serve(
    registry: &Registry,
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    let mut models = OpenModels {
        registry,
        open: HashMap::new(),
    };
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(Request { seq, job }) => {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    answer(&mut models, &job)
                }))
                .unwrap_or_else(|payload| {
                    let what = payload
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| payload.downcast_ref::<&str>().copied())
                        .unwrap_or("unknown cause");
                    Err(JobError::new(
                        FailureKind::Internal,
                        format!("the analysis failed: {what}"),
                    ))
                });
                Reply { seq, outcome }
            }
            Err(e) => Reply {
                seq: 0,
                outcome: Err(JobError::internal(format!("unreadable request: {e}"))),
            },
        };
        let text = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
        writeln!(output, "{text}")?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(input: &str) -> Vec<Reply> {
        let registry = Registry::new();
        let mut out = Vec::new();
        serve(&registry, input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn each_request_gets_one_reply_with_its_number_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.bin");
        std::fs::write(&junk, b"not an exam at all").unwrap();
        let requests = [
            Request {
                seq: 1,
                job: Job::Probe {
                    input: junk.clone(),
                    decoded: None,
                    deidentify: None,
                    gate: None,
                    plane_gates: Vec::new(),
                },
            },
            Request {
                seq: 2,
                job: Job::Analyse {
                    run: dir.path().join("no-run"),
                    input: junk,
                    out: dir.path().join("out"),
                },
            },
        ];
        let input: String = requests
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .chain(["this is not JSON\n".to_string()])
            .collect();
        let replies = replies(&input);
        assert_eq!(replies.len(), 3);
        assert_eq!(replies[0].seq, 1);
        assert_eq!(
            replies[0].outcome.as_ref().unwrap_err().kind,
            FailureKind::BadExam
        );
        assert_eq!(replies[1].seq, 2);
        let model = replies[1].outcome.as_ref().unwrap_err();
        assert_eq!(model.kind, FailureKind::Model, "{model:?}");
        assert_eq!(
            replies[2].outcome.as_ref().unwrap_err().kind,
            FailureKind::Internal
        );
    }
}
