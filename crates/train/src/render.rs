//! Progress bars for a training run: Burn's Learner reports to this renderer, which shows one
//! indicatif bar per split with the running loss and an ETA (hidden when stderr is not a terminal).

use std::collections::HashMap;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::logger::names;

/// Indicatif bars for Burn's training events.
pub struct BarRenderer {
    bar: Option<ProgressBar>,
    epoch: usize,
    epochs: usize,
    split: String,
    names: HashMap<String, String>,
}

impl BarRenderer {
    /// A renderer drawing on stderr.
    pub fn new() -> Self {
        Self {
            bar: None,
            epoch: 0,
            epochs: 0,
            split: String::new(),
            names: HashMap::new(),
        }
    }

    fn show_loss(&self, state: &MetricState) {
        let MetricState::Numeric(entry, _) = state else {
            return;
        };
        let id = format!("{:?}", entry.metric_id);
        if self.names.get(&id).map(String::as_str) == Some(names::LOSS)
            && let Some(bar) = &self.bar
        {
            bar.set_message(format!("loss {}", entry.serialized_entry.formatted));
        }
    }
}

impl Default for BarRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRendererTraining for BarRenderer {
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

impl MetricsRendererEvaluation for BarRenderer {
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

impl TrainingProgressLogger for BarRenderer {
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
        self.split = split.to_string();
        let bar =
            ProgressBar::with_draw_target(Some(total_items as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} exams {msg} (ETA {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!(
            "epoch {}/{} {}",
            self.epoch, self.epochs, self.split
        ));
        self.bar = Some(bar);
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn end(&mut self) {
        self.end_split();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for BarRenderer {
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

impl MetricsRenderer for BarRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(
            format!("{:?}", definition.metric_id),
            definition.name.to_string(),
        );
    }
}
