//! Checkpoints of a run: Burn's burnpack records of model, optimiser and schedule per epoch,
//! written atomically, the best and the last epoch kept, and what a resume starts from.

use std::path::{Path, PathBuf};

use burn::train::EarlyStoppingStrategy;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};
use burn::train::metric::store::{Aggregate, Direction, EventStoreClient, Split};
use cruciate_models::checkpoints::model_epochs;

use crate::config::Monitor;
use crate::logger::names;

/// Record kinds saved per epoch, as Burn names their files (`model-3.bpk`).
pub const RECORDS: [&str; 3] = ["model", "optim", "scheduler"];

/// Burn's file checkpointer, but a record is first written to a temporary name and renamed, so
/// that a kill never leaves a half-written checkpoint under a real name.
pub struct AtomicCheckpointer {
    directory: PathBuf,
    name: &'static str,
}

impl AtomicCheckpointer {
    /// Checkpoints named `{name}-{epoch}.bpk` in `directory`.
    pub fn new(directory: &Path, name: &'static str) -> Self {
        Self {
            directory: directory.to_path_buf(),
            name,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        record_path(&self.directory, self.name, epoch)
    }
}

/// Where a record of an epoch lives.
pub fn record_path(directory: &Path, name: &str, epoch: usize) -> PathBuf {
    directory.join(format!("{name}-{epoch}.bpk"))
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let path = self.path(epoch);
        let partial = self
            .directory
            .join(format!(".{}-{epoch}.bpk.partial", self.name));
        record.save(partial.clone())?;
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&partial, &path))
            .map_err(CheckpointerError::IOError)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match std::fs::remove_file(self.path(epoch)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(e))
            }
            _ => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(self.path(epoch))
    }
}

/// Epochs with all three records present, ascending.
pub fn complete_epochs(directory: &Path) -> Vec<usize> {
    model_epochs(directory)
        .into_iter()
        .filter(|&epoch| {
            RECORDS
                .iter()
                .all(|r| record_path(directory, r, epoch).is_file())
        })
        .collect()
}

/// Removes every checkpoint but those of `keep`, and any partial file left by a kill.
pub fn prune(directory: &Path, keep: &[usize]) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let epoch = name
            .split_once('-')
            .and_then(|(_, rest)| rest.strip_suffix(".bpk"))
            .and_then(|e| e.parse::<usize>().ok());
        let stale = name.ends_with(".partial") || epoch.is_some_and(|e| !keep.contains(&e));
        if stale {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Burn's name and direction of the monitored figure.
pub fn monitored(monitor: Monitor) -> (&'static str, Direction) {
    match monitor {
        Monitor::ValidLoss => (names::LOSS, Direction::Lowest),
        Monitor::ValidAuc => (names::AUROC, Direction::Highest),
    }
}

/// Stops when the best epoch of the monitored figure is `patience` epochs old.
///
/// Burn's `MetricEarlyStoppingStrategy` keeps its best value in memory, which a resumed run
/// would lose; this one asks the event store, which answers from the whole run's history.
#[derive(Clone)]
pub struct PatienceStopping {
    monitor: Monitor,
    patience: usize,
}

impl PatienceStopping {
    /// Stop after `patience` epochs without a better `monitor`.
    pub fn new(monitor: Monitor, patience: usize) -> Self {
        Self { monitor, patience }
    }
}

impl EarlyStoppingStrategy for PatienceStopping {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let (name, direction) = monitored(self.monitor);
        match store.find_epoch(name, Aggregate::Mean, direction, &Split::Valid) {
            Some(best) => epoch >= best + self.patience,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_epochs_need_all_three_records_and_prune_keeps_the_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for e in [1, 2, 3] {
            for r in RECORDS {
                std::fs::write(record_path(d, r, e), b"x").unwrap();
            }
        }
        std::fs::write(record_path(d, "model", 4), b"x").unwrap();
        std::fs::write(d.join(".optim-4.bpk.partial"), b"x").unwrap();
        assert_eq!(complete_epochs(d), vec![1, 2, 3]);
        prune(d, &[1, 3]).unwrap();
        assert_eq!(complete_epochs(d), vec![1, 3]);
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 6);
    }
}
