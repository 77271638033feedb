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

    /// The rates of 15 steps (5 epochs of 3 steps from 0.01), as PyTorch 2.15's schedulers give
    /// them (`tests/schedules_reference.py`).
    const PYTORCH_STEP: [f64; 15] = [
        0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005, 0.005, 0.005, 0.0025,
        0.0025, 0.0025,
    ];
    const PYTORCH_COSINE: [f64; 15] = [
        0.01,
        0.009891830623632338,
        0.009572050015330872,
        0.009054634122155989,
        0.008362196501476347,
        0.007525,
        0.00657963412215599,
        0.005567415893174886,
        0.0045325841068251166,
        0.0035203658778440107,
        0.002575000000000001,
        0.0017378034985236534,
        0.0010453658778440105,
        0.0005279499846691251,
        0.00020816937636766183,
    ];
    const PYTORCH_EXPONENTIAL: [f64; 15] = [
        0.01,
        0.007937005259840998,
        0.006299605249474367,
        0.005000000000000002,
        0.003968502629920501,
        0.003149802624737185,
        0.002500000000000002,
        0.001984251314960251,
        0.0015749013123685927,
        0.0012500000000000011,
        0.0009921256574801256,
        0.0007874506561842965,
        0.0006250000000000007,
        0.0004960628287400629,
        0.0003937253280921484,
    ];

    #[test]
    fn every_schedule_follows_pytorch_over_the_whole_run() {
        for (kind, expected) in [
            (Schedule::Constant, [0.01; 15]),
            (Schedule::Step, PYTORCH_STEP),
            (Schedule::Cosine, PYTORCH_COSINE),
            (Schedule::Exponential, PYTORCH_EXPONENTIAL),
        ] {
            let config = ScheduleConfig {
                kind,
                step_epochs: 2,
                gamma: 0.5,
                min_lr: 1e-4,
                ..ScheduleConfig::default()
            };
            let mut s = scheduler(0.01, &config, 5, 3, Default::default()).unwrap();
            for (step, want) in expected.iter().enumerate() {
                let got = s.step().base();
                assert!(
                    (got - want).abs() <= 1e-12 + 1e-9 * want,
                    "{kind:?} step {step}: {got} vs PyTorch {want}"
                );
            }
        }
    }

    #[test]
    fn plateau_follows_pytorch_epoch_by_epoch() {
        let p = PlateauLr {
            initial: 0.01,
            factor: 0.3,
            patience: 1,
            min_lr: 1e-4,
            history: Default::default(),
        };
        let losses = [
            1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1,
        ];
        // PyTorch's ReduceLROnPlateau(factor 0.3, patience 1, threshold 1e-4, min_lr 1e-4).
        let pytorch = [
            0.01, 0.01, 0.01, 0.003, 0.003, 0.003, 0.003, 0.0009, 0.0009, 0.00027, 0.00027, 0.0001,
        ];
        for (epoch, want) in pytorch.iter().enumerate() {
            let got = p.rate_after(losses[..=epoch].iter().copied());
            assert!(
                (got - want).abs() < 1e-12,
                "epoch {}: {got} vs PyTorch {want}",
                epoch + 1
            );
        }
    }
}
