//! Conformal grade sets: instead of one grade, the set of grades that holds the true one for a
//! chosen share of exams ("partial or complete, 90 %"), with that share guaranteed on exams like
//! the held-out ones whatever the model.
//!
//! Split conformal prediction with adaptive prediction sets (Romano, Sesia and Candès,
//! "Classification with valid and adaptive coverage", NeurIPS 2020): an exam's score for a
//! grade is the probability of the grades ranked above it plus a uniform share `u` of its own;
//! the threshold is the `ceil((n + 1) coverage)`-th smallest score of the `n` held-out exams'
//! true grades, and an exam's set is the grades, most probable first, whose score stays within
//! it. The randomisation makes the coverage exact rather than conservative (with 4 grades and a
//! model right 9 times in 10, sets that always hold the top grade could never cover only 80 %);
//! it can leave a very sure exam's set empty at a coverage below the model's accuracy ("none
//! needed": its top probability is above the threshold itself). `u` is drawn from the exam's
//! own probabilities by a hash, so that one exam always gets one set. RAPS's penalty on large
//! sets (Angelopoulos et al., 2021) matters for hundreds of classes, not four, and is left out. Written here rather than taken from a crate: no Rust crate implements it,
//! and it is a sort and a quantile.

use serde::{Deserialize, Serialize};

use super::temperature::check_rows;
use crate::InferError;

/// The coverage the sets are shown at unless asked otherwise.
pub const DEFAULT_COVERAGE: f64 = 0.9;

/// Held-out exams needed at least: with fewer, a 95 % set would be every grade.
pub const MIN_EXAMS: usize = 20;

/// The held-out exams' scores, from which the threshold at any coverage follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    /// The coverage sets are shown at.
    pub coverage: f64,
    /// The held-out exams' scores of their true grades, ascending.
    pub scores: Vec<f64>,
}

/// The grades an exam's set holds at a coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeSet {
    /// The classes in the set, most probable first.
    pub classes: Vec<usize>,
    /// Their names.
    pub labels: Vec<String>,
    /// The share of exams whose set holds their true grade.
    pub coverage: f64,
}

impl std::fmt::Display for GradeSet {
    /// "partial or complete, 90 %"; for an empty set, "none needed, 80 % (the call is surer)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent = 100.0 * self.coverage;
        match self.labels.as_slice() {
            [] => write!(f, "none needed, {percent:.0} % (the call is surer)"),
            [one] => write!(f, "{one}, {percent:.0} %"),
            [first @ .., last] => write!(f, "{} or {last}, {percent:.0} %", first.join(", ")),
        }
    }
}

impl Conformal {
    /// The scores of the true classes `actual` under the held-out `probabilities` (calibrated
    /// as every consumer will see them), shown at `coverage`.
    pub fn fit(
        probabilities: &[Vec<f64>],
        actual: &[usize],
        coverage: f64,
    ) -> Result<Self, InferError> {
        check_coverage(coverage)?;
        check_rows(probabilities, actual)?;
        if actual.len() < MIN_EXAMS {
            return Err(InferError::Request(format!(
                "conformal sets need at least {MIN_EXAMS} held-out exams (got {})",
                actual.len()
            )));
        }
        let mut scores: Vec<f64> = probabilities
            .iter()
            .zip(actual)
            .map(|(p, &a)| score(p, a))
            .collect();
        scores.sort_by(f64::total_cmp);
        Ok(Self { coverage, scores })
    }

    /// The threshold at `coverage`; `None` where the held-out exams are too few for it, so
    /// that every grade is in every set.
    pub fn threshold(&self, coverage: f64) -> Option<f64> {
        let n = self.scores.len();
        let rank = ((n + 1) as f64 * coverage).ceil() as usize;
        (1..=n).contains(&rank).then(|| self.scores[rank - 1])
    }

    /// The classes in the set of an exam with `probabilities` at `coverage`, most probable
    /// first.
    pub fn classes(&self, probabilities: &[f64], coverage: f64) -> Vec<usize> {
        let order = ranked(probabilities);
        let Some(threshold) = self.threshold(coverage) else {
            return order;
        };
        let u = draw(probabilities);
        let mut above = 0.0;
        let mut set = Vec::new();
        for class in order {
            if above + u * probabilities[class] > threshold {
                break;
            }
            above += probabilities[class];
            set.push(class);
        }
        set
    }

    /// The set of an exam with `probabilities` at the shown coverage, named by `names`.
    pub fn grade_set(&self, probabilities: &[f64], names: &[String]) -> GradeSet {
        let classes = self.classes(probabilities, self.coverage);
        GradeSet {
            labels: classes
                .iter()
                .map(|&c| names.get(c).cloned().unwrap_or_else(|| c.to_string()))
                .collect(),
            classes,
            coverage: self.coverage,
        }
    }

    /// Checks a reference read from a file.
    pub(super) fn validate(&self) -> Result<(), String> {
        check_coverage(self.coverage).map_err(|e| e.to_string())?;
        if self.scores.len() < MIN_EXAMS
            || self.scores.iter().any(|s| !s.is_finite())
            || self.scores.windows(2).any(|w| w[0] > w[1])
        {
            return Err("conformal scores that are too few, not finite or not sorted".into());
        }
        Ok(())
    }
}

/// A coverage must lie within 0.5..1.
pub fn check_coverage(coverage: f64) -> Result<(), InferError> {
    if (0.5..1.0).contains(&coverage) {
        Ok(())
    } else {
        Err(InferError::Request(format!(
            "the coverage must be within 0.5..1 (for instance 0.9), got {coverage}"
        )))
    }
}

/// The score of `class`: the probability of the classes ranked above it and the exam's share
/// `u` of its own.
fn score(probabilities: &[f64], class: usize) -> f64 {
    let above: f64 = ranked(probabilities)
        .into_iter()
        .take_while(|&c| c != class)
        .map(|c| probabilities[c])
        .sum();
    above + draw(probabilities) * probabilities[class]
}

/// Classes by probability, highest first, the lower class first among equals.
fn ranked(probabilities: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    order
}

/// A uniform draw in (0, 1] fixed by the exam's probabilities (FNV-1a over their bits, then
/// SplitMix64's finaliser).
fn draw(probabilities: &[f64]) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in probabilities {
        for byte in p.to_bits().to_le_bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    ((h >> 11) + 1) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` exams of a calibrated four-grade model: random probabilities, each exam's grade
    /// drawn from its own.
    fn exams(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<usize>) {
        let unit = |x: f32| (f64::from(x) + 0.5) / f64::from(1u32 << 24);
        let draws = cruciate_testkit::noise(n * 5, seed);
        draws
            .chunks_exact(5)
            .map(|d| {
                // Peaked rows, as a model that is mostly sure.
                let w: Vec<f64> = d[..4].iter().map(|&x| unit(x).powi(4)).collect();
                let total: f64 = w.iter().sum();
                let p: Vec<f64> = w.iter().map(|v| v / total).collect();
                let mut left = unit(d[4]);
                let truth = (0..4)
                    .find(|&c| {
                        left -= p[c];
                        left <= 0.0
                    })
                    .unwrap_or(3);
                (p, truth)
            })
            .unzip()
    }

    #[test]
    fn sets_cover_the_asked_share_of_new_exams_at_every_level() {
        let (held_out, truth) = exams(2000, 1);
        let (new, new_truth) = exams(4000, 2);
        let conformal = Conformal::fit(&held_out, &truth, DEFAULT_COVERAGE).unwrap();
        for coverage in [0.8, 0.9, 0.95] {
            let mut hits = 0;
            let mut size = 0;
            for (p, &t) in new.iter().zip(&new_truth) {
                let set = conformal.classes(p, coverage);
                hits += usize::from(set.contains(&t));
                size += set.len();
            }
            let covered = hits as f64 / new.len() as f64;
            // Binomial spread of 4000 exams and the threshold's own from 2000: under 0.02.
            assert!((covered - coverage).abs() < 0.02, "{covered} at {coverage}");
            assert!(size as f64 / new.len() as f64 > 1.0);
        }
    }

    #[test]
    fn sets_grow_with_the_coverage_and_run_from_the_most_probable_grade() {
        let (held_out, truth) = exams(500, 3);
        let conformal = Conformal::fit(&held_out, &truth, 0.9).unwrap();
        let p = [0.05, 0.15, 0.5, 0.3];
        let mut previous = 0;
        for coverage in [0.6, 0.8, 0.9, 0.95, 0.99] {
            let set = conformal.classes(&p, coverage);
            assert!(set.len() >= previous, "{set:?} at {coverage}");
            assert_eq!(set, ranked(&p)[..set.len()].to_vec());
            previous = set.len();
        }
        assert_eq!(
            conformal.classes(&p, 0.9),
            conformal.classes(&p, 0.9),
            "one exam, one set"
        );
    }

    #[test]
    fn too_few_held_out_exams_for_a_level_put_every_grade_in_the_set() {
        let (held_out, truth) = exams(MIN_EXAMS, 4);
        let conformal = Conformal::fit(&held_out, &truth, 0.9).unwrap();
        assert_eq!(conformal.threshold(0.99), None);
        assert_eq!(conformal.classes(&[0.9, 0.1], 0.99), vec![0, 1]);
        let err = Conformal::fit(&held_out[..5], &truth[..5], 0.9).unwrap_err();
        assert!(err.to_string().contains("at least 20"), "{err}");
        assert!(Conformal::fit(&held_out, &truth, 1.0).is_err());
    }

    #[test]
    fn a_set_reads_as_grades_and_its_coverage() {
        let set = |labels: &[&str]| GradeSet {
            classes: (0..labels.len()).collect(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            coverage: 0.9,
        };
        assert_eq!(
            set(&["partial", "complete"]).to_string(),
            "partial or complete, 90 %"
        );
        assert_eq!(
            set(&["healthy", "minor", "partial"]).to_string(),
            "healthy, minor or partial, 90 %"
        );
        assert_eq!(set(&["healthy"]).to_string(), "healthy, 90 %");
        assert_eq!(
            set(&[]).to_string(),
            "none needed, 90 % (the call is surer)"
        );
    }
}
