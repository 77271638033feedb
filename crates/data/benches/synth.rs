//! Phantom generation speed: exams of 256x256x32 per second on all cores.
//!
//! `cargo bench -p cruciate-data --bench synth` (add `-- N` for N exams, default 40). Figures
//! are printed, not asserted: timing goals live here, never in tests.

use std::time::Instant;

use cruciate_data::phantom::{Difficulty, ExamSpec, exam_seed, generate};
use rayon::prelude::*;

fn main() {
    let exams: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(40);
    let specs: Vec<ExamSpec> = (0..exams)
        .map(|i| ExamSpec {
            grade: (i % 4) as u8,
            size: 256,
            slices: (32, 32),
            difficulty: Difficulty::Realistic,
            seed: exam_seed(1, i as u64),
        })
        .collect();
    let start = Instant::now();
    let voxels: usize = specs
        .par_iter()
        .map(|s| generate(s).volume.data.len())
        .sum();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "synth: {exams} exams of 256x256x32 in {seconds:.2} s on {} threads: {:.1} exams/s ({:.1} Mvoxel/s)",
        rayon::current_num_threads(),
        exams as f64 / seconds,
        voxels as f64 / seconds / 1e6
    );
}
