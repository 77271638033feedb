//! A reading's findings informed by each other: per finding, a logistic regression over the
//! probabilities of every finding of the reading (its own first), fitted on exams none of the
//! models trained on (`cruciate reading --fit-on valid`).
//!
//! Why: each finding's model is trained alone, yet the findings are not independent (an ACL
//! tear or a meniscal tear makes a knee abnormal; a complete ACL tear often comes with a
//! meniscal tear), and MRNet's own labels carry that structure. Stacking the findings' calls is
//! the usual way to use it (as MRNet's combiner stacks the planes), and a regression learns
//! from held-out exams how much each other finding says, rather than a fixed rule. A study
//! whose reading lacks some finding's probability (no plane read) is combined over the findings
//! it has: a regression is fitted for every set of the other findings.

use cruciate_data::Finding;
use serde::{Deserialize, Serialize};

use super::FindingCall;

/// One finding's regression over a set of the reading's findings:
/// `P = 1 / (1 + exp(-(bias + sum w_i p_i)))`, `p_i` the probabilities of `inputs` in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingWeights {
    /// The finding it answers.
    pub finding: Finding,
    /// The findings whose probabilities it reads: `finding` itself first, then the others.
    pub inputs: Vec<Finding>,
    /// One weight per input.
    pub weights: Vec<f64>,
    /// The intercept.
    pub bias: f64,
}

impl FindingWeights {
    /// The combined probability from the inputs' probabilities, in the order of `inputs`.
    pub fn probability(&self, inputs: &[f64]) -> f64 {
        crate::combined::logistic(&self.weights, self.bias, inputs)
    }
}

/// The regressions of a reading whose findings inform each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcrossFindings {
    /// For each finding, a regression for every set of the other findings (its own always in).
    pub combiners: Vec<FindingWeights>,
    /// The exams they were fitted on, in words.
    pub fitted_on: String,
}

impl AcrossFindings {
    /// The regression answering `finding` from exactly `inputs` (in any order), if fitted.
    pub fn combiner(&self, finding: Finding, inputs: &[Finding]) -> Option<&FindingWeights> {
        self.combiners.iter().find(|c| {
            c.finding == finding
                && c.inputs.len() == inputs.len()
                && inputs.iter().all(|f| c.inputs.contains(f))
        })
    }

    /// Why these regressions cannot be applied to a reading of `findings`, if they cannot: one
    /// that answers or reads a finding the reading lacks, one whose first input is not its own
    /// finding, a weight per input missing, or a number that is not finite (a file edited by
    /// hand).
    pub fn check(&self, findings: &[Finding]) -> Result<(), String> {
        for c in &self.combiners {
            if let Some(stray) = std::iter::once(&c.finding)
                .chain(&c.inputs)
                .find(|f| !findings.contains(f))
            {
                return Err(format!(
                    "its regressions across findings read {stray}, which it does not"
                ));
            }
            if c.inputs.first() != Some(&c.finding) || c.weights.len() != c.inputs.len() {
                return Err(format!(
                    "its regression of {} across findings holds {} weights for the inputs {:?} \
                     (its own finding first)",
                    c.finding,
                    c.weights.len(),
                    c.inputs.iter().map(|f| f.name()).collect::<Vec<_>>()
                ));
            }
            if !c.weights.iter().chain([&c.bias]).all(|w| w.is_finite()) {
                return Err(format!(
                    "its regression of {} across findings holds a weight that is not a number",
                    c.finding
                ));
            }
        }
        Ok(())
    }

    /// Replaces each analysed call's probability by its regression's over every finding
    /// analysed in `calls`, keeping the model's own in `own_probability` and naming the other
    /// findings read in `informed_by`. Each regression reads the models' own probabilities (no
    /// call is informed by an already informed one); a call without a fitted regression for the
    /// findings present keeps its own.
    pub fn apply(&self, calls: &mut [FindingCall]) {
        let own: Vec<(Finding, f64)> = calls
            .iter()
            .filter_map(|c| c.probability.map(|p| (c.finding, p)))
            .collect();
        let present: Vec<Finding> = own.iter().map(|(f, _)| *f).collect();
        for call in calls.iter_mut() {
            let Some(p) = call.probability else { continue };
            let Some(combiner) = self.combiner(call.finding, &present) else {
                continue;
            };
            let inputs: Vec<f64> = combiner
                .inputs
                .iter()
                .map(|f| own.iter().find(|(g, _)| g == f).map_or(0.0, |x| x.1))
                .collect();
            call.own_probability = Some(p);
            call.probability = Some(combiner.probability(&inputs));
            call.informed_by = combiner.inputs[1..].to_vec();
        }
    }
}

/// Every set of inputs a finding's regressions are fitted for: the finding at `target` first,
/// then each subset of the others (largest first), as indices into `findings`.
pub fn input_sets(findings: &[Finding], target: usize) -> Vec<Vec<usize>> {
    let others: Vec<usize> = (0..findings.len()).filter(|&i| i != target).collect();
    let mut sets: Vec<Vec<usize>> = (0..1usize << others.len())
        .map(|mask| {
            std::iter::once(target)
                .chain(
                    others
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| mask & (1 << bit) != 0)
                        .map(|(_, &i)| i),
                )
                .collect()
        })
        .collect();
    sets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::finding::tests::call;

    /// Regressions that cannot be applied are found before a study is read.
    #[test]
    fn regressions_that_do_not_fit_the_reading_are_refused() {
        let weights = |inputs: Vec<Finding>, weights: Vec<f64>| AcrossFindings {
            combiners: vec![FindingWeights {
                finding: Finding::Acl,
                inputs,
                weights,
                bias: 0.0,
            }],
            fitted_on: "valid".into(),
        };
        let both = [Finding::Acl, Finding::Meniscus];
        let good = weights(both.to_vec(), vec![1.0, 2.0]);
        assert_eq!(good.check(&both), Ok(()));
        for (across, why) in [
            (good.clone(), "read meniscus, which it does not"),
            (weights(both.to_vec(), vec![1.0]), "holds 1 weights"),
            (
                weights(vec![Finding::Meniscus, Finding::Acl], vec![1.0, 2.0]),
                "its own finding first",
            ),
            (weights(both.to_vec(), vec![1.0, f64::NAN]), "not a number"),
        ] {
            let findings: &[Finding] = if why.contains("does not") {
                &both[..1]
            } else {
                &both
            };
            let err = across.check(findings).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn every_set_of_the_other_findings_is_listed_with_the_finding_first() {
        let findings = [Finding::Acl, Finding::Abnormal, Finding::Meniscus];
        assert_eq!(
            input_sets(&findings, 1),
            [vec![1, 0, 2], vec![1, 0], vec![1, 2], vec![1]]
        );
        assert_eq!(input_sets(&findings[..1], 0), [vec![0]]);
    }

    /// Each call is replaced by its regression over the findings present, from the models'
    /// own probabilities; a missing finding selects the regression without it.
    #[test]
    fn calls_are_informed_by_the_findings_present() {
        let weights = |finding, inputs: Vec<Finding>, weights: Vec<f64>| FindingWeights {
            finding,
            inputs,
            weights,
            bias: -1.0,
        };
        let across = AcrossFindings {
            combiners: vec![
                weights(
                    Finding::Abnormal,
                    vec![Finding::Abnormal, Finding::Acl, Finding::Meniscus],
                    vec![1.0, 2.0, 3.0],
                ),
                weights(Finding::Abnormal, vec![Finding::Abnormal], vec![2.0]),
                weights(
                    Finding::Acl,
                    vec![Finding::Acl, Finding::Abnormal, Finding::Meniscus],
                    vec![4.0, 0.0, 0.0],
                ),
            ],
            fitted_on: "61 valid exams".into(),
        };
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
        let mut calls = vec![
            call(Finding::Acl, Some(0.5)),
            call(Finding::Abnormal, Some(0.25)),
            call(Finding::Meniscus, Some(0.1)),
        ];
        across.apply(&mut calls);
        // Abnormality from the own 0.25, the ACL's own 0.5 (not its informed value) and 0.1.
        let abnormal = sigmoid(-1.0 + 0.25 + 2.0 * 0.5 + 3.0 * 0.1);
        assert!((calls[1].probability.unwrap() - abnormal).abs() < 1e-12);
        assert_eq!(calls[1].own_probability, Some(0.25));
        assert_eq!(calls[1].informed_by, [Finding::Acl, Finding::Meniscus]);
        assert_eq!(
            calls[1].describe(),
            "abnormal 0.634 (with the ACL tear and the meniscal tear; its own 0.250)"
        );
        assert!((calls[0].probability.unwrap() - sigmoid(1.0)).abs() < 1e-12);
        // No regression for the meniscus: its own call stays.
        assert_eq!(
            (calls[2].probability, calls[2].own_probability),
            (Some(0.1), None)
        );

        // The ACL not analysed: abnormality alone has a regression, the meniscus none.
        let mut partial = vec![
            call(Finding::Acl, None),
            call(Finding::Abnormal, Some(0.25)),
        ];
        across.apply(&mut partial);
        assert!((partial[1].probability.unwrap() - sigmoid(-0.5)).abs() < 1e-12);
        assert!(partial[1].informed_by.is_empty());
        assert_eq!(partial[0].probability, None);
    }
}
