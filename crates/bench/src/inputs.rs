//! What the benchmarks feed their models: phantom exams, zipped DICOM exams and the VGG16
//! feature extractor.

use std::io::Write;
use std::path::Path;

use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use cruciate_data::synth::{Balance, ExamFormat, SynthOptions, synthesize};
use cruciate_engine::EngineChoice;
use cruciate_features::{Extractor, Pool, SliceChoice};
use cruciate_models::Compute;
use cruciate_volume::Volume;

use crate::BenchError;

/// The benchmarks' feature extractor: VGG16 (random weights) on the 8 central slices at
/// 224x224, max-pooled, its backbone on the engine `choice`.
pub fn vgg16_extractor(compute: Compute, choice: EngineChoice) -> Result<Extractor, BenchError> {
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
pub fn phantom_exams(count: usize, seed: u64) -> Vec<Volume> {
    (0..count.max(1))
        .map(|i| generate(&phantom(i, seed)).volume)
        .collect()
}

/// The `i`-th realistic phantom of 32 slices of 256x256 from dataset seed `seed`.
pub fn phantom(i: usize, seed: u64) -> ExamSpec {
    ExamSpec {
        grade: (i % 4) as u8,
        size: 256,
        slices: (32, 32),
        difficulty: Difficulty::Realistic,
        seed: exam_seed(seed, i as u64),
        ..ExamSpec::default()
    }
}

/// `count` synthetic DICOM exams (256x256, 24 to 36 slices) written under `dir`, each zipped in
/// memory as a PACS export would be.
pub fn zipped_exams(dir: &Path, count: usize) -> Result<Vec<Vec<u8>>, BenchError> {
    let options = SynthOptions {
        exams: count,
        seed: 11,
        size: 256,
        slices: (24, 36),
        format: ExamFormat::Dicom,
        balance: Balance::Equal,
        difficulty: Difficulty::Realistic,
        ..SynthOptions::default()
    };
    let manifest = synthesize(dir, &options, &|| {})?;
    manifest
        .rows
        .iter()
        .map(|row| {
            let folder = manifest.resolve(row);
            let mut files: Vec<_> = std::fs::read_dir(&folder)
                .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
                .map_err(BenchError::io(format!("listing {}", folder.display())))?;
            files.sort();
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for file in files {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                zip.start_file(name, zip::write::SimpleFileOptions::default())?;
                let bytes = std::fs::read(&file)
                    .map_err(BenchError::io(format!("reading {}", file.display())))?;
                zip.write_all(&bytes)
                    .map_err(BenchError::io("zipping an exam"))?;
            }
            Ok(zip.finish()?.into_inner())
        })
        .collect()
}
