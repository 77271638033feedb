//! MRNet's exam-level model of one finding: a network per plane, their probabilities combined
//! by logistic regression (Bien et al. 2018). `combined.json` in a folder of its own names the
//! plane runs and holds the regression's weights.
//!
//! A study may lack a plane (about one in five had no axial structural series in RSNA's 2026
//! knee challenge), so a regression is fitted for every set of planes the runs can form, each on
//! the same held-out exams: a study is combined over the planes it has, and says which.

use std::path::{Path, PathBuf};

use cruciate_data::Finding;
use cruciate_volume::Plane;
use serde::{Deserialize, Serialize};

use crate::InferError;

/// The file in a combined run's folder.
pub const COMBINED_FILE: &str = "combined.json";
/// Format of `combined.json` written by this build.
pub const COMBINED_FORMAT: u32 = 1;

/// One plane's network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaneRun {
    /// The plane it reads.
    pub plane: Plane,
    /// Its run folder, relative to the combined run's folder where it lies below it.
    pub run: PathBuf,
}

/// The logistic regression over one set of planes: `P = 1 / (1 + exp(-(bias + sum w_i p_i)))`,
/// `p_i` the plane networks' positive probabilities in the order of `planes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaneWeights {
    /// The planes combined.
    pub planes: Vec<Plane>,
    /// One weight per plane.
    pub weights: Vec<f64>,
    /// The intercept.
    pub bias: f64,
}

impl PlaneWeights {
    /// The combined probability of the positive class from the planes' probabilities, in the
    /// order of `planes`.
    pub fn probability(&self, plane_probabilities: &[f64]) -> f64 {
        logistic(&self.weights, self.bias, plane_probabilities)
    }
}

/// A logistic regression's probability: `1 / (1 + exp(-(bias + sum w_i x_i)))`.
pub fn logistic(weights: &[f64], bias: f64, inputs: &[f64]) -> f64 {
    let z = bias + weights.iter().zip(inputs).map(|(w, x)| w * x).sum::<f64>();
    1.0 / (1.0 + (-z).exp())
}

/// `combined.json`: a finding read on several planes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinedRun {
    /// [`COMBINED_FORMAT`].
    pub format: u32,
    /// The finding every plane run answers.
    pub finding: Finding,
    /// The plane runs.
    pub runs: Vec<PlaneRun>,
    /// A regression for every non-empty set of the runs' planes, largest first.
    pub combiners: Vec<PlaneWeights>,
    /// The exams the regressions were fitted on, in words.
    pub fitted_on: String,
    /// True when the plane runs were trained on synthetic exams.
    pub synthetic: bool,
}

impl CombinedRun {
    /// The regression over exactly `planes` (in any order), if one was fitted.
    pub fn combiner(&self, planes: &[Plane]) -> Option<&PlaneWeights> {
        self.combiners
            .iter()
            .find(|c| c.planes.len() == planes.len() && planes.iter().all(|p| c.planes.contains(p)))
    }

    /// The combined probability of the planes present (`None` for a plane without a
    /// probability), with the planes used; `None` when no plane has one.
    pub fn probability(&self, by_plane: &[(Plane, Option<f64>)]) -> Option<(f64, Vec<Plane>)> {
        let present: Vec<(Plane, f64)> = by_plane
            .iter()
            .filter_map(|(plane, p)| p.map(|p| (*plane, p)))
            .collect();
        let planes: Vec<Plane> = present.iter().map(|(plane, _)| *plane).collect();
        let combiner = self.combiner(&planes)?;
        let ordered: Vec<f64> = combiner
            .planes
            .iter()
            .map(|plane| {
                present
                    .iter()
                    .find(|(p, _)| p == plane)
                    .map_or(0.0, |x| x.1)
            })
            .collect();
        Some((combiner.probability(&ordered), combiner.planes.clone()))
    }

    /// The folder of plane run `run` for a combined run in folder `dir`.
    pub fn run_folder(dir: &Path, run: &PlaneRun) -> PathBuf {
        resolve(dir, &run.run)
    }

    /// The combined run in folder `dir`, or `None` when it holds no `combined.json`.
    pub fn read(dir: &Path) -> Result<Option<Self>, InferError> {
        crate::json_file::read_versioned(
            &dir.join(COMBINED_FILE),
            |r: &Self| r.format,
            COMBINED_FORMAT,
        )
    }

    /// Writes `combined.json` into folder `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), InferError> {
        crate::json_file::write(&dir.join(COMBINED_FILE), self, true)
    }
}

/// A folder named in a file of folder `dir`: as it is where absolute, else from `dir`, its
/// `..` taken lexically (as the name was made), so that `dir` need not exist yet.
pub fn resolve(dir: &Path, named: &Path) -> PathBuf {
    if named.is_absolute() {
        return named.to_path_buf();
    }
    let mut out = PathBuf::new();
    for part in dir.join(named).components() {
        match part {
            std::path::Component::ParentDir
                if matches!(
                    out.components().next_back(),
                    Some(std::path::Component::Normal(_))
                ) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_folders_resolve_without_the_folder_existing() {
        let knee = Path::new("/nowhere/out/knee");
        assert_eq!(
            resolve(knee, Path::new("../acl")),
            Path::new("/nowhere/out/acl")
        );
        assert_eq!(
            resolve(knee, Path::new("../../runs/acl-sagittal")),
            Path::new("/nowhere/runs/acl-sagittal")
        );
        assert_eq!(resolve(knee, Path::new("/abs/run")), Path::new("/abs/run"));
        assert_eq!(
            resolve(Path::new("out"), Path::new("../../x")),
            Path::new("../x"),
            "a relative folder keeps the parents it cannot take"
        );
    }

    #[test]
    fn a_study_is_combined_over_the_planes_it_has() {
        let both = PlaneWeights {
            planes: vec![Plane::Sagittal, Plane::Coronal],
            weights: vec![2.0, 4.0],
            bias: -3.0,
        };
        let sagittal = PlaneWeights {
            planes: vec![Plane::Sagittal],
            weights: vec![6.0],
            bias: -3.0,
        };
        let run = CombinedRun {
            format: COMBINED_FORMAT,
            finding: Finding::Meniscus,
            runs: Vec::new(),
            combiners: vec![both, sagittal],
            fitted_on: "test".into(),
            synthetic: true,
        };
        // Planes are matched by name, whatever their order.
        let (p, used) = run
            .probability(&[(Plane::Coronal, Some(1.0)), (Plane::Sagittal, Some(0.5))])
            .unwrap();
        assert!((p - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-12);
        assert_eq!(used, [Plane::Sagittal, Plane::Coronal]);
        let (p, used) = run
            .probability(&[(Plane::Sagittal, Some(0.5)), (Plane::Coronal, None)])
            .unwrap();
        assert!((p - 0.5).abs() < 1e-12);
        assert_eq!(used, [Plane::Sagittal]);
        assert!(run.probability(&[(Plane::Axial, Some(0.5))]).is_none());
        let dir = tempfile::tempdir().unwrap();
        run.write(dir.path()).unwrap();
        assert_eq!(CombinedRun::read(dir.path()).unwrap(), Some(run));
    }
}
