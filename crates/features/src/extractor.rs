//! A frozen backbone that turns an exam into feature vectors: the slices chosen by the spec,
//! resampled, scaled as the weights expect, through the backbone in batches, global average
//! pooling per slice, then the spec's pooling over slices.

use std::io::Write as _;
use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use cruciate_engine::{EngineChoice, Resolved};
use cruciate_models::safetensors_file::recorded_pixel_scale;
use cruciate_models::{Backbone, BackboneEngine, BackboneKind, load_pretrained};
use cruciate_prep::{InputConfig, PixelScale, PreparedInput, prepare_input, repeat_channels};
use cruciate_volume::Volume;

use crate::{FeatureError, FeatureSpec, Pool, RegionSpec, WeightsSource};

/// Slices per backbone call.
const BATCH: usize = 8;

/// Seed of randomly initialised backbones.
pub const RANDOM_SEED: u64 = 7;

/// A frozen backbone with the spec that says how exams reach it.
pub struct Extractor {
    spec: FeatureSpec,
    backbone: Backbone,
    device: Device,
    engine: BackboneEngine,
}

/// The backbone's last feature maps of one exam's slices.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceMaps {
    /// Values `[slices, channels, h, w]`, row-major.
    pub maps: Vec<f32>,
    /// `[slices, channels, h, w]`.
    pub dims: [usize; 4],
    /// The input the maps were computed from (its geometry maps them back onto the exam).
    pub input: PreparedInput,
}

impl SliceMaps {
    /// Each slice's vector: its maps averaged over the plane (global average pooling).
    pub fn features(&self) -> SliceFeatures {
        let [_, _, h, w] = self.dims;
        let area = (h * w).max(1);
        let per_slice = self.dims[1] * area;
        let slices = self
            .maps
            .chunks_exact(per_slice.max(1))
            .map(|slice| {
                slice
                    .chunks_exact(area)
                    .map(|map| {
                        (map.iter().map(|&v| f64::from(v)).sum::<f64>() / area as f64) as f32
                    })
                    .collect()
            })
            .collect();
        let s0 = self.input.geometry.region.s0;
        SliceFeatures {
            slices,
            range: [s0, s0 + self.input.shape[0]],
        }
    }
}

/// Per-slice vectors of one exam.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceFeatures {
    /// One vector per slice seen.
    pub slices: Vec<Vec<f32>>,
    /// The source slices seen, `[first, end)`.
    pub range: [usize; 2],
}

fn kind_of(name: &str) -> Result<BackboneKind, FeatureError> {
    BackboneKind::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = BackboneKind::ALL.iter().map(|k| k.name()).collect();
        FeatureError::Request(format!(
            "unknown backbone {name:?} (known: {})",
            known.join(", ")
        ))
    })
}

impl Extractor {
    /// A `backbone` with the weights in `weights` (random, seeded, when `None`), scaling pixels
    /// as `pixel_scale` says, else as the weights file records, else as ImageNet weights expect;
    /// on exams prepared by `input`, pooled by `pooling`.
    pub fn new(
        backbone: &str,
        weights: Option<&Path>,
        pixel_scale: Option<PixelScale>,
        input: InputConfig,
        pooling: Vec<Pool>,
        device: Device,
    ) -> Result<Self, FeatureError> {
        let kind = kind_of(backbone)?;
        if pooling.is_empty() {
            return Err(FeatureError::Request("no pooling over slices given".into()));
        }
        device.seed(RANDOM_SEED);
        let mut net = kind.init(&device);
        let (source, scale) = match weights {
            Some(path) => {
                load_pretrained(&mut net, path)
                    .map_err(|e| FeatureError::Request(e.to_string()))?;
                let source = WeightsSource::File {
                    name: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sha256: cruciate_infer::run::sha256_file(path)
                        .map_err(|e| FeatureError::io(path, e))?,
                };
                let recorded =
                    recorded_pixel_scale(path).map_err(|e| FeatureError::Request(e.to_string()))?;
                // torchvision weights say nothing: they were trained on ImageNet's scaling.
                (source, recorded.unwrap_or(PixelScale::Imagenet))
            }
            None => (
                WeightsSource::Random { seed: RANDOM_SEED },
                PixelScale::Imagenet,
            ),
        };
        let spec = FeatureSpec {
            backbone: kind.name().into(),
            weights: source,
            input: InputConfig {
                pixel_scale: Some(pixel_scale.unwrap_or(scale)),
                ..input
            },
            pooling,
            region: None,
        };
        Ok(Self {
            spec,
            backbone: net,
            device,
            engine: BackboneEngine::burn(),
        })
    }

    /// The extractor of `spec` whose backbone was saved by [`Extractor::save`] at `path`.
    pub fn open(spec: FeatureSpec, path: &Path, device: Device) -> Result<Self, FeatureError> {
        let kind = kind_of(&spec.backbone)?;
        let record =
            ModuleRecord::load(path).map_err(|e| FeatureError::invalid(path, e.to_string()))?;
        let backbone = kind.init(&device).try_load_record(record).map_err(|e| {
            FeatureError::invalid(path, format!("does not fit {}: {e}", spec.backbone))
        })?;
        Ok(Self {
            spec,
            backbone,
            device,
            engine: BackboneEngine::burn(),
        })
    }

    /// Writes the backbone's weights to `path` (a Burn record), atomically.
    pub fn save(&self, path: &Path) -> Result<(), FeatureError> {
        let bytes = self
            .backbone
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| FeatureError::invalid(path, e.to_string()))?;
        cruciate_volume::atomic::write_atomically(path, |w| w.write_all(&bytes))
            .map_err(|e| FeatureError::io(path, e))
    }

    /// The same extractor with its backbone run by the engine `choice` means here (Burn by
    /// default). The vectors are the same up to the engine's precision.
    pub fn with_engine(mut self, choice: EngineChoice) -> Result<Self, FeatureError> {
        self.engine = BackboneEngine::new(&self.backbone, choice)
            .map_err(|e| FeatureError::Request(e.to_string()))?;
        Ok(self)
    }

    /// What runs the backbone.
    pub fn engine(&self) -> Resolved {
        self.engine.resolved()
    }

    /// The extractor for exams cut to `region` first (the cutting is done by whoever reads
    /// the exams: [`crate::FeatureTable::extract`], or the cascade in front of a feature run).
    pub fn with_region(mut self, region: Option<RegionSpec>) -> Self {
        self.spec.region = region;
        self
    }

    /// What makes its vectors.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// Values per exam vector.
    pub fn width(&self) -> usize {
        kind_of(&self.spec.backbone).map_or(0, |k| k.channels()) * self.spec.pooling.len()
    }

    /// The vector of each slice the spec selects from `exam`.
    pub fn slice_features(&self, exam: &Volume) -> Result<SliceFeatures, FeatureError> {
        Ok(self.slice_maps(exam)?.features())
    }

    /// The backbone's last feature maps of each slice the spec selects from `exam`, with the
    /// input they were computed from.
    pub fn slice_maps(&self, exam: &Volume) -> Result<SliceMaps, FeatureError> {
        let input =
            prepare_input(exam, &self.spec.input).map_err(|e| FeatureError::Exam(e.to_string()))?;
        let [s, h, w] = input.shape;
        let intensities = input.intensities();
        let mut values = Vec::new();
        let mut dims = [0, 0, 0, 0];
        for chunk in intensities.chunks(BATCH * h * w) {
            let n = chunk.len() / (h * w);
            let mut pixels = repeat_channels(chunk, n, 3);
            self.spec.pixel_scale().apply(&mut pixels, n);
            let maps =
                self.engine
                    .forward_values(&self.backbone, &pixels, [n, 3, h, w], &self.device);
            dims = maps.dims();
            values.extend(
                maps.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("f32 after convert"),
            );
        }
        dims[0] = s;
        Ok(SliceMaps {
            maps: values,
            dims,
            input,
        })
    }

    /// The exam vector made of per-slice vectors (each pooling in turn, concatenated).
    pub fn pool(&self, slices: &[Vec<f32>]) -> Vec<f32> {
        pool_slices(&self.spec.pooling, slices)
    }

    /// The exam's vector.
    pub fn exam_features(&self, exam: &Volume) -> Result<Vec<f32>, FeatureError> {
        Ok(self.pool(&self.slice_features(exam)?.slices))
    }
}

/// The exam vector made of per-slice vectors: each of `pooling` in turn over the slices,
/// concatenated.
pub fn pool_slices(pooling: &[Pool], slices: &[Vec<f32>]) -> Vec<f32> {
    let c = slices.first().map_or(0, Vec::len);
    let n = slices.len().max(1) as f32;
    let mut out = Vec::with_capacity(c * pooling.len());
    for pool in pooling {
        for j in 0..c {
            let column = slices.iter().map(|s| s[j]);
            out.push(match pool {
                Pool::Max => column.fold(f32::NEG_INFINITY, f32::max),
                Pool::Mean => column.sum::<f32>() / n,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, SourceMetadata};

    #[test]
    fn pools_concatenate_in_order_and_every_slice_gets_a_vector() {
        let extractor = Extractor::new(
            "small",
            None,
            None,
            crate::SliceChoice::Central(3).input(32),
            vec![Pool::Max, Pool::Mean],
            Device::flex(),
        )
        .unwrap();
        let pooled = extractor.pool(&[vec![1.0, -2.0], vec![3.0, 0.0]]);
        assert_eq!(pooled, vec![3.0, 0.0, 2.0, -1.0]);
        let data: Vec<f32> = (0..5 * 40 * 40).map(|i| (i % 97) as f32).collect();
        let exam = Volume::new(data, [5, 40, 40], SourceMetadata::new(Format::Npy, "x")).unwrap();
        let slices = extractor.slice_features(&exam).unwrap();
        assert_eq!(slices.range, [1, 4], "the 3 central of 5 slices");
        assert_eq!(slices.slices.len(), 3);
        assert!(
            slices
                .slices
                .iter()
                .all(|s| s.len() == BackboneKind::Small.channels())
        );
        let vector = extractor.exam_features(&exam).unwrap();
        assert_eq!(vector.len(), extractor.width());
        assert_eq!(vector, extractor.pool(&slices.slices));
        assert!(
            Extractor::new(
                "vgg17",
                None,
                None,
                InputConfig::default(),
                vec![Pool::Max],
                Device::flex()
            )
            .is_err()
        );
        assert!(
            Extractor::new(
                "small",
                None,
                None,
                InputConfig::default(),
                vec![],
                Device::flex()
            )
            .is_err()
        );
    }
}
