//! `cruciate bench --svm`: the speed of the study's chosen system. One SVM fit on 1,000 x 1,024
//! features; a grid of 20 SVM settings x 5
//! folds on 500 exams x 1,024 features (synthetic vectors of two overlapping classes), and
//! VGG16 feature extraction at 224 x 224 on central slices of phantom exams, in exams per second.

use std::time::Instant;

use anyhow::Result;
use cruciate_svm::{ClassWeight, Gamma, KernelKind, Matrix, ModelSettings, SvcSettings};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// Runs the SVM benchmark with `exams` phantom exams for the extraction figure.
pub fn run(exams: usize, compute: cruciate_models::Compute, cpu: &str) -> Result<()> {
    println!(
        "cruciate bench --svm on {cpu}, {} CPU threads",
        rayon::current_num_threads()
    );
    let (big, big_labels) = two_classes(1000, 1024);
    let start = Instant::now();
    let one = ModelSettings::Svm(SvcSettings {
        class_weight: ClassWeight::Balanced,
        ..SvcSettings::default()
    });
    one.fit(&big, &big_labels, 2)?;
    println!(
        "one RBF SVM fit with Platt scaling on 1000 x 1024: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let (n, d) = (500, 1024);
    let (x, labels) = two_classes(n, d);
    let mut settings = Vec::new();
    for c in [0.01, 0.1, 1.0, 10.0, 100.0] {
        settings.push((KernelKind::Linear, c, Gamma::Scale));
        for gamma in [Gamma::Scale, Gamma::Value(1e-4), Gamma::Value(1e-2)] {
            settings.push((KernelKind::Rbf, c, gamma));
        }
    }
    let start = Instant::now();
    let mut fits = 0;
    for &(kernel, c, gamma) in &settings {
        let model = ModelSettings::Svm(SvcSettings {
            kernel,
            c,
            gamma,
            class_weight: ClassWeight::Balanced,
            ..SvcSettings::default()
        });
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
    println!(
        "SVM grid: {} settings x 5 folds ({fits} fits with Platt scaling) on {n} x {d}: {:.1} s",
        settings.len(),
        start.elapsed().as_secs_f64()
    );

    let exams = exams.max(1);
    let volumes = super::bench_inputs::phantom_exams(exams, 2);
    let extractor = super::bench_inputs::vgg16_extractor(compute, compute.engine_choice())?;
    extractor.exam_features(&volumes[0])?;
    let start = Instant::now();
    for v in &volumes {
        extractor.exam_features(v)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "VGG16 features, 8 central slices at 224x224: {:.2} exams/s ({exams} phantom exams in {seconds:.1} s)",
        exams as f64 / seconds
    );
    Ok(())
}
