//! `metrics.jsonl`: one line per finished epoch, written by a Burn metric logger that also
//! serves the epochs of an interrupted run to Burn's checkpoint and early-stopping strategies.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, NumericEntry};

use crate::TrainError;

/// Burn's names of the metrics a run registers.
pub mod names {
    /// Cross entropy (train and valid).
    pub const LOSS: &str = "Loss";
    /// Accuracy in percent (train and valid).
    pub const ACCURACY: &str = "Accuracy";
    /// Injured-vs-healthy AUROC in percent (valid).
    pub const AUROC: &str = "AUROC [Macro]";
    /// The learning rate (train).
    pub const LR: &str = "Learning Rate";
}

pub use cruciate_infer::EpochRecord;

/// The epochs logged so far, shared with the plateau schedule and the run summary.
pub type History = Arc<Mutex<Vec<EpochRecord>>>;

/// Reads `metrics.jsonl`, keeping epochs up to `last_epoch` (the resumed checkpoint) and
/// rewriting the file without the rest.
pub fn resume_history(path: &Path, last_epoch: usize) -> Result<Vec<EpochRecord>, TrainError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    let mut records = Vec::new();
    let mut body = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // A line cut by a kill is the last one and belongs to an epoch being redone.
        let Ok(record) = serde_json::from_str::<EpochRecord>(line) else {
            break;
        };
        if record.epoch > last_epoch {
            break;
        }
        records.push(record);
        // Kept verbatim: the file of a resumed run reads as that of an uninterrupted one.
        body.push_str(line);
        body.push('\n');
    }
    cruciate_volume::atomic::write_atomically(path, |w| w.write_all(body.as_bytes()))
        .map_err(|e| TrainError::io(path, e))?;
    Ok(records)
}

/// The Burn metric logger of a run.
pub struct RunLogger {
    path: PathBuf,
    history: History,
    names: HashMap<String, String>,
    entries: HashMap<(String, usize, bool), Vec<NumericEntry>>,
    /// Whether the valid split's AUC means anything (it holds healthy and injured exams).
    auc_defined: bool,
}

impl RunLogger {
    /// A logger appending to `path`, with `history` already holding the resumed epochs;
    /// without `auc_defined` (a valid split of one side) no AUC is recorded.
    pub fn new(path: PathBuf, history: History, auc_defined: bool) -> Self {
        Self {
            path,
            history,
            names: HashMap::new(),
            entries: HashMap::new(),
            auc_defined,
        }
    }

    fn value(&self, name: &str, epoch: usize, valid: bool) -> Option<f64> {
        aggregate(self.entries.get(&(name.to_string(), epoch, valid))?)
    }

    fn finish_epoch(&mut self, epoch: usize) {
        let lr = self
            .entries
            .get(&(names::LR.to_string(), epoch, false))
            .and_then(|e| e.last())
            .map(NumericEntry::current)
            .unwrap_or(f64::NAN);
        let record = EpochRecord {
            epoch,
            train_loss: self.value(names::LOSS, epoch, false).unwrap_or(f64::NAN),
            train_accuracy: self.value(names::ACCURACY, epoch, false).map(|v| v / 100.0),
            valid_loss: self.value(names::LOSS, epoch, true).unwrap_or(f64::NAN),
            valid_accuracy: self.value(names::ACCURACY, epoch, true).unwrap_or(f64::NAN) / 100.0,
            valid_auc: self
                .value(names::AUROC, epoch, true)
                .filter(|_| self.auc_defined)
                .map(|v| v / 100.0),
            lr,
        };
        tracing::info!(
            "epoch {epoch}: train loss {:.4}, valid loss {:.4}, accuracy {:.3}, AUC {}, lr {:.2e}",
            record.train_loss,
            record.valid_loss,
            record.valid_accuracy,
            record.valid_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
            record.lr
        );
        let line = serde_json::to_string(&record).expect("records serialise") + "\n";
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.sync_data()
            });
        if let Err(e) = written {
            tracing::error!("{}: {e}", self.path.display());
        }
        if let Ok(mut h) = self.history.lock() {
            h.push(record);
        }
    }
}

/// Burn's epoch aggregate: the final value when a metric gives one, else the weighted mean.
fn aggregate(entries: &[NumericEntry]) -> Option<f64> {
    if let Some(NumericEntry::Final(v)) = entries.last() {
        return Some(*v);
    }
    let (sum, n) = entries.iter().fold((0.0, 0usize), |(s, n), e| match e {
        NumericEntry::Value(v) => (s + v, n + 1),
        NumericEntry::Aggregated {
            aggregated_value,
            count,
        } => (s + aggregated_value * *count as f64, n + count),
        NumericEntry::Final(_) => (s, n),
    });
    (n > 0).then(|| sum / n as f64)
}

impl MetricLogger for RunLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let valid = matches!(split, Split::Valid);
        for numeric in update.entries_numeric {
            let Some(entry) = numeric.numeric_entry else {
                continue;
            };
            let id = format!("{:?}", numeric.entry.metric_id);
            let name = self.names.get(&id).cloned().unwrap_or(id);
            self.entries
                .entry((name, epoch, valid))
                .or_default()
                .push(entry);
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        let valid = matches!(split, Split::Valid);
        if let Some(entries) = self.entries.get(&(name.to_string(), epoch, valid)) {
            return Ok(entries.clone());
        }
        // Epochs of the interrupted run, as their final values.
        let history = self.history.lock().map_err(|e| e.to_string())?;
        let Some(r) = history.iter().find(|r| r.epoch == epoch) else {
            return Ok(Vec::new());
        };
        let value = match (name, valid) {
            (names::LOSS, false) => Some(r.train_loss),
            (names::ACCURACY, false) => r.train_accuracy.map(|a| a * 100.0),
            (names::LOSS, true) => Some(r.valid_loss),
            (names::ACCURACY, true) => Some(r.valid_accuracy * 100.0),
            (names::AUROC, true) => r.valid_auc.map(|a| a * 100.0),
            (names::LR, false) => Some(r.lr),
            _ => None,
        };
        Ok(value.map(NumericEntry::Final).into_iter().collect())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.names.insert(
            format!("{:?}", definition.metric_id),
            definition.name.to_string(),
        );
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if matches!(summary.split, Split::Valid) {
            self.finish_epoch(summary.epoch_number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_keeps_epochs_up_to_the_checkpoint_and_drops_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let line = |e: usize| {
            serde_json::to_string(&EpochRecord {
                epoch: e,
                train_loss: 1.0 / e as f64,
                train_accuracy: Some(0.5),
                valid_loss: 0.5,
                valid_accuracy: 0.75,
                valid_auc: Some(0.8),
                lr: 1e-3,
            })
            .unwrap()
        };
        let text = format!(
            "{}\n{}\n{}\n{{\"epoch\": 4, \"tra",
            line(1),
            line(2),
            line(3)
        );
        std::fs::write(&path, text).unwrap();
        let kept = resume_history(&path, 2).unwrap();
        assert_eq!(kept.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        let mut logger = RunLogger::new(path, Arc::new(Mutex::new(kept)), true);
        let auc = logger.read_numeric(names::AUROC, 2, &Split::Valid).unwrap();
        assert!(matches!(auc[..], [NumericEntry::Final(v)] if v == 80.0));
        assert!(
            logger
                .read_numeric(names::LOSS, 3, &Split::Train)
                .unwrap()
                .is_empty()
        );
    }
}
