//! C-support vector classification with scikit-learn's `SVC(probability=True)` semantics.
//!
//! The quadratic programme of each two-class problem is solved by LIBSVM's SMO solver
//! (`libsvm-rs`, a line-by-line Rust port of the solver scikit-learn wraps), on a kernel matrix
//! computed here once per fit with dense arithmetic and handed over as LIBSVM's "precomputed"
//! kernel; the solver's sparse kernels would recompute each entry element by element. Four grades
//! are handled one-vs-one (a classifier per pair of grades, as LIBSVM and scikit-learn do), and
//! the pairs' Platt probabilities are coupled into one distribution by LIBSVM's
//! `multiclass_probability` (Wu, Lin and Weng 2004). The predicted class is the most probable
//! one. Prediction is done here, on the stored support vectors, so a saved model does not depend
//! on LIBSVM's model format.

use libsvm_rs::{KernelType, SvmNode, SvmParameter, SvmProblem, SvmType};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::platt::{Platt, folds};
use crate::{ClassWeight, Gamma, Kernel, KernelKind, Matrix, Standardiser, SvmError};

/// The most training rows a fit takes: the kernel matrix of `n` rows holds `n^2` values, and
/// the solver's copy of it 16 bytes each (5,000 rows: about 600 MB in all).
pub const MAX_TRAINING_ROWS: usize = 5_000;

/// How an SVM is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvcSettings {
    /// Linear or RBF.
    pub kernel: KernelKind,
    /// The cost of a training error (larger: a tighter fit).
    pub c: f64,
    /// The RBF width.
    pub gamma: Gamma,
    /// Per-class weights on `c`.
    pub class_weight: ClassWeight,
    /// The solver's stopping tolerance on the KKT conditions (LIBSVM's `-e`).
    pub tolerance: f64,
    /// Seed of the Platt-scaling folds.
    pub seed: u64,
}

impl Default for SvcSettings {
    fn default() -> Self {
        Self {
            kernel: KernelKind::Rbf,
            c: 1.0,
            gamma: Gamma::Scale,
            class_weight: ClassWeight::None,
            tolerance: 1e-3,
            seed: 0,
        }
    }
}

/// One two-class problem of the one-vs-one decomposition: `f(x) > 0` argues for `high`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pair {
    pub(crate) low: usize,
    pub(crate) high: usize,
    /// Indices into the model's support vectors.
    pub(crate) support: Vec<usize>,
    pub(crate) coef: Vec<f64>,
    pub(crate) rho: f64,
    pub(crate) platt: Platt,
}

/// A fitted support vector classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Svc {
    pub(crate) classes: usize,
    pub(crate) standardiser: Standardiser,
    pub(crate) kernel: Kernel,
    /// Standardised support vectors of every pair.
    pub(crate) support: Matrix,
    pub(crate) pairs: Vec<Pair>,
}

/// A two-class solution over training rows: coefficient per support row, and rho.
struct Solution {
    coef: Vec<(usize, f64)>,
    rho: f64,
}

impl Solution {
    fn decision(&self, kernel_row: impl Fn(usize) -> f64) -> f64 {
        self.coef
            .iter()
            .map(|&(r, c)| c * kernel_row(r))
            .sum::<f64>()
            - self.rho
    }
}

/// The kernel matrix of the training rows, `n x n`.
struct Gram<'a> {
    values: &'a [f64],
    n: usize,
}

impl Gram<'_> {
    fn at(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.n + j]
    }

    /// Solves the two-class problem on training rows `rows` (positive where `positive`) with
    /// costs `c_pos` and `c_neg`; `None` when the rows hold one class only.
    fn solve(
        &self,
        rows: &[usize],
        positive: &[bool],
        costs: [f64; 2],
        tolerance: f64,
    ) -> Result<Option<Solution>, SvmError> {
        let pos = positive.iter().filter(|&&p| p).count();
        if pos == 0 || pos == rows.len() {
            return Ok(None);
        }
        let instances = rows
            .iter()
            .enumerate()
            .map(|(a, &ra)| {
                std::iter::once(SvmNode {
                    index: 0,
                    value: (a + 1) as f64,
                })
                .chain(rows.iter().enumerate().map(|(b, &rb)| SvmNode {
                    index: (b + 1) as i32,
                    value: self.at(ra, rb),
                }))
                .collect()
            })
            .collect();
        let problem = SvmProblem {
            labels: positive
                .iter()
                .map(|&p| if p { 1.0 } else { -1.0 })
                .collect(),
            instances,
        };
        let param = SvmParameter {
            svm_type: SvmType::CSvc,
            kernel_type: KernelType::Precomputed,
            c: 1.0,
            weight: vec![(1, costs[0]), (-1, costs[1])],
            eps: tolerance,
            shrinking: true,
            probability: false,
            ..SvmParameter::default()
        };
        libsvm_rs::check_parameter(&problem, &param)
            .map_err(|e| SvmError::Setting(e.to_string()))?;
        let model = libsvm_rs::train::svm_train(&problem, &param);
        // LIBSVM's decision value argues for its first label.
        let sign = if model.label.first() == Some(&1) {
            1.0
        } else {
            -1.0
        };
        let coef = model
            .sv_indices
            .iter()
            .zip(&model.sv_coef[0])
            .map(|(&i, &c)| (rows[i - 1], sign * c))
            .collect();
        Ok(Some(Solution {
            coef,
            rho: sign * model.rho[0],
        }))
    }
}

impl Svc {
    /// Fits on rows `x` with class labels `y` (each below `classes`).
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        classes: usize,
        settings: &SvcSettings,
    ) -> Result<Self, SvmError> {
        let present = check_training(x, y, classes)?;
        if x.rows() > MAX_TRAINING_ROWS {
            return Err(SvmError::Data(format!(
                "{} training rows; an SVM fit takes at most {MAX_TRAINING_ROWS}",
                x.rows()
            )));
        }
        positive_cost(settings.c)?;
        let standardiser = Standardiser::fit(x);
        let z = standardiser.apply(x);
        let kernel = Kernel {
            kind: settings.kernel,
            gamma: settings.gamma.resolve(&z),
        };
        let values = kernel.matrix(&z, &z);
        let gram = Gram {
            values: &values,
            n: z.rows(),
        };
        let weights = settings.class_weight.resolve(y, classes);
        if weights.len() != classes || weights.iter().any(|w| !(*w > 0.0 && w.is_finite())) {
            return Err(SvmError::Setting(format!(
                "class weights must be {classes} positive numbers"
            )));
        }
        let pair_list: Vec<(usize, usize)> = present
            .iter()
            .enumerate()
            .flat_map(|(a, &lo)| present[a + 1..].iter().map(move |&hi| (lo, hi)))
            .collect();
        let solved = pair_list
            .par_iter()
            .enumerate()
            .map(|(k, &(lo, hi))| {
                let rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == lo || y[i] == hi).collect();
                let positive: Vec<bool> = rows.iter().map(|&i| y[i] == hi).collect();
                let costs = [settings.c * weights[hi], settings.c * weights[lo]];
                let solution = gram
                    .solve(&rows, &positive, costs, settings.tolerance)?
                    .ok_or_else(|| SvmError::Data("a pair holds one class".into()))?;
                let platt = platt_by_folds(
                    &gram,
                    &rows,
                    &positive,
                    costs,
                    settings,
                    settings.seed.wrapping_add(k as u64),
                )?;
                Ok((lo, hi, solution, platt))
            })
            .collect::<Result<Vec<_>, SvmError>>()?;
        // Support vectors of all pairs, each stored once.
        let mut index_of = vec![usize::MAX; x.rows()];
        let mut kept = Vec::new();
        let pairs = solved
            .into_iter()
            .map(|(low, high, solution, platt)| {
                let support = solution
                    .coef
                    .iter()
                    .map(|&(r, _)| {
                        if index_of[r] == usize::MAX {
                            index_of[r] = kept.len();
                            kept.push(r);
                        }
                        index_of[r]
                    })
                    .collect();
                Pair {
                    low,
                    high,
                    support,
                    coef: solution.coef.iter().map(|&(_, c)| c).collect(),
                    rho: solution.rho,
                    platt,
                }
            })
            .collect();
        Ok(Self {
            classes,
            standardiser,
            kernel,
            support: z.select(&kept),
            pairs,
        })
    }

    /// Checks a model read from a file: every index in range, every number finite.
    pub fn validate(&self) -> Result<(), SvmError> {
        let bad = |what: &str| Err(SvmError::Input(format!("not a valid SVM: {what}")));
        if !self.support.is_consistent() || !self.standardiser.is_consistent() {
            return bad("its support vectors or standardisation are damaged");
        }
        if self.support.cols() != self.standardiser.width() || self.pairs.is_empty() {
            return bad("its parts do not agree");
        }
        if !self.kernel.gamma.is_finite() {
            return bad("its kernel width is not a number");
        }
        for p in &self.pairs {
            let indices_ok = p.support.iter().all(|&s| s < self.support.rows());
            let numbers_ok = p
                .coef
                .iter()
                .chain([&p.rho, &p.platt.a, &p.platt.b])
                .all(|v| v.is_finite());
            if p.low >= p.high
                || p.high >= self.classes
                || p.support.len() != p.coef.len()
                || !indices_ok
                || !numbers_ok
            {
                return bad("a class pair is damaged");
            }
        }
        Ok(())
    }

    /// Classes the model answers for.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Support vectors kept.
    pub fn support_vectors(&self) -> usize {
        self.support.rows()
    }

    /// The kernel with its resolved width.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Feature vector width.
    pub fn width(&self) -> usize {
        self.standardiser.width()
    }

    /// The standardised `row` and its kernel value against every support vector.
    pub(crate) fn kernel_values(&self, row: &[f32]) -> Result<(Vec<f32>, Vec<f64>), SvmError> {
        let z = self.standardiser.standardise(row)?;
        let k = self
            .support
            .iter_rows()
            .map(|s| self.kernel.eval(&z, s))
            .collect();
        Ok((z, k))
    }

    /// Each pair's decision value from the kernel values `k`.
    pub(crate) fn decisions_of(&self, k: &[f64]) -> Vec<f64> {
        self.pairs
            .iter()
            .map(|p| {
                p.support
                    .iter()
                    .zip(&p.coef)
                    .map(|(&s, &c)| c * k[s])
                    .sum::<f64>()
                    - p.rho
            })
            .collect()
    }

    fn decisions(&self, row: &[f32]) -> Result<Vec<f64>, SvmError> {
        Ok(self.decisions_of(&self.kernel_values(row)?.1))
    }

    /// The two-class decision value (`> 0`: class 1), as scikit-learn's `decision_function`;
    /// for more classes, the first pair's.
    pub fn decision_function(&self, row: &[f32]) -> Result<f64, SvmError> {
        Ok(self.decisions(row)?[0])
    }

    /// Class probabilities of `row`, in class order (zero for a class absent from training).
    pub fn probabilities(&self, row: &[f32]) -> Result<Vec<f64>, SvmError> {
        let f = self.decisions(row)?;
        let mut p = vec![0.0; self.classes];
        if let [pair] = self.pairs.as_slice() {
            let high = pair.platt.probability(f[0]);
            p[pair.high] = high;
            p[pair.low] = 1.0 - high;
            return Ok(p);
        }
        let (present, r) = self.pairwise(&f);
        let mut coupled = vec![0.0; present.len()];
        libsvm_rs::probability::multiclass_probability(present.len(), &r, &mut coupled);
        for (c, v) in present.iter().zip(coupled) {
            p[*c] = v;
        }
        Ok(p)
    }

    /// The classes present (sorted) and the pairwise probability matrix `r[i][j]` = P(class
    /// `present[i]` | `present[i]` or `present[j]`) that LIBSVM's coupling reads, from the
    /// decision values `f` (two or more pairs).
    pub(crate) fn pairwise(&self, f: &[f64]) -> (Vec<usize>, Vec<Vec<f64>>) {
        let mut present: Vec<usize> = self.pairs.iter().flat_map(|q| [q.low, q.high]).collect();
        present.sort_unstable();
        present.dedup();
        let at = |c: usize| {
            present
                .iter()
                .position(|&x| x == c)
                .expect("a pair's class")
        };
        let k = present.len();
        let mut r = vec![vec![0.0; k]; k];
        for (pair, &fv) in self.pairs.iter().zip(f) {
            let high = pair.platt.probability(fv).clamp(1e-7, 1.0 - 1e-7);
            r[at(pair.high)][at(pair.low)] = high;
            r[at(pair.low)][at(pair.high)] = 1.0 - high;
        }
        (present, r)
    }
}

/// Platt's sigmoid for one pair, fitted on decision values from five fold models.
fn platt_by_folds(
    gram: &Gram,
    rows: &[usize],
    positive: &[bool],
    costs: [f64; 2],
    settings: &SvcSettings,
    seed: u64,
) -> Result<Platt, SvmError> {
    let fold = folds(rows.len(), seed);
    let mut f = vec![0.0; rows.len()];
    for k in 0..=fold.iter().copied().max().unwrap_or(0) {
        let (train, held): (Vec<usize>, Vec<usize>) = (0..rows.len()).partition(|&a| fold[a] != k);
        let sub_rows: Vec<usize> = train.iter().map(|&a| rows[a]).collect();
        let sub_pos: Vec<bool> = train.iter().map(|&a| positive[a]).collect();
        let solution = gram.solve(&sub_rows, &sub_pos, costs, settings.tolerance)?;
        for a in held {
            f[a] = match &solution {
                Some(s) => s.decision(|r| gram.at(rows[a], r)),
                // One class in the fold's training rows: LIBSVM's convention.
                None if sub_pos.iter().any(|&p| p) => 1.0,
                None if sub_pos.is_empty() => 0.0,
                None => -1.0,
            };
        }
    }
    Ok(Platt::fit(&f, positive))
}

/// A cost `c` that is a positive number.
pub(crate) fn positive_cost(c: f64) -> Result<(), SvmError> {
    if c > 0.0 && c.is_finite() {
        Ok(())
    } else {
        Err(SvmError::Setting(format!("C must be positive, got {c}")))
    }
}

/// The classes present in training, after checking rows and labels agree; at least two.
pub(crate) fn check_training(
    x: &Matrix,
    y: &[usize],
    classes: usize,
) -> Result<Vec<usize>, SvmError> {
    if x.rows() != y.len() {
        return Err(SvmError::Data(format!(
            "{} rows but {} labels",
            x.rows(),
            y.len()
        )));
    }
    if let Some(bad) = y.iter().find(|&&c| c >= classes) {
        return Err(SvmError::Data(format!(
            "label {bad} out of range for {classes} classes"
        )));
    }
    let mut present: Vec<usize> = y.to_vec();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(SvmError::Data(format!(
            "the training rows hold {} class(es); a classifier needs two",
            present.len()
        )));
    }
    Ok(present)
}
