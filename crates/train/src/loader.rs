//! Burn data loaders over prepared exams, one exam per item (exams differ in slice count).
//!
//! Burn's own `DataLoaderBuilder::shuffle` draws each epoch's order from one generator that
//! starts again when a run is resumed, so a resumed run would see other orders than an
//! uninterrupted one. These loaders derive everything random in an epoch (order, balanced
//! draws, augmentation, the device seed used by dropout) from `(seed, epoch)` instead, which is
//! what makes a resumed run end with the same metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use cruciate_data::seeds::mix;
use cruciate_prep::{AugmentConfig, PixelScale, augment};

use crate::exams::PreparedExam;

/// One exam as the network takes it.
#[derive(Debug, Clone)]
pub struct ExamBatch {
    /// `[slices, 3, size, size]`, standardised.
    pub slices: Tensor<4>,
    /// The exam's class for each head, `[heads]` (`[1]` but for a joint network).
    pub targets: Tensor<1, Int>,
    /// Which exam, for error messages.
    pub exam_id: String,
    /// Epoch (1-based) and position in it (1-based), for error messages.
    pub position: (usize, usize),
}

/// How a training epoch visits the exams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Every exam once, in file order (validation).
    InOrder,
    /// Every exam once, shuffled per epoch.
    Shuffled,
    /// As many draws as exams, each class equally likely (with replacement).
    Balanced,
}

/// A loader over prepared exams.
#[derive(Clone)]
pub struct ExamLoader {
    exams: Arc<Vec<PreparedExam>>,
    visit: Visit,
    augment: Option<AugmentConfig>,
    scale: PixelScale,
    seed: u64,
    /// The epoch the next `iter()` runs; shared by clones so that `to_device` keeps counting.
    next_epoch: Arc<AtomicUsize>,
    device: Device,
    range: std::ops::Range<usize>,
}

impl ExamLoader {
    /// A loader whose first `iter()` is epoch `first_epoch`, scaling pixels by `scale`.
    pub fn new(
        exams: Arc<Vec<PreparedExam>>,
        visit: Visit,
        (augment, scale): (Option<AugmentConfig>, PixelScale),
        seed: u64,
        first_epoch: usize,
        device: &Device,
    ) -> Self {
        let range = 0..exams.len();
        Self {
            exams,
            visit,
            augment,
            scale,
            seed,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            device: device.clone(),
            range,
        }
    }

    /// The exams visited in `epoch`, by index.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut indices: Vec<usize> = self.range.clone().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, epoch as u64, 0x5eed));
        match self.visit {
            Visit::InOrder => indices,
            Visit::Shuffled => {
                indices.shuffle(&mut rng);
                indices
            }
            Visit::Balanced => {
                let mut by_class: std::collections::BTreeMap<usize, Vec<usize>> =
                    Default::default();
                for i in indices {
                    by_class
                        .entry(self.exams[i].targets[0])
                        .or_default()
                        .push(i);
                }
                let classes: Vec<&Vec<usize>> = by_class.values().collect();
                (0..self.range.len())
                    .map(|_| {
                        let members =
                            classes[rand::RngExt::random_range(&mut rng, 0..classes.len())];
                        members[rand::RngExt::random_range(&mut rng, 0..members.len())]
                    })
                    .collect()
            }
        }
    }

    fn item(&self, epoch: usize, position: usize, index: usize) -> ExamBatch {
        let exam = &self.exams[index];
        let mut values = exam.input.intensities();
        let shape = exam.input.shape;
        if let Some(config) = &self.augment {
            let mut rng =
                ChaCha8Rng::seed_from_u64(mix(self.seed, epoch as u64, position as u64 + 1));
            augment(&mut values, shape, config, &mut rng);
        }
        let [s, h, w] = shape;
        let data = exam.input.backbone_values(&values, self.scale);
        let targets: Vec<i64> = exam.targets.iter().map(|&c| c as i64).collect();
        let heads = targets.len();
        ExamBatch {
            slices: Tensor::from_data(TensorData::new(data, [s, 3, h, w]), &self.device),
            targets: Tensor::from_data(TensorData::new(targets, [heads]), &self.device),
            exam_id: exam.exam_id.clone(),
            position: (epoch, position + 1),
        }
    }
}

struct EpochIter<'a> {
    loader: &'a ExamLoader,
    epoch: usize,
    order: Vec<usize>,
    next: usize,
}

impl Iterator for EpochIter<'_> {
    type Item = Result<ExamBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = *self.order.get(self.next)?;
        let item = self.loader.item(self.epoch, self.next, index);
        self.next += 1;
        Some(Ok(item))
    }
}

impl DataLoaderIterator<ExamBatch> for EpochIter<'_> {
    fn progress(&self) -> Progress {
        Progress {
            items_processed: self.next,
            items_total: self.order.len(),
            unit: Some("exams".into()),
        }
    }
}

impl DataLoader<ExamBatch> for ExamLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<ExamBatch> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        if self.visit != Visit::InOrder {
            // Dropout and other random layers draw from the device generator.
            self.device.seed(mix(self.seed, epoch as u64, 0xd20f));
        }
        Box::new(EpochIter {
            loader: self,
            epoch,
            order: self.order(epoch),
            next: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.range.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<ExamBatch>> {
        let mut loader = self.clone();
        loader.device = device.clone();
        Arc::new(loader)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<ExamBatch>> {
        let mut loader = self.clone();
        let s = (self.range.start + start).min(self.range.end);
        let e = (self.range.start + end).clamp(s, self.range.end);
        loader.range = s..e;
        loader.next_epoch = Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst)));
        Arc::new(loader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_prep::{InputGeometry, PreparedInput};
    use cruciate_volume::RoiBox;

    fn exams(classes: &[usize]) -> Arc<Vec<PreparedExam>> {
        Arc::new(
            classes
                .iter()
                .enumerate()
                .map(|(i, &class)| PreparedExam {
                    exam_id: format!("e{i}"),
                    targets: vec![class],
                    grade: class as u8,
                    input: PreparedInput {
                        voxels: (0..2 * 4 * 4).map(|v| (v * 8 + i) as u8).collect(),
                        shape: [2, 4, 4],
                        geometry: InputGeometry {
                            source_shape: [2, 4, 4],
                            region: RoiBox {
                                s0: 0,
                                s1: 2,
                                r0: 0,
                                r1: 4,
                                c0: 0,
                                c1: 4,
                            },
                        },
                    },
                })
                .collect(),
        )
    }

    #[test]
    fn orders_depend_on_seed_and_epoch_only() {
        let device = Device::flex();
        let e = exams(&[0, 0, 0, 0, 0, 0, 1, 1]);
        let a = ExamLoader::new(
            e.clone(),
            Visit::Shuffled,
            (None, PixelScale::Mrnet),
            7,
            1,
            &device,
        );
        let b = ExamLoader::new(
            e.clone(),
            Visit::Shuffled,
            (None, PixelScale::Mrnet),
            7,
            3,
            &device,
        );
        assert_eq!(a.order(3), b.order(3));
        assert_ne!(a.order(1), a.order(2));
        let mut sorted = a.order(2);
        sorted.sort();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>());
        // A fresh loader starting at epoch 3 yields what an old one yields on its third iter.
        let ids = |l: &ExamLoader| l.iter().map(|b| b.unwrap().exam_id).collect::<Vec<_>>();
        ids(&a);
        ids(&a);
        assert_eq!(ids(&a), ids(&b));
    }

    #[test]
    fn balanced_draws_even_out_classes() {
        let device = Device::flex();
        let e = exams(&[0; 90].iter().chain(&[1; 10]).copied().collect::<Vec<_>>());
        let l = ExamLoader::new(
            e.clone(),
            Visit::Balanced,
            (None, PixelScale::Mrnet),
            1,
            1,
            &device,
        );
        let minority: usize = (1..=20)
            .map(|ep| l.order(ep).iter().filter(|&&i| e[i].targets == [1]).count())
            .sum();
        // 2000 draws, each from the minority class with probability 1/2: 1000 +- 3 sd (22.4).
        assert!((933..=1067).contains(&minority), "{minority}");
    }

    #[test]
    fn items_are_standardised_three_channel_tensors() {
        let device = Device::flex();
        let l = ExamLoader::new(
            exams(&[1]),
            Visit::InOrder,
            (None, PixelScale::Mrnet),
            0,
            1,
            &device,
        );
        let b = l.iter().next().unwrap().unwrap();
        assert_eq!(b.slices.dims(), [2, 3, 4, 4]);
        let v = b
            .slices
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        // Every voxel as MRNet standardises it, repeated on the three channels of its slice.
        let voxels: Vec<f32> = (0..32).map(|v| (v * 8) as f32).collect();
        for s in 0..2 {
            for ch in 0..3 {
                for k in 0..16 {
                    let want = (voxels[s * 16 + k] - 58.09) / 49.73;
                    let got = v[(s * 3 + ch) * 16 + k];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "slice {s} channel {ch} voxel {k}"
                    );
                }
            }
        }
        assert_eq!(
            b.targets
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![1]
        );
    }
}
