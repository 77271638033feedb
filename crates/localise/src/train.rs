//! Training a localiser with Burn's Learner: slices of the training exams (every slice of the
//! box, two on each side, and a few drawn elsewhere) against their cell targets, a weighted
//! binary cross entropy (cells inside the box are rare), Adam with a cosine decay; validation
//! loss on the valid split each epoch.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress as LoaderProgress};
use burn::data::dataset::DatasetError;
use burn::optim::AdamConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use burn::train::metric::{Adaptor, LossInput, LossMetric};
use burn::train::{InferenceStep, ItemLazy, Learner, SupervisedTraining, TrainOutput, TrainStep};
use cruciate_data::manifest::{Manifest, ManifestRow};
use cruciate_data::{Split, seeds::mix};
use cruciate_infer::Progress;
use cruciate_models::Compute;
use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;

use crate::config::{LocaliserTraining, TrainedLocaliser};
use crate::input::LocaliserInput;
use crate::net::HeatmapNet;
use crate::target::cell_targets;
use crate::{DecodeSettings, LocaliseError};

/// Slices ready for the network: 8-bit stacks (the 0..1 inputs times 255) and cell targets.
#[derive(Clone, Default)]
struct Samples {
    stacks: Vec<u8>,
    targets: Vec<f32>,
    count: usize,
}

impl Samples {
    fn add_exam(
        &mut self,
        row: &ManifestRow,
        manifest: &Manifest,
        input: &LocaliserInput,
        negatives: usize,
        seed: u64,
    ) -> Result<bool, LocaliseError> {
        let Some(roi) = row.roi else {
            return Ok(false);
        };
        let exam = cruciate_data::exam::read_exam(manifest, row)
            .map_err(|e| LocaliseError::Data(e.to_string()))?;
        let Some(roi) = roi.clamp_to(exam.shape) else {
            return Err(LocaliseError::Data(format!(
                "exam {}: its box lies outside the exam",
                row.exam_id
            )));
        };
        let stacks = input.stacks(&exam);
        let per = 3 * input.size * input.size;
        let near = roi.s0.saturating_sub(2)..(roi.s1 + 2).min(exam.slices());
        let mut chosen: Vec<usize> = near.clone().collect();
        let others: Vec<usize> = (0..exam.slices()).filter(|s| !near.contains(s)).collect();
        let mut rng =
            ChaCha8Rng::seed_from_u64(mix(seed, row.exam_id.len() as u64, hash(&row.exam_id)));
        chosen.extend(others.sample(&mut rng, negatives).copied());
        for s in chosen {
            self.stacks.extend(
                stacks[s * per..(s + 1) * per]
                    .iter()
                    .map(|v| (v * 255.0).round() as u8),
            );
            self.targets
                .extend(cell_targets(roi, exam.shape, s, input.grid()));
            self.count += 1;
        }
        Ok(true)
    }

    /// Positive over negative target mass, for the loss's weight on cells inside the box.
    fn positive_weight(&self) -> f32 {
        let positive: f64 = self.targets.iter().map(|&t| f64::from(t)).sum();
        let negative = self.targets.len() as f64 - positive;
        if positive <= 0.0 {
            1.0
        } else {
            (negative / positive).clamp(1.0, 50.0) as f32
        }
    }
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A batch of slices.
#[derive(Debug, Clone)]
pub struct SliceBatch {
    inputs: Tensor<4>,
    targets: Tensor<3>,
}

/// Batches of samples in an order drawn from `(seed, epoch)`.
#[derive(Clone)]
struct SliceLoader {
    samples: Arc<Samples>,
    input: LocaliserInput,
    batch: usize,
    shuffle: bool,
    seed: u64,
    epoch: Arc<AtomicUsize>,
    range: std::ops::Range<usize>,
    device: Device,
}

impl SliceLoader {
    fn new(
        samples: Samples,
        input: LocaliserInput,
        batch: usize,
        shuffle: bool,
        seed: u64,
        device: &Device,
    ) -> Self {
        let batches = samples.count.div_ceil(batch.max(1));
        Self {
            samples: Arc::new(samples),
            input,
            batch: batch.max(1),
            shuffle,
            seed,
            epoch: Arc::new(AtomicUsize::new(1)),
            range: 0..batches,
            device: device.clone(),
        }
    }

    fn batch_of(&self, indices: &[usize]) -> SliceBatch {
        let (n, g) = (self.input.size, self.input.grid());
        let (per, cells) = (3 * n * n, g * g);
        let mut x = Vec::with_capacity(indices.len() * per);
        let mut y = Vec::with_capacity(indices.len() * cells);
        for &i in indices {
            x.extend(
                self.samples.stacks[i * per..(i + 1) * per]
                    .iter()
                    .map(|&v| f32::from(v) / 255.0),
            );
            y.extend_from_slice(&self.samples.targets[i * cells..(i + 1) * cells]);
        }
        let b = indices.len();
        SliceBatch {
            inputs: Tensor::<1>::from_floats(x.as_slice(), &self.device).reshape([b, 3, n, n]),
            targets: Tensor::<1>::from_floats(y.as_slice(), &self.device).reshape([b, g, g]),
        }
    }
}

struct SliceIter<'a> {
    loader: &'a SliceLoader,
    order: Vec<usize>,
    next: usize,
}

impl Iterator for SliceIter<'_> {
    type Item = Result<SliceBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.loader.range.start + self.next;
        if b >= self.loader.range.end {
            return None;
        }
        self.next += 1;
        let start = b * self.loader.batch;
        let end = (start + self.loader.batch).min(self.order.len());
        Some(Ok(self.loader.batch_of(&self.order[start..end])))
    }
}

impl DataLoaderIterator<SliceBatch> for SliceIter<'_> {
    fn progress(&self) -> LoaderProgress {
        LoaderProgress {
            items_processed: self.next,
            items_total: self.loader.range.len(),
            unit: Some("batches".into()),
        }
    }
}

impl DataLoader<SliceBatch> for SliceLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<SliceBatch> + 'a> {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst);
        let mut order: Vec<usize> = (0..self.samples.count).collect();
        if self.shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(
                self.seed,
                epoch as u64,
                0x10ca,
            )));
        }
        Box::new(SliceIter {
            loader: self,
            order,
            next: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.range.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<SliceBatch>> {
        let mut loader = self.clone();
        loader.device = device.clone();
        Arc::new(loader)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<SliceBatch>> {
        let mut loader = self.clone();
        let s = (self.range.start + start).min(self.range.end);
        loader.range = s..(self.range.start + end).clamp(s, self.range.end);
        Arc::new(loader)
    }
}

/// The network with its loss, as the Learner trains it.
#[derive(Module, Debug)]
pub struct LocaliserTrainer {
    /// The network.
    pub net: HeatmapNet,
    #[module(skip)]
    positive_weight: f32,
}

/// A step's loss for Burn's metrics.
pub struct SliceOutput {
    loss: Tensor<1>,
}

impl ItemLazy for SliceOutput {
    fn sync(self) -> Result<Self, burn_std_error::ExecutionError> {
        self.loss.device().flush()?;
        Ok(Self {
            loss: self.loss.without_autodiff(),
        })
    }
}

/// The error type Burn's lazy items report (re-exported by `burn-std`).
mod burn_std_error {
    pub use burn_std::ExecutionError;
}

impl Adaptor<LossInput> for SliceOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl LocaliserTrainer {
    /// Binary cross entropy on each cell's logit, cells inside the box weighted by how rare
    /// they are.
    fn loss(&self, batch: &SliceBatch) -> Tensor<1> {
        let logits = self.net.forward(batch.inputs.clone());
        let t = batch.targets.clone();
        let inside = log_sigmoid(logits.clone()) * t.clone() * self.positive_weight;
        let outside = log_sigmoid(logits.neg()) * (t.neg() + 1.0);
        (inside + outside).neg().mean().reshape([1])
    }
}

impl TrainStep for LocaliserTrainer {
    type Input = SliceBatch;
    type Output = SliceOutput;

    fn step(&self, batch: SliceBatch) -> TrainOutput<SliceOutput> {
        let loss = self.loss(&batch);
        let grads = loss.backward();
        TrainOutput::new(self, grads, SliceOutput { loss })
    }
}

impl InferenceStep for LocaliserTrainer {
    type Input = SliceBatch;
    type Output = SliceOutput;

    fn step(&self, batch: SliceBatch) -> SliceOutput {
        SliceOutput {
            loss: self.loss(&batch),
        }
    }
}

fn samples_of(
    manifest: &Manifest,
    split: Split,
    settings: &LocaliserTraining,
) -> Result<(Samples, usize), LocaliseError> {
    let mut samples = Samples::default();
    let mut exams = 0;
    for row in manifest.split(split) {
        if samples.add_exam(
            row,
            manifest,
            &settings.input,
            settings.negatives,
            settings.seed,
        )? {
            exams += 1;
        }
    }
    Ok((samples, exams))
}

/// Trains a localiser on the boxes of `manifest`'s train split (validated on its valid split)
/// into the run folder `out`.
pub fn train_localiser(
    manifest: &Manifest,
    out: &Path,
    settings: &LocaliserTraining,
    progress: Arc<dyn Progress>,
) -> Result<TrainedLocaliser, LocaliseError> {
    settings.input.validate().map_err(LocaliseError::Data)?;
    if settings.epochs == 0 || settings.batch_size == 0 {
        return Err(LocaliseError::Data(
            "epochs and batch size must be at least 1".into(),
        ));
    }
    let started = Instant::now();
    let (train, train_exams) = samples_of(manifest, Split::Train, settings)?;
    let (valid, valid_exams) = samples_of(manifest, Split::Valid, settings)?;
    if train_exams < 2 || valid_exams == 0 {
        return Err(LocaliseError::Data(format!(
            "a localiser learns from ACL boxes (the manifest's roi column): {train_exams} train and {valid_exams} valid exams have one; it needs at least 2 and 1"
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| LocaliseError::io(out, e))?;
    let device = Compute::CPU.device().autodiff();
    device.seed(settings.seed);
    let positive_weight = train.positive_weight();
    let slices_per_epoch = train.count;
    let loaders = (
        SliceLoader::new(
            train,
            settings.input,
            settings.batch_size,
            true,
            settings.seed,
            &device,
        ),
        SliceLoader::new(
            valid,
            settings.input,
            settings.batch_size,
            false,
            settings.seed,
            &device,
        ),
    );
    let model = LocaliserTrainer {
        net: HeatmapNet::new(&device),
        positive_weight,
    };
    // Cosine decay to zero over the run: late epochs settle instead of jumping about.
    let steps = slices_per_epoch.div_ceil(settings.batch_size) * settings.epochs;
    let schedule = CosineAnnealingLrSchedulerConfig::new(settings.learning_rate, steps.max(1))
        .init()
        .map_err(LocaliseError::Data)?;
    let learner = Learner::new(model, AdamConfig::new().init(), schedule);
    let work = out.join("training");
    let training = SupervisedTraining::new(&work, Arc::new(loaders.0), Arc::new(loaders.1))
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .renderer(Box::new(cruciate_train::events::ProgressRenderer::new(
            progress,
        )))
        .with_application_logger(None)
        .num_epochs(settings.epochs);
    let result = training.launch(learner);
    if let Some(error) = result.error {
        return Err(LocaliseError::Training(error.to_string()));
    }
    let net = result.model.net;
    let evidence = crate::calibrate::gather(manifest, Split::Valid, |exam| {
        crate::run::maps(&net, &settings.input, exam, &device)
    })?;
    let (decode, valid_mean_iou) =
        crate::calibrate::calibrate(&evidence, settings.input.grid(), &DecodeSettings::default());
    let trained = TrainedLocaliser {
        run: out.to_path_buf(),
        exams: [train_exams, valid_exams],
        slices_per_epoch,
        settings: settings.clone(),
        decode,
        valid_mean_iou,
        seconds: started.elapsed().as_secs_f64(),
    };
    crate::run::write_run(out, net, &trained, &manifest.root)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(trained)
}
