//! Temperature scaling (Guo, Pleiss, Sun and Weinberger, "On calibration of modern neural
//! networks", ICML 2017): one number `T` divides a network's class scores before the softmax,
//! fitted to minimise the negative log likelihood of held-out exams. The call never changes
//! (dividing by `T > 0` keeps the order); only how sure it says it is.
//!
//! The scores are recovered from the probabilities (`ln p` is the softmax's input up to a
//! constant, which the softmax ignores), so that every consumer applies it to a [`Prediction`]
//! without the model's internals. Written here rather than taken from a crate: the likelihood
//! is convex in `1 / T`, so a golden-section search over one variable finds the minimum, and no
//! Rust crate offers temperature scaling.
//!
//! [`Prediction`]: crate::Prediction

use serde::{Deserialize, Serialize};

use crate::InferError;

/// The range of `1 / T` searched: from much softer to much sharper than the model's own.
const INVERSE_RANGE: (f64, f64) = (0.05, 20.0);

/// Folds of the check that a temperature generalises.
const FOLDS: usize = 5;

/// Confidence bins of the expected calibration error: the check here and every report.
pub const ECE_BINS: usize = 10;

/// A fitted temperature, with what it did on the exams it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    /// `T`: above 1 softens an overconfident model, below 1 sharpens a timid one.
    pub value: f64,
    /// Exams fitted on.
    pub exams: usize,
    /// Their mean negative log likelihood before scaling.
    pub nll_before: f64,
    /// And after.
    pub nll_after: f64,
}

impl Temperature {
    /// The temperature minimising the negative log likelihood of the true classes `actual`
    /// under `probabilities` (one row per exam). An error when the exams do not determine one:
    /// fewer than two per fold, a likelihood that keeps falling to the edge of the range (every
    /// call right, or every one wrong, which no finite temperature fits), or a temperature that
    /// does not generalise: fitted on four fifths of the exams in turn, it must lower the log
    /// loss of the fifth it did not see (a model right on 59 of 60 exams would otherwise be
    /// sharpened until its one error costs more on new exams than the sharpening gains), and
    /// must not raise the expected calibration error of those unseen fifths (a temperature
    /// that trims the log loss while making the confidences stray further from the accuracy
    /// calibrates nothing: measured on the binary demo, 500 exams gave T = 0.69, log loss
    /// 0.0522 -> 0.0512 but calibration error 0.0074 -> 0.0088 on 1000 new exams).
    pub fn fit(probabilities: &[Vec<f64>], actual: &[usize]) -> Result<Self, InferError> {
        check_rows(probabilities, actual)?;
        if probabilities.len() < 2 * FOLDS {
            return Err(InferError::Request(format!(
                "temperature scaling needs at least {} held-out exams",
                2 * FOLDS
            )));
        }
        let nll = |inverse: f64| mean_nll(probabilities, actual, inverse);
        let inverse = best_inverse(probabilities, actual);
        let at_edge = |edge: f64| (inverse.ln() - edge.ln()).abs() < 0.05;
        if at_edge(INVERSE_RANGE.0) || at_edge(INVERSE_RANGE.1) {
            return Err(InferError::Request(format!(
                "the held-out exams fit no temperature (the likelihood keeps improving towards \
                 T = {:.2}): the model calls them all right or all wrong",
                1.0 / inverse
            )));
        }
        let unseen = cross_validated(probabilities, actual);
        let [own, scaled] = unseen.log_loss.map(|s| s / actual.len() as f64);
        if scaled >= own {
            return Err(InferError::Request(format!(
                "a temperature fitted on part of the held-out exams raises the log loss of the \
                 rest ({own:.4} -> {scaled:.4}, {FOLDS}-fold): the model's own probabilities \
                 are kept"
            )));
        }
        let ece = |p: &[Vec<f64>]| {
            cruciate_metrics::expected_calibration_error(p, actual, ECE_BINS).unwrap_or(0.0)
        };
        let (own_ece, scaled_ece) = (ece(&unseen.own), ece(&unseen.scaled));
        if scaled_ece > own_ece {
            return Err(InferError::Request(format!(
                "a temperature fitted on part of the held-out exams raises the calibration error \
                 of the rest ({own_ece:.4} -> {scaled_ece:.4}, {FOLDS}-fold): the model's own \
                 probabilities are kept"
            )));
        }
        Ok(Self {
            value: 1.0 / inverse,
            exams: actual.len(),
            nll_before: nll(1.0),
            nll_after: nll(inverse),
        })
    }

    /// `probabilities` as the model would give them with its scores divided by `T`.
    pub fn scale(&self, probabilities: &[f64]) -> Vec<f64> {
        scaled(probabilities, 1.0 / self.value)
    }
}

/// The `1 / T` minimising the log loss of `probabilities` against `actual`.
fn best_inverse(probabilities: &[Vec<f64>], actual: &[usize]) -> f64 {
    golden_section(
        |inverse| mean_nll(probabilities, actual, inverse),
        INVERSE_RANGE.0.ln(),
        INVERSE_RANGE.1.ln(),
    )
}

/// Each exam as a temperature fitted on the folds without it leaves it (folds by exam index
/// modulo [`FOLDS`]).
struct Unseen {
    /// The log loss of its own probabilities and of the scaled ones, summed over the exams.
    log_loss: [f64; 2],
    /// Its own probabilities, in exam order.
    own: Vec<Vec<f64>>,
    /// Its probabilities under the temperature of the other folds, in exam order.
    scaled: Vec<Vec<f64>>,
}

fn cross_validated(probabilities: &[Vec<f64>], actual: &[usize]) -> Unseen {
    let mut sums = [0.0, 0.0];
    let mut scaled_rows = vec![Vec::new(); actual.len()];
    for fold in 0..FOLDS {
        let (fit, held): (Vec<usize>, Vec<usize>) =
            (0..actual.len()).partition(|i| i % FOLDS != fold);
        let pick = |idx: &[usize]| -> (Vec<Vec<f64>>, Vec<usize>) {
            idx.iter()
                .map(|&i| (probabilities[i].clone(), actual[i]))
                .unzip()
        };
        let (fit_p, fit_a) = pick(&fit);
        let (held_p, held_a) = pick(&held);
        let inverse = best_inverse(&fit_p, &fit_a);
        let n = held.len() as f64;
        sums[0] += n * mean_nll(&held_p, &held_a, 1.0);
        sums[1] += n * mean_nll(&held_p, &held_a, inverse);
        for &i in &held {
            scaled_rows[i] = scaled(&probabilities[i], inverse);
        }
    }
    Unseen {
        log_loss: sums,
        own: probabilities.to_vec(),
        scaled: scaled_rows,
    }
}

/// Checks that there is one true class, in range, per row of probabilities.
pub(super) fn check_rows(probabilities: &[Vec<f64>], actual: &[usize]) -> Result<(), InferError> {
    if probabilities.len() != actual.len() {
        return Err(InferError::Request(format!(
            "{} rows of probabilities for {} true classes",
            probabilities.len(),
            actual.len()
        )));
    }
    match probabilities
        .iter()
        .zip(actual)
        .find(|(p, a)| **a >= p.len() || p.iter().any(|v| !v.is_finite() || *v < 0.0))
    {
        Some((p, a)) => Err(InferError::Request(format!(
            "class {a} against probabilities {p:?}"
        ))),
        None => Ok(()),
    }
}

/// `softmax(inverse * ln p)`: a class with probability 0 keeps 0.
fn scaled(probabilities: &[f64], inverse: f64) -> Vec<f64> {
    let logits: Vec<f64> = probabilities.iter().map(|p| inverse * p.ln()).collect();
    let top = logits
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return probabilities.to_vec();
    }
    let weights: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// The mean negative log likelihood at `1 / T = inverse`, probabilities floored at 1e-15 as
/// scikit-learn's `log_loss`.
fn mean_nll(probabilities: &[Vec<f64>], actual: &[usize], inverse: f64) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(actual)
        .map(|(p, &a)| -scaled(p, inverse)[a].max(1e-15).ln())
        .sum();
    total / actual.len() as f64
}

/// The minimiser of `f(exp(x))` for `x` within `[lo, hi]`, returned as `exp(x)`, for `f`
/// unimodal there.
fn golden_section(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let at = |x: f64| f(x.exp());
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (at(a), at(b));
    for _ in 0..80 {
        if fa <= fb {
            hi = b;
            (b, fb) = (a, fa);
            a = hi - ratio * (hi - lo);
            fa = at(a);
        } else {
            lo = a;
            (a, fa) = (b, fb);
            b = lo + ratio * (hi - lo);
            fb = at(b);
        }
    }
    ((lo + hi) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exams drawn from a calibrated two-class model with scores `s`, then made overconfident
    /// by multiplying the scores by 3: the fitted temperature undoes it.
    #[test]
    fn an_overconfident_model_is_softened_back_by_the_factor_it_was_sharpened() {
        let draws = cruciate_testkit::noise(4000, 7);
        let mut probabilities = Vec::new();
        let mut actual = Vec::new();
        for pair in draws.chunks_exact(2) {
            let unit = |x: f32| f64::from(x) / f64::from(1u32 << 24);
            let s = 6.0 * unit(pair[0]) - 3.0;
            let truth = usize::from(unit(pair[1]) < 1.0 / (1.0 + (-s).exp()));
            let sharp = 1.0 / (1.0 + (-3.0 * s).exp());
            probabilities.push(vec![1.0 - sharp, sharp]);
            actual.push(truth);
        }
        let t = Temperature::fit(&probabilities, &actual).unwrap();
        assert!((t.value - 3.0).abs() < 0.4, "T = {}", t.value);
        assert!(t.nll_after < t.nll_before);
        let softened = t.scale(&[0.1, 0.9]);
        assert!(softened[1] < 0.9 && softened[1] > 0.5, "{softened:?}");
        assert!((softened.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn scaling_keeps_the_order_zeros_and_a_temperature_of_one_changes_nothing() {
        let p = [0.2, 0.0, 0.5, 0.3];
        let one = Temperature {
            value: 1.0,
            exams: 0,
            nll_before: 0.0,
            nll_after: 0.0,
        };
        for (a, b) in one.scale(&p).iter().zip(p) {
            assert!((a - b).abs() < 1e-12);
        }
        let hot = Temperature { value: 4.0, ..one }.scale(&p);
        assert_eq!(hot[1], 0.0);
        assert!(hot[2] > hot[3] && hot[3] > hot[0]);
        assert!(hot[2] < 0.5, "softer: {hot:?}");
    }

    #[test]
    fn exams_all_called_right_fit_no_temperature() {
        let probabilities: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                if i % 2 == 0 {
                    vec![0.9, 0.1]
                } else {
                    vec![0.2, 0.8]
                }
            })
            .collect();
        let actual: Vec<usize> = (0..12).map(|i| i % 2).collect();
        let err = Temperature::fit(&probabilities, &actual).unwrap_err();
        assert!(err.to_string().contains("all right or all wrong"), "{err}");
        let mut wrong = actual.clone();
        wrong[1] = 2;
        let err = Temperature::fit(&probabilities, &wrong).unwrap_err();
        assert!(err.to_string().contains("class 2"), "{err}");
        let err = Temperature::fit(&probabilities[..4], &actual[..4]).unwrap_err();
        assert!(err.to_string().contains("at least 10"), "{err}");
    }

    /// Half the exams called surely and rightly (0.99, every one right), half called 0.6 and
    /// right on 30 of 50: sharpening lowers the log loss of unseen folds (0.3415 -> 0.3387),
    /// but pulls the 0.6 calls away from their accuracy, and the calibration error of the
    /// unseen folds rises (0.005 -> 0.016, computed by hand): no temperature is kept.
    #[test]
    fn a_temperature_that_raises_the_calibration_error_is_refused() {
        let group_two: Vec<usize> = (0..50)
            .map(|j| usize::from((j * 17 + 11) % 50 < 20))
            .collect();
        assert_eq!(group_two.iter().sum::<usize>(), 20);
        let (probabilities, actual): (Vec<Vec<f64>>, Vec<usize>) = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    (vec![0.99, 0.01], 0)
                } else {
                    (vec![0.6, 0.4], group_two[i / 2])
                }
            })
            .unzip();
        let [own, scaled] = cross_validated(&probabilities, &actual)
            .log_loss
            .map(|s| s / 100.0);
        assert!(
            scaled < own,
            "the log loss alone would keep it: {own} -> {scaled}"
        );
        let err = Temperature::fit(&probabilities, &actual).unwrap_err();
        assert!(
            err.to_string().contains("raises the calibration error"),
            "{err}"
        );
    }

    /// 59 of 60 calls right: on all of them a sharper model fits better, but the fold that
    /// holds the error says it does not generalise.
    #[test]
    fn a_temperature_that_does_not_generalise_is_refused() {
        let probabilities: Vec<Vec<f64>> = (0..60).map(|_| vec![0.9, 0.1]).collect();
        let mut actual = vec![0; 60];
        actual[7] = 1;
        let err = Temperature::fit(&probabilities, &actual).unwrap_err();
        assert!(
            err.to_string()
                .contains("the model's own probabilities are kept"),
            "{err}"
        );
    }
}
