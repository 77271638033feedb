//! A joint network's runs. One backbone with a head per finding is trained on the sum of the
//! findings' losses (`model.findings`); what it learned is then written as one ordinary
//! single-finding run per finding, `RUN/FINDING`, each holding the shared backbone with that
//! finding's head, so that every consumer of runs (evaluate, combine, readings, the service)
//! reads them as it reads any network. The root keeps the joint network (`model.bpk`), its
//! settings, metrics and summary, and has no `run.json` of its own.

use std::io::Write as _;
use std::path::PathBuf;

use cruciate_data::Finding;
use cruciate_models::ExamModel;

use crate::TrainError;
use crate::run::{FinishedRun, RunFiles, write_network};

/// The run of `finding` inside the joint run at `root`.
pub fn finding_run(root: &std::path::Path, finding: Finding) -> PathBuf {
    root.join(finding.name())
}

/// Writes `RUN/FINDING` for each of `findings` (in the order of the network's heads): the
/// network answering that finding alone, its settings and its `run.json`.
pub(crate) fn write_finding_runs(
    files: &RunFiles,
    network: &ExamModel,
    findings: &[Finding],
    finished: &FinishedRun,
) -> Result<(), TrainError> {
    for (head, &finding) in findings.iter().enumerate() {
        let run = RunFiles {
            root: finding_run(&files.root, finding),
        };
        std::fs::create_dir_all(&run.root).map_err(|e| TrainError::io(&run.root, e))?;
        let mut config = finished.request.config.clone();
        config.model = config.model.for_finding(finding);
        let text = config.to_toml();
        cruciate_volume::atomic::write_atomically(&run.config(), |w| w.write_all(text.as_bytes()))
            .map_err(|e| TrainError::io(&run.config(), e))?;
        write_network(&run.model(), &network.answering(2 * head..2 * head + 2))?;
        let mut info = finished.run_info(&run, &config)?;
        info.model.description = format!(
            "{} (the {} head of a joint network of {})",
            info.model.description,
            finding.name(),
            findings
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        info.write(&run.root)?;
    }
    Ok(())
}
