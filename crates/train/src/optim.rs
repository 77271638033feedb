//! Optimisers and learning-rate schedules from the run config, built on Burn's.
//!
//! Burn steps a schedule once per optimiser step; epoch-based settings (step every N epochs,
//! decay per epoch, cosine over the run) are converted with the number of steps per epoch.
//! Burn has no ReduceLROnPlateau: [`PlateauLr`] replays the validation losses logged so far,
//! so its state is the run's history and survives a resume without a record of its own.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::TrainError;
use crate::config::{OptimConfig, Optimizer, Schedule, ScheduleConfig};
use crate::logger::History;

/// The optimiser the config names.
pub fn optimizer(config: &OptimConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.optimizer {
        Optimizer::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum(
                (config.momentum > 0.0)
                    .then(|| MomentumConfig::new().with_momentum(config.momentum)),
            )
            .init(),
        Optimizer::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        Optimizer::Adamw => AdamWConfig::new()
            .with_weight_decay(config.weight_decay as f32)
            .init(),
        Optimizer::Rmsprop => RmsPropConfig::new()
            .with_momentum(config.momentum as f32)
            .with_weight_decay(decay)
            .init(),
    }
}

/// The schedule the config names, for `epochs` epochs of `steps_per_epoch` optimiser steps.
pub fn scheduler(
    lr: f64,
    config: &ScheduleConfig,
    epochs: usize,
    steps_per_epoch: usize,
    history: History,
) -> Result<ModuleLrScheduler, TrainError> {
    let steps = steps_per_epoch.max(1);
    let bad = |e: String| TrainError::InvalidConfig(format!("schedule: {e}"));
    match config.kind {
        Schedule::Constant => Ok(lr.into()),
        Schedule::Step => StepLrSchedulerConfig::new(lr, config.step_epochs.max(1) * steps)
            .with_gamma(config.gamma)
            .init()
            .map_err(bad),
        Schedule::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, epochs * steps)
            .with_min_lr(config.min_lr)
            .init()
            .map_err(bad),
        Schedule::Exponential => {
            ExponentialLrSchedulerConfig::new(lr, config.gamma.powf(1.0 / steps as f64))
                .init()
                .map_err(bad)
        }
        Schedule::Plateau => Ok(PlateauLr {
            initial: lr,
            factor: config.factor,
            patience: config.patience,
            min_lr: config.min_lr,
            history,
        }
        .into()),
    }
}

/// ReduceLROnPlateau on the validation loss, as PyTorch's (mode min, relative threshold 1e-4):
/// after more than `patience` epochs without improvement the rate is multiplied by `factor`.
#[derive(Clone)]
pub struct PlateauLr {
    initial: f64,
    factor: f64,
    patience: usize,
    min_lr: f64,
    history: History,
}

impl PlateauLr {
    /// The rate after the validation losses `losses`.
    pub fn rate_after(&self, losses: impl IntoIterator<Item = f64>) -> f64 {
        let (mut lr, mut best, mut bad) = (self.initial, f64::INFINITY, 0);
        for loss in losses {
            if loss < best * (1.0 - 1e-4) {
                best = loss;
                bad = 0;
            } else {
                bad += 1;
            }
            if bad > self.patience {
                lr = (lr * self.factor).max(self.min_lr);
                bad = 0;
            }
        }
        lr
    }
}

impl LrScheduler for PlateauLr {
    fn step(&mut self) -> f64 {
        let losses: Vec<f64> = self
            .history
            .lock()
            .map(|h| h.iter().map(|r| r.valid_loss).collect())
            .unwrap_or_default();
        self.rate_after(losses)
    }

    fn to_record(&self) -> LrSchedulerRecord {
        self.initial.to_record()
    }

    fn load_record(&mut self, _record: LrSchedulerRecord) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_decays_after_patience_like_pytorch() {
        let p = PlateauLr {
            initial: 1.0,
            factor: 0.1,
            patience: 2,
            min_lr: 1e-3,
            history: Default::default(),
        };
        assert_eq!(p.rate_after([1.0, 0.9, 0.8]), 1.0);
        // Three epochs without improvement (> patience 2): one decay.
        assert!((p.rate_after([1.0, 1.0, 1.0, 1.0]) - 0.1).abs() < 1e-12);
        // Never under min_lr.
        assert_eq!(p.rate_after([1.0; 30]), 1e-3);
    }

    #[test]
    fn every_schedule_builds_and_starts_at_the_initial_rate() {
        for kind in [
            Schedule::Constant,
            Schedule::Step,
            Schedule::Cosine,
            Schedule::Exponential,
            Schedule::Plateau,
        ] {
            let config = ScheduleConfig {
                kind,
                ..ScheduleConfig::default()
            };
            let mut s = scheduler(0.01, &config, 5, 10, Default::default()).unwrap();
            let first = s.step().base();
            assert!((first - 0.01).abs() < 1e-12, "{kind:?}: {first}");
        }
    }
}
