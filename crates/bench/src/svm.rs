//! The speed of the study's chosen system: one SVM fit on 1,000 x 1,024 features, a grid of 20
//! SVM settings x 5 folds on 500 exams x 1,024 features (synthetic vectors of two overlapping
//! classes), and VGG16 feature extraction at 224 x 224 on central slices of phantom exams.

use std::time::Instant;

use cruciate_models::Compute;
use cruciate_svm::{ClassWeight, Gamma, KernelKind, Matrix, ModelSettings, SvcSettings};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::BenchError;

/// The SVM path's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SvmFigures {
    /// One RBF SVM fit with Platt scaling on 1,000 x 1,024, seconds.
    pub one_fit_s: f64,
    /// Settings in the grid.
    pub settings: usize,
    /// Fits in the grid (settings x 5 folds).
    pub fits: usize,
    /// The grid on 500 x 1,024, seconds.
    pub grid_s: f64,
    /// Phantom exams whose features were extracted.
    pub exams: usize,
    /// Their extraction, seconds.
    pub extraction_s: f64,
}

impl SvmFigures {
    /// Exams per second of VGG16 feature extraction.
    pub fn exams_per_s(&self) -> f64 {
        self.exams as f64 / self.extraction_s
    }
}

/// `n` synthetic feature vectors of width `d` in two overlapping classes (one in three is of
/// class 1, shifted on its first 64 features).
fn two_classes(n: usize, d: usize) -> (Matrix, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let labels: Vec<usize> = (0..n).map(|i| usize::from(i % 3 == 0)).collect();
    let values: Vec<f32> = (0..n * d)
        .map(|k| {
            let shift = if labels[k / d] == 1 && k % d < 64 {
                0.5
            } else {
                0.0
            };
            rng.random::<f32>() * 2.0 - 1.0 + shift
        })
        .collect();
    (Matrix::new(n, d, values).expect("finite values"), labels)
}

/// The grid's settings: C from 0.01 to 100, linear and RBF kernels with three gammas.
fn grid() -> Vec<SvcSettings> {
    let mut settings = Vec::new();
    for c in [0.01, 0.1, 1.0, 10.0, 100.0] {
        let kernels = std::iter::once((KernelKind::Linear, Gamma::Scale)).chain(
            [Gamma::Scale, Gamma::Value(1e-4), Gamma::Value(1e-2)].map(|g| (KernelKind::Rbf, g)),
        );
        for (kernel, gamma) in kernels {
            settings.push(SvcSettings {
                kernel,
                c,
                gamma,
                class_weight: ClassWeight::Balanced,
                ..SvcSettings::default()
            });
        }
    }
    settings
}

/// Measures the SVM path, with `exams` phantom exams for the extraction figure.
pub fn run(exams: usize, compute: Compute) -> Result<SvmFigures, BenchError> {
    let (big, big_labels) = two_classes(1000, 1024);
    let start = Instant::now();
    let one = ModelSettings::Svm(SvcSettings {
        class_weight: ClassWeight::Balanced,
        ..SvcSettings::default()
    });
    one.fit(&big, &big_labels, 2)?;
    let one_fit_s = start.elapsed().as_secs_f64();

    let n = 500;
    let (x, labels) = two_classes(n, 1024);
    let settings = grid();
    let start = Instant::now();
    let mut fits = 0;
    for s in &settings {
        let model = ModelSettings::Svm(s.clone());
        for fold in 0..5 {
            let fit: Vec<usize> = (0..n).filter(|i| i % 5 != fold).collect();
            let y: Vec<usize> = fit.iter().map(|&i| labels[i]).collect();
            let m = model.fit(&x.select(&fit), &y, 2)?;
            for i in (0..n).filter(|i| i % 5 == fold) {
                m.probabilities(x.row(i))?;
            }
            fits += 1;
        }
    }
    let grid_s = start.elapsed().as_secs_f64();

    let exams = exams.max(1);
    let volumes = crate::inputs::phantom_exams(exams, 2);
    let extractor = crate::inputs::vgg16_extractor(compute, compute.engine_choice())?;
    extractor.exam_features(&volumes[0])?;
    let start = Instant::now();
    for v in &volumes {
        extractor.exam_features(v)?;
    }
    Ok(SvmFigures {
        one_fit_s,
        settings: settings.len(),
        fits,
        grid_s,
        exams,
        extraction_s: start.elapsed().as_secs_f64(),
    })
}
