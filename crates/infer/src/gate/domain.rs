//! How unlike the training exams an exam is, in the model's own features.
//!
//! Nearest neighbours in the model's feature space, after Sun, Ming, Zhu and Li ("Out-of-
//! distribution detection with deep nearest neighbors", ICML 2022): each exam's pooled features
//! are standardised by the training exams' mean and spread per feature, and its score is the
//! Euclidean distance to its k-th nearest training exam. Unlike that paper the vectors are not
//! scaled to unit length: the size of the features is what gives an unfamiliar image away here
//! (measured on the bundled demo model, a 10-frame brain MR from the fixtures scored 0.168
//! against a limit of 0.175 on unit vectors, and 30.2 against 7.4 standardised). The limit is
//! the conformal quantile of the held-out in-distribution exams' scores (the validation split):
//! the `ceil((n + 1) share)`-th smallest of `n`, which accepts at least the chosen share (97.5 %)
//! of new exams like them.
//! Written here rather than taken from a crate: it is a sort over one distance per training
//! exam, and no Rust crate offers the method with its calibration.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::InferError;

/// The file in a run folder that holds its reference.
pub const DOMAIN_FILE: &str = "domain.json";

/// The neighbour whose distance is the score.
const K: usize = 5;

/// Training exams kept at most (evenly spaced): a bound on the file and on the cost per exam.
const MAX_KEPT: usize = 2000;

/// The training exams' features and the limit of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainReference {
    /// The neighbour whose distance is the score.
    pub k: usize,
    /// The share of held-out in-distribution exams the limit accepts.
    pub target_share: f64,
    /// The score above which an exam is refused.
    pub limit: f64,
    /// Held-out exams the limit was set on, and how many of them it accepts.
    pub held_out: [usize; 2],
    /// The training exams' mean of each feature.
    pub mean: Vec<f32>,
    /// The training exams' standard deviation of each feature (1 where it is 0).
    pub scale: Vec<f32>,
    /// The training exams' features, standardised.
    pub features: Vec<Vec<f32>>,
}

impl DomainReference {
    /// The reference of training features `train`, its limit set so that `target_share` of
    /// the held-out features `held_out` score at or below it (the training exams themselves,
    /// each left out of its own neighbours, where there are none held out).
    pub fn fit(
        train: &[Vec<f32>],
        held_out: &[Vec<f32>],
        target_share: f64,
    ) -> Result<Self, InferError> {
        let width = train.first().map_or(0, Vec::len);
        if train.len() <= K || width == 0 {
            return Err(InferError::Request(format!(
                "the domain reference needs more than {K} training exams with features (got {})",
                train.len()
            )));
        }
        if train.iter().chain(held_out).any(|f| f.len() != width) {
            return Err(InferError::Request(
                "exams of different feature widths".into(),
            ));
        }
        if train
            .iter()
            .chain(held_out)
            .flatten()
            .any(|x| !x.is_finite())
        {
            return Err(InferError::Request("features that are not finite".into()));
        }
        if !(0.5..1.0).contains(&target_share) {
            return Err(InferError::Request(format!(
                "the accepted share must be within 0.5..1, got {target_share}"
            )));
        }
        let n = train.len() as f64;
        let mean: Vec<f64> = (0..width)
            .map(|j| train.iter().map(|f| f64::from(f[j])).sum::<f64>() / n)
            .collect();
        let scale: Vec<f32> = (0..width)
            .map(|j| {
                let var = train
                    .iter()
                    .map(|f| (f64::from(f[j]) - mean[j]).powi(2))
                    .sum::<f64>()
                    / n;
                if var > 0.0 { var.sqrt() as f32 } else { 1.0 }
            })
            .collect();
        let step = train.len().div_ceil(MAX_KEPT);
        let mut reference = Self {
            k: K,
            target_share,
            limit: f64::INFINITY,
            held_out: [0, 0],
            mean: mean.iter().map(|&m| m as f32).collect(),
            scale,
            features: Vec::new(),
        };
        reference.features = train
            .iter()
            .step_by(step)
            .map(|f| reference.standardised(f))
            .collect();
        let mut scores: Vec<f64> = if held_out.is_empty() {
            (0..reference.features.len())
                .map(|i| reference.distance(&reference.features[i].clone(), Some(i)))
                .collect()
        } else {
            held_out.iter().map(|f| reference.score(f)).collect()
        };
        scores.sort_by(f64::total_cmp);
        // The conformal rank: the ceil((n + 1) share)-th smallest of n held-out scores accepts
        // at least `share` of new exams like them (split conformal prediction), where the
        // plain quantile accepts less on a small validation split (59 of 60 held out meant
        // 93.7 % of 1000 new phantoms for one run).
        let at =
            ((target_share * (scores.len() + 1) as f64).ceil() as usize).clamp(1, scores.len());
        reference.limit = scores[at - 1];
        reference.held_out = [scores.len(), at];
        Ok(reference)
    }

    /// The score of an exam's features: the distance of the standardised vector to its k-th
    /// nearest training exam.
    pub fn score(&self, features: &[f32]) -> f64 {
        if features.len() != self.mean.len() {
            return f64::INFINITY;
        }
        self.distance(&self.standardised(features), None)
    }

    /// `features` standardised by the training exams' statistics.
    fn standardised(&self, features: &[f32]) -> Vec<f32> {
        features
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(x, (m, s))| (x - m) / s)
            .collect()
    }

    /// The k-th smallest distance from unit vector `z` to the training exams, leaving out
    /// exam `skip`.
    fn distance(&self, z: &[f32], skip: Option<usize>) -> f64 {
        let mut d: Vec<f64> = self
            .features
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, t)| {
                t.iter()
                    .zip(z)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        let k = self.k.min(d.len()).max(1);
        let (_, kth, _) = d.select_nth_unstable_by(k - 1, f64::total_cmp);
        *kth
    }

    /// The reference of run folder `run`, when it has one.
    pub fn read(run: &Path) -> Result<Option<Self>, InferError> {
        let path = run.join(DOMAIN_FILE);
        let Some(text) = crate::json_file::read_if_present(&path)? else {
            return Ok(None);
        };
        let reference: Self =
            serde_json::from_str(&text).map_err(|e| InferError::run(&path, e.to_string()))?;
        let width = reference.mean.len();
        if reference.features.len() < reference.k.max(1)
            || !reference.limit.is_finite()
            || reference.scale.len() != width
            || reference.features.iter().any(|f| f.len() != width)
        {
            return Err(InferError::run(&path, "holds no usable reference"));
        }
        Ok(Some(reference))
    }

    /// Writes the reference into run folder `run` (atomically).
    pub fn write(&self, run: &Path) -> Result<(), InferError> {
        crate::json_file::write(&run.join(DOMAIN_FILE), self, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points near the unit vector along axis 0 (in-distribution) in 8 dimensions.
    fn cluster(n: usize, seed: u64) -> Vec<Vec<f32>> {
        let scale = 0.1 / (1u64 << 24) as f32;
        cruciate_testkit::noise(n * 8, seed)
            .chunks_exact(8)
            .map(|c| {
                let mut v: Vec<f32> = c.iter().map(|x| scale * x - 0.05).collect();
                v[0] += 1.0;
                v
            })
            .collect()
    }

    #[test]
    fn held_out_exams_are_accepted_at_the_target_share_and_strangers_refused() {
        let reference = DomainReference::fit(&cluster(200, 1), &cluster(80, 2), 0.975).unwrap();
        // The conformal rank: ceil(81 x 0.975) = 79 of the 80 held-out exams.
        assert_eq!(reference.held_out, [80, 79]);
        let fresh = cluster(400, 3);
        let accepted = fresh
            .iter()
            .filter(|f| reference.score(f) <= reference.limit)
            .count();
        // At least 97.5 % of new exams in expectation; 400 of them land near it (binomial
        // spread of 400 at 97.5 %: 3 exams).
        assert!(accepted >= 375, "{accepted} of 400");
        let mut stranger = vec![0.0f32; 8];
        stranger[3] = 1.0;
        assert!(reference.score(&stranger) > reference.limit);
        // A wrong width never passes.
        assert_eq!(reference.score(&[1.0; 3]), f64::INFINITY);
    }

    #[test]
    fn without_held_out_exams_the_training_exams_set_the_limit_and_it_round_trips() {
        let reference = DomainReference::fit(&cluster(50, 4), &[], 0.9).unwrap();
        assert_eq!(reference.held_out, [50, 46], "ceil(51 x 0.9) = 46");
        let dir = tempfile::tempdir().unwrap();
        reference.write(dir.path()).unwrap();
        assert_eq!(DomainReference::read(dir.path()).unwrap(), Some(reference));
        assert!(DomainReference::fit(&cluster(3, 5), &[], 0.9).is_err());
        assert!(DomainReference::fit(&cluster(50, 5), &[], 1.5).is_err());
    }
}
