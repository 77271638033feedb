//! Trains a model on synthetic knee phantoms and measures its injured-vs-healthy AUC on a
//! separately generated held-out set (issue 4's target: AUC >= 0.95 with 400 training and 200
//! held-out exams). Synthetic data: the figures say nothing about clinical performance.
//!
//! ```text
//! cargo run --release -p cruciate-train --example phantom_auc -- \
//!     --model small --train-exams 400 --test-exams 200 --out target/phantom-auc \
//!     [--exam-size 256] [--exam-slices 30] [--seed 1] [--set key=value ...]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use cruciate_train::phantom_study::{PhantomStudy, run_phantom_study};

fn main() {
    let mut study = PhantomStudy::default();
    let mut out = PathBuf::from("target/phantom-auc");
    let mut overrides = Vec::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [key, value] = pair else {
            eprintln!("phantom_auc: expected --key value pairs");
            std::process::exit(2);
        };
        let number = || {
            value.parse::<usize>().unwrap_or_else(|_| {
                eprintln!("phantom_auc: {key} needs a whole number");
                std::process::exit(2)
            })
        };
        match key.as_str() {
            "--model" => study.model = value.clone(),
            "--train-exams" => study.train_exams = number(),
            "--test-exams" => study.test_exams = number(),
            "--seed" => study.seed = number() as u64,
            "--exam-size" => study.exam_size = number(),
            "--exam-slices" => study.exam_slices = (number(), number()),
            "--out" => out = PathBuf::from(value),
            "--set" => overrides.push(value.clone()),
            _ => {
                eprintln!("phantom_auc: unknown option {key}");
                std::process::exit(2);
            }
        }
    }
    study.overrides = overrides;
    let started = Instant::now();
    match run_phantom_study(&study, &out) {
        Ok(r) => {
            println!("SYNTHETIC phantoms, not clinical data");
            println!(
                "{}: {} training exams ({} train / {} valid), {} held-out: AUC {}, accuracy {}",
                study.model,
                study.train_exams,
                r.summary.exams[0],
                r.summary.exams[1],
                r.held_out.len(),
                r.figures.auc.map_or("n/a".into(), |a| format!("{a:.4}")),
                r.figures
                    .accuracy
                    .map_or("n/a".into(), |a| format!("{a:.4}")),
            );
            println!(
                "best epoch {} of {}; training {:.0} s; total {:.0} s",
                r.summary.best.epoch,
                r.summary.last_epoch,
                r.summary.seconds,
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("phantom_auc: {e}");
            std::process::exit(2);
        }
    }
}
