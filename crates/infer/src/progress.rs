//! Progress of long jobs (reading a dataset, an epoch, an evaluation) as events that a front
//! end renders as it likes: the command line as progress bars, the service as job status.
//! Libraries report; they never draw.

/// Receives the progress of a job made of stages.
pub trait Progress: Send + Sync {
    /// A stage begins: `label` says what it does, `total` how many steps it has when known.
    fn start(&self, label: &str, total: Option<u64>);
    /// `done` steps of the current stage are finished.
    fn set(&self, done: u64);
    /// A short status for the current stage (a running loss, say).
    fn message(&self, text: &str);
    /// The current stage is over.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _label: &str, _total: Option<u64>) {}
    fn set(&self, _done: u64) {}
    fn message(&self, _text: &str) {}
    fn finish(&self) {}
}
