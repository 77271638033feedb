//! Class counts and stratified splits, deterministic for a seed.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::manifest::Split;

/// The study's grade counts (462 healthy, 88 minor strain, 59 partial, 152 complete).
pub const STUDY_COUNTS: [usize; 4] = [462, 88, 59, 152];

/// `n` labels in the proportions of `weights` (largest remainder), shuffled with `seed`.
pub fn labels_in_proportion(n: usize, weights: &[usize], seed: u64) -> Vec<u8> {
    let total: usize = weights.iter().sum();
    let exact: Vec<f64> = weights
        .iter()
        .map(|&w| n as f64 * w as f64 / total.max(1) as f64)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for &k in order.iter().cycle().take(n - counts.iter().sum::<usize>()) {
        counts[k] += 1;
    }
    let mut labels: Vec<u8> = counts
        .iter()
        .enumerate()
        .flat_map(|(k, &c)| std::iter::repeat_n(k as u8, c))
        .collect();
    labels.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    labels
}

/// The shares of a dataset's exams (or patients) held out of training, split by split, in
/// the order they are drawn (train takes the rest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldOut {
    /// Share for the valid split.
    pub valid: f64,
    /// Share for the test split.
    pub test: f64,
    /// Share for the calib split (0: none; the valid split then sets the gate and the
    /// calibration).
    pub calib: f64,
}

impl HeldOut {
    /// The study's 15 % valid and 15 % test, no calib split.
    pub const STUDY: HeldOut = HeldOut {
        valid: 0.15,
        test: 0.15,
        calib: 0.0,
    };

    /// Each held-out split with its share, in drawing order.
    fn shares(self) -> [(Split, f64); 3] {
        [
            (Split::Valid, self.valid),
            (Split::Test, self.test),
            (Split::Calib, self.calib),
        ]
    }
}

/// A split for each item, stratified by label: within each label, each held-out share
/// (rounded, drawn in the order valid, test, calib while items remain) goes to its split and
/// the rest to train.
pub fn stratified_splits(labels: &[u8], held_out: HeldOut, seed: u64) -> Vec<Split> {
    let mut out = vec![Split::Train; labels.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut classes: Vec<u8> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let mut rest = members.as_slice();
        for (split, share) in held_out.shares() {
            let n = ((members.len() as f64 * share).round() as usize).min(rest.len());
            let (taken, left) = rest.split_at(n);
            taken.iter().for_each(|&i| out[i] = split);
            rest = left;
        }
    }
    out
}

/// A split for each exam, made at patient level (every exam of a patient in one split) and
/// stratified by the patient's highest label; a split asked for (a share above 0) gets at
/// least one patient when there are at least three, so that a small dataset still has
/// something to validate and test on.
pub fn patient_splits(exams: &[(&str, u8)], held_out: HeldOut, seed: u64) -> Vec<Split> {
    // Patients in order of first appearance, each with its highest label.
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut patients: Vec<(&str, u8)> = Vec::new();
    for &(patient, label) in exams {
        let i = *index.entry(patient).or_insert_with(|| {
            patients.push((patient, label));
            patients.len() - 1
        });
        patients[i].1 = patients[i].1.max(label);
    }
    let labels: Vec<u8> = patients.iter().map(|p| p.1).collect();
    let mut splits = stratified_splits(&labels, held_out, seed);
    for (split, fraction) in held_out.shares() {
        let train = splits.iter().filter(|s| **s == Split::Train).count();
        if fraction > 0.0 && train > 1 && patients.len() >= 3 && !splits.contains(&split) {
            // The first training patient of the most common label moves.
            let common = (0..=3u8)
                .max_by_key(|l| {
                    (0..patients.len())
                        .filter(|&i| splits[i] == Split::Train && labels[i] == *l)
                        .count()
                })
                .unwrap_or(0);
            if let Some(i) =
                (0..patients.len()).find(|&i| splits[i] == Split::Train && labels[i] == common)
            {
                splits[i] = split;
            }
        }
    }
    exams
        .iter()
        .map(|(patient, _)| splits[index[patient]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patients_stay_in_one_split_and_small_sets_get_every_split() {
        let exams: Vec<(String, u8)> = (0..40)
            .map(|i| (format!("p{}", i / 2), (i % 4) as u8))
            .collect();
        let refs: Vec<(&str, u8)> = exams.iter().map(|(p, l)| (p.as_str(), *l)).collect();
        let with_calib = HeldOut {
            calib: 0.1,
            ..HeldOut::STUDY
        };
        let splits = patient_splits(&refs, with_calib, 3);
        for pair in splits.chunks(2) {
            assert_eq!(pair[0], pair[1], "a patient's two exams share a split");
        }
        for s in Split::ALL {
            assert!(splits.contains(&s), "{s}");
        }
        let five: Vec<(&str, u8)> = vec![("a", 0), ("b", 2), ("c", 3), ("d", 0), ("e", 2)];
        let splits = patient_splits(&five, HeldOut::STUDY, 0);
        let count = |s| splits.iter().filter(|x| **x == s).count();
        assert_eq!(
            (count(Split::Valid), count(Split::Test)),
            (1, 1),
            "{splits:?}"
        );
        assert_eq!(
            patient_splits(&five, HeldOut::STUDY, 0),
            splits,
            "deterministic"
        );
        assert_eq!(
            patient_splits(
                &five,
                HeldOut {
                    valid: 0.0,
                    test: 0.0,
                    calib: 0.0
                },
                0
            ),
            vec![Split::Train; 5],
            "no split asked for, none made"
        );
    }

    #[test]
    fn study_proportions_are_kept_exactly_when_they_divide() {
        let labels = labels_in_proportion(761, &STUDY_COUNTS, 1);
        let count = |k| labels.iter().filter(|&&l| l == k).count();
        assert_eq!([count(0), count(1), count(2), count(3)], STUDY_COUNTS);
        assert_ne!(
            labels[..20],
            labels_in_proportion(761, &STUDY_COUNTS, 2)[..20]
        );
        assert_eq!(labels, labels_in_proportion(761, &STUDY_COUNTS, 1));
        let small = labels_in_proportion(10, &[1, 1, 1, 1], 3);
        assert_eq!(small.len(), 10);
    }

    #[test]
    fn splits_are_stratified() {
        let labels: Vec<u8> = (0..160).map(|i| (i % 4) as u8).collect();
        let splits = stratified_splits(&labels, HeldOut::STUDY, 9);
        let with_calib = stratified_splits(
            &labels,
            HeldOut {
                calib: 0.1,
                ..HeldOut::STUDY
            },
            9,
        );
        for class in 0..4u8 {
            let of = |splits: &[Split], s| {
                (0..160)
                    .filter(|&i| labels[i] == class && splits[i] == s)
                    .count()
            };
            let counts = |splits: &[Split]| Split::ALL.map(|s| of(splits, s));
            assert_eq!(counts(&splits), [28, 6, 6, 0], "class {class}");
            assert_eq!(counts(&with_calib), [24, 6, 6, 4], "class {class}");
        }
        for (plain, calib) in splits.iter().zip(&with_calib) {
            assert!(
                plain == calib || (*plain == Split::Train && *calib == Split::Calib),
                "a calib split is drawn from the training exams only, the rest unchanged"
            );
        }
    }
}

/// What cannot be measured on the exams of `split` with ACL grades `grades` for `task`, each
/// in a line: injured-vs-healthy AUC (and its curves, sensitivity, specificity) on a split of
/// one side, and a grade's recall and one-vs-rest AUC when the split has none of it. Empty when
/// every figure is defined (or the split is empty).
pub fn undefined_figures(split: crate::Split, grades: &[u8], task: crate::Task) -> Vec<String> {
    let mut out = Vec::new();
    if grades.is_empty() {
        return out;
    }
    let injured = grades.iter().filter(|&&g| g > 0).count();
    if injured == 0 || injured == grades.len() {
        let side = if injured == 0 { "healthy" } else { "injured" };
        out.push(format!(
            "the {split} split holds only {side} exams ({}): injured-vs-healthy AUC, its \
             interval, the ROC and precision-recall curves, sensitivity and specificity are \
             undefined on it",
            grades.len()
        ));
    }
    if task == crate::Task::Grade {
        for (class, name) in task.class_names().iter().enumerate() {
            if !grades.iter().any(|&g| task.class_of(g) == class) {
                out.push(format!(
                    "the {split} split has no {name} exams: that grade's recall and \
                     one-vs-rest AUC are undefined on it"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod undefined_tests {
    use super::undefined_figures;
    use crate::{Split, Task};

    #[test]
    fn a_split_of_one_side_or_missing_grades_is_said_in_words() {
        assert!(undefined_figures(Split::Test, &[0, 1, 2, 3], Task::Grade).is_empty());
        assert!(undefined_figures(Split::Test, &[], Task::Binary).is_empty());
        let healthy = undefined_figures(Split::Valid, &[0, 0, 0], Task::Binary);
        assert_eq!(healthy.len(), 1);
        assert!(healthy[0].starts_with("the valid split holds only healthy exams (3)"));
        let grades = undefined_figures(Split::Test, &[1, 3, 3], Task::Grade);
        assert!(grades[0].contains("only injured exams"), "{grades:?}");
        assert!(grades[1].contains("no healthy exams"), "{grades:?}");
        assert!(grades[2].contains("no partial rupture exams"), "{grades:?}");
    }
}
