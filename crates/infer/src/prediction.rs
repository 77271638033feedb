//! What a classifier says about one exam.

use serde::{Deserialize, Serialize};

/// A classifier's call on one exam, with the slices behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Class names, in class order.
    pub classes: Vec<String>,
    /// Probability of each class.
    pub probabilities: Vec<f64>,
    /// The most probable class (the first of equals).
    pub class: usize,
    /// Its name.
    pub label: String,
    /// Probability of any injury: the sum of the injured classes' probabilities (`1 - P(healthy)`
    /// up to rounding).
    pub injured_probability: f64,
    /// The source slices the model looked at, `[first, end)`.
    pub slices: [usize; 2],
    /// For each class, the source slice (an index from 0) whose own score argues for it most:
    /// the model's per-slice scores, not the heat map, whose largest share is the explanation's
    /// key slice. The first slice seen when the model gives no per-slice scores. Results
    /// written before the name changed call it `key_slices`.
    #[serde(alias = "key_slices")]
    pub strongest_slices: Vec<usize>,
    /// Per slice seen (in order from `slices[0]`), a score per class; higher argues more for
    /// the class. Empty when the model scores the exam only as a whole.
    pub slice_scores: Vec<Vec<f64>>,
    /// The region of the exam the classifier was given, when a localiser (or the manifest's
    /// box) cut it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<cruciate_volume::RoiBox>,
    /// What a reader of the result should know (a region not found, the whole exam classified
    /// instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The input gate's verdict on the exam: accepted, or abstained with its reasons, in which
    /// case no grade is shown for it (see [`gate`](crate::gate)).
    #[serde(default)]
    pub verdict: crate::Verdict,
    /// The model's own probabilities, where the run's calibration changed them (a temperature):
    /// `probabilities` are then the calibrated ones.
    #[serde(
        default,
        rename = "uncalibrated_probabilities",
        skip_serializing_if = "Option::is_none"
    )]
    pub uncalibrated: Option<Vec<f64>>,
    /// The grades that hold the true one for the run's chosen share of exams (conformal
    /// prediction), where the run is calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_set: Option<crate::calibration::GradeSet>,
    /// The numbers the service watches for drift (the input's, the call's, the gate's score);
    /// set by the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<crate::drift::ExamSignals>,
    /// The exam's pooled features in the model's own terms (a network's slice features
    /// averaged over slices, a feature run's vector), for the gate's distance to the training
    /// exams; empty where the model gives none. Not written.
    #[serde(skip)]
    pub features: Vec<f32>,
}

impl Prediction {
    /// The prediction with `probabilities` over `classes`, from a model that looked at source
    /// slices `slices` and scored each of them (`slice_scores`, possibly empty).
    pub fn new(
        classes: Vec<String>,
        probabilities: Vec<f64>,
        slices: [usize; 2],
        slice_scores: Vec<Vec<f64>>,
    ) -> Self {
        let strongest_slices = (0..probabilities.len())
            .map(|c| {
                let column: Vec<f64> = slice_scores
                    .iter()
                    .map(|s| s.get(c).copied().unwrap_or(f64::NEG_INFINITY))
                    .collect();
                slices[0] + first_max(&column)
            })
            .collect();
        let mut prediction = Self {
            label: String::new(),
            injured_probability: 0.0,
            classes,
            probabilities: Vec::new(),
            class: 0,
            slices,
            strongest_slices,
            slice_scores,
            region: None,
            warnings: Vec::new(),
            verdict: crate::Verdict::Accepted,
            uncalibrated: None,
            grade_set: None,
            signals: None,
            features: Vec::new(),
        };
        prediction.set_probabilities(probabilities);
        prediction
    }

    /// Replaces the probabilities (calibrated ones), the call and the injured probability
    /// following them.
    pub fn set_probabilities(&mut self, probabilities: Vec<f64>) {
        self.class = first_max(&probabilities);
        self.label = self.classes.get(self.class).cloned().unwrap_or_default();
        self.injured_probability = probabilities.iter().skip(1).sum();
        self.probabilities = probabilities;
    }

    /// The probability of the call.
    pub fn confidence(&self) -> f64 {
        self.probabilities[self.class]
    }

    /// The same prediction with every slice index moved by `offset` (a classifier that saw a
    /// crop starting at source slice `offset`).
    pub fn shifted(mut self, offset: usize) -> Self {
        self.slices = [self.slices[0] + offset, self.slices[1] + offset];
        self.strongest_slices.iter_mut().for_each(|s| *s += offset);
        self
    }
}

/// Index of the largest value, the first among equals; 0 for an empty slice.
fn first_max(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["healthy".into(), "injured".into()]
    }

    #[test]
    fn the_call_strongest_slices_and_injury_follow_the_scores() {
        let p = Prediction::new(
            names(),
            vec![0.3, 0.7],
            [10, 13],
            vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.9, 0.9]],
        );
        assert_eq!((p.class, p.label.as_str()), (1, "injured"));
        assert!((p.injured_probability - 0.7).abs() < 1e-12);
        assert_eq!(
            p.strongest_slices,
            vec![10, 12],
            "first of equals for class 0"
        );
        let moved = p.shifted(5);
        assert_eq!(moved.slices, [15, 18]);
        assert_eq!(moved.strongest_slices, vec![15, 17]);
    }

    #[test]
    fn ties_go_to_the_first_class_and_missing_slice_scores_to_the_first_slice() {
        let p = Prediction::new(names(), vec![0.5, 0.5], [4, 8], Vec::new());
        assert_eq!(p.class, 0);
        assert_eq!(p.strongest_slices, vec![4, 4]);
        assert_eq!(p.confidence(), 0.5);
    }
}
