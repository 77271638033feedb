//! A training run's progress: Burn's Learner reports to this renderer, which passes each
//! split of each epoch on as a stage of a [`Progress`] (with the running loss as its message).
//! Drawing is the front end's business.

use std::collections::HashMap;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use std::sync::Arc;

use cruciate_infer::Progress;

use crate::logger::names;

/// Burn's training events as [`Progress`] stages.
pub struct ProgressRenderer {
    progress: Arc<dyn Progress>,
    in_stage: bool,
    epoch: usize,
    epochs: usize,
    names: HashMap<String, String>,
}

impl ProgressRenderer {
    /// A renderer reporting to `progress`.
    pub fn new(progress: Arc<dyn Progress>) -> Self {
        Self {
            progress,
            in_stage: false,
            epoch: 0,
            epochs: 0,
            names: HashMap::new(),
        }
    }

    fn show_loss(&self, state: &MetricState) {
        let MetricState::Numeric(entry, _) = state else {
            return;
        };
        let id = format!("{:?}", entry.metric_id);
        if self.names.get(&id).map(String::as_str) == Some(names::LOSS) && self.in_stage {
            self.progress
                .message(&format!("loss {}", entry.serialized_entry.formatted));
        }
    }
}

impl MetricsRendererTraining for ProgressRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.show_loss(&state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.show_loss(&state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for ProgressRenderer {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.show_loss(&state);
    }

    fn on_test_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for ProgressRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.epochs = total_epochs;
        self.epoch = starting_epoch;
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.end_split();
        self.progress.start(
            &format!("epoch {}/{} {split}", self.epoch, self.epochs),
            Some(total_items as u64),
        );
        self.in_stage = true;
    }

    fn update_split(&mut self, items_processed: usize) {
        if self.in_stage {
            self.progress.set(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        if std::mem::take(&mut self.in_stage) {
            self.progress.finish();
        }
    }

    fn end(&mut self) {
        self.end_split();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for ProgressRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.start_split(name, total_items);
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        self.update_split(items_processed);
    }

    fn end_test(&mut self) {
        self.end_split();
    }

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for ProgressRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(
            format!("{:?}", definition.metric_id),
            definition.name.to_string(),
        );
    }
}
