//! The whole knee read at once: several findings (abnormality, the ACL, the menisci), each by
//! its own model (one plane's run or MRNet's combined run of three planes), from one study read
//! once. `reading.json` in a folder of its own names each finding's model folder; MRNet's
//! recipe (`cruciate reproduce mrnet`) writes one over its three combined runs, and
//! `cruciate reading` assembles one from any runs.

mod across;
mod finding;

use std::path::{Path, PathBuf};

use cruciate_data::Finding;
use cruciate_volume::{Plane, Study};
use serde::{Deserialize, Serialize};

pub use across::{AcrossFindings, FindingWeights, input_sets};
pub use finding::{
    FindingCall, FindingModel, PlaneCall, PlaneReading, keep_abnormality_consistent,
};

use crate::{CombinedRun, ExplainRequest, InferError, Registry};

/// The file in a reading's folder.
pub const READING_FILE: &str = "reading.json";
/// Format of `reading.json` this build reads and writes for a reading whose findings inform
/// each other; one without is written as format 1, which earlier builds read.
pub const READING_FORMAT: u32 = 2;

/// The finding whose network a reading's drift is watched on, by its place in `findings`: the
/// ACL (the study's finding) where the reading has it, else the first. Its first plane's
/// network gives the reference (its run's `drift.json`) and each exam's signals.
pub fn drift_finding(findings: &[Finding]) -> Option<usize> {
    findings
        .iter()
        .position(|f| *f == Finding::Acl)
        .or((!findings.is_empty()).then_some(0))
}

/// One finding of a reading and the folder of its model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingEntry {
    /// The finding.
    pub finding: Finding,
    /// A run or combined run folder, relative to the reading's folder where it lies below it.
    pub run: PathBuf,
}

/// `reading.json`: the findings read together and their models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingRun {
    /// [`READING_FORMAT`].
    pub format: u32,
    /// One entry per finding, in the order they are reported.
    pub findings: Vec<FindingEntry>,
    /// The regressions by which the findings inform each other, where fitted (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub across: Option<AcrossFindings>,
}

impl ReadingRun {
    /// A reading of `findings`, informed by each other where `across` is given, in the oldest
    /// format that holds it.
    pub fn new(findings: Vec<FindingEntry>, across: Option<AcrossFindings>) -> Self {
        Self {
            format: if across.is_some() { READING_FORMAT } else { 1 },
            findings,
            across,
        }
    }

    /// The reading in folder `dir`, or `None` when it holds no `reading.json`.
    pub fn read(dir: &Path) -> Result<Option<Self>, InferError> {
        crate::json_file::read_versioned(
            &dir.join(READING_FILE),
            |r: &Self| r.format,
            READING_FORMAT,
        )
    }

    /// Each finding's plane runs, as folders: `(finding, plane, run folder)` in the reading's
    /// order (a one-plane finding's run is its own), read from their files without opening a
    /// model.
    pub fn plane_runs(&self, dir: &Path) -> Result<Vec<(Finding, Plane, PathBuf)>, InferError> {
        let mut out = Vec::new();
        for entry in &self.findings {
            let folder = crate::combined::resolve(dir, &entry.run);
            match CombinedRun::read(&folder)? {
                Some(run) => out.extend(
                    run.runs
                        .iter()
                        .map(|p| (entry.finding, p.plane, CombinedRun::run_folder(&folder, p))),
                ),
                None => {
                    let info = crate::RunInfo::read(&folder)?.ok_or_else(|| {
                        InferError::run(&folder, "holds neither run.json nor combined.json")
                    })?;
                    out.push((entry.finding, info.plane(), folder));
                }
            }
        }
        Ok(out)
    }

    /// Writes `reading.json` into folder `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), InferError> {
        crate::json_file::write(&dir.join(READING_FILE), self, true)
    }
}

/// A reading's models, opened.
pub struct ReadingModel {
    models: Vec<FindingModel>,
    across: Option<AcrossFindings>,
}

/// What a study says about each finding of a reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamReading {
    /// One call per finding, in the reading's order.
    pub findings: Vec<FindingCall>,
    /// True when any model was trained on synthetic exams.
    pub synthetic_model: bool,
    /// What the results are for ("Synthetic phantoms ...", "Research model ...").
    pub notice: String,
}

impl ReadingModel {
    /// Opens the reading `run` in folder `dir`: each finding's model, checked to answer it,
    /// each finding once.
    pub fn open(registry: &Registry, dir: &Path, run: &ReadingRun) -> Result<Self, InferError> {
        if run.findings.is_empty() {
            return Err(InferError::run(dir, "a reading of no findings"));
        }
        let mut models = Vec::new();
        for (i, entry) in run.findings.iter().enumerate() {
            if run.findings[..i].iter().any(|e| e.finding == entry.finding) {
                return Err(InferError::run(
                    dir,
                    format!("{} is read twice: one model per finding", entry.finding),
                ));
            }
            let folder = crate::combined::resolve(dir, &entry.run);
            let model = FindingModel::open(registry, &folder)?;
            if model.finding() != entry.finding {
                return Err(InferError::run(
                    &folder,
                    format!(
                        "answers {} where the reading expects {}",
                        model.finding(),
                        entry.finding
                    ),
                ));
            }
            models.push(model);
        }
        if let Some(across) = &run.across {
            let findings: Vec<Finding> = run.findings.iter().map(|e| e.finding).collect();
            across
                .check(&findings)
                .map_err(|why| InferError::run(dir, why))?;
        }
        Ok(Self {
            models,
            across: run.across.clone(),
        })
    }

    /// The findings, in order.
    pub fn findings(&self) -> Vec<Finding> {
        self.models.iter().map(FindingModel::finding).collect()
    }

    /// Each finding's model.
    pub fn models(&self) -> &[FindingModel] {
        &self.models
    }

    /// Each finding's model, owned.
    pub fn into_models(self) -> Vec<FindingModel> {
        self.models
    }

    /// True when any model was trained on synthetic exams.
    pub fn synthetic(&self) -> bool {
        self.models.iter().any(FindingModel::synthetic)
    }

    /// The regressions by which its findings inform each other, where fitted.
    pub fn across(&self) -> Option<&AcrossFindings> {
        self.across.as_ref()
    }

    /// Reads every finding from `study`.
    pub fn read(&self, study: &Study) -> Result<ExamReading, InferError> {
        self.read_shown(study, None).map(|(reading, _)| reading)
    }

    /// Each finding's own model's call on `study`, as the models give them: no regression
    /// across findings, abnormality not raised (what those regressions are fitted on).
    pub fn read_own(&self, study: &Study) -> Result<Vec<FindingCall>, InferError> {
        self.models.iter().map(|m| m.read(study)).collect()
    }

    /// Finishes the models' own calls (from [`ReadingModel::read_own`]) as the reading does:
    /// the regressions `across` applied (the reading's own are [`ReadingModel::across`]), then
    /// abnormality kept at least as likely as a tear it includes.
    pub fn finish(calls: &mut [FindingCall], across: Option<&AcrossFindings>) {
        if let Some(across) = across {
            across.apply(calls);
        }
        keep_abnormality_consistent(calls);
    }

    /// As [`ReadingModel::read`], with what each finding's plane networks read kept for
    /// showing it (see [`FindingModel::read_shown`]), in the order of the findings.
    pub fn read_shown(
        &self,
        study: &Study,
        explain: Option<&ExplainRequest>,
    ) -> Result<(ExamReading, Vec<Vec<PlaneReading>>), InferError> {
        let mut findings = Vec::new();
        let mut shown = Vec::new();
        for model in &self.models {
            let (call, planes) = model.read_shown(study, explain)?;
            findings.push(call);
            shown.push(planes);
        }
        Self::finish(&mut findings, self.across.as_ref());
        let synthetic = self.synthetic();
        let reading = ExamReading {
            findings,
            synthetic_model: synthetic,
            notice: crate::run::model_notice(synthetic).to_string(),
        };
        Ok((reading, shown))
    }
}
