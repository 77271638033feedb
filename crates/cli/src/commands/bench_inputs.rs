//! What the benchmarks (`cruciate bench`, `--svm`) feed their models: phantom exams and the
//! VGG16 feature extractor.

use anyhow::Result;
use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use cruciate_engine::EngineChoice;
use cruciate_features::{Extractor, Pool, SliceChoice};
use cruciate_models::Compute;

/// The benchmarks' feature extractor: VGG16 (random weights) on the 8 central slices at
/// 224x224, max-pooled, its backbone on the engine `choice`.
pub fn vgg16_extractor(compute: Compute, choice: EngineChoice) -> Result<Extractor> {
    Ok(Extractor::new(
        "vgg16",
        None,
        None,
        SliceChoice::Central(8).input(224),
        vec![Pool::Max],
        compute.device(),
    )?
    .with_engine(choice)?)
}

/// `count` (at least one) realistic phantom exams of 32 slices of 256x256, all grades in turn,
/// from dataset seed `seed`.
pub fn phantom_exams(count: usize, seed: u64) -> Vec<cruciate_volume::Volume> {
    (0..count.max(1))
        .map(|i| {
            generate(&ExamSpec {
                grade: (i % 4) as u8,
                size: 256,
                slices: (32, 32),
                difficulty: Difficulty::Realistic,
                seed: exam_seed(seed, i as u64),
            })
            .volume
        })
        .collect()
}
