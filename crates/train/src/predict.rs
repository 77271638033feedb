//! A trained run applied to one exam: class probabilities, the call, the probability of an
//! injury, and for each class the slice whose features argue for it most.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::softmax;
use cruciate_models::weights::LoadReport;
use cruciate_models::{Backbone, ExamModel};
use cruciate_volume::{RoiBox, Volume};
use serde::Serialize;

use crate::TrainError;
use crate::checkpoint::{complete_epochs, record_path};
use crate::classifier::{ExamClassifier, NanGuard};
use crate::config::TrainConfig;
use crate::prepare::prepare_volume;
use crate::run::{RunFiles, RunSummary, build_model};
use cruciate_prep::mrnet_standardise;

/// Loads pretrained weights into a backbone: torchvision `.pth` / `.safetensors`, or a Keras
/// VGG16 convolutional base in an `.onnx` file.
pub fn load_backbone_weights(
    backbone: &mut Backbone,
    path: &Path,
) -> Result<LoadReport, TrainError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        return Ok(cruciate_models::keras_onnx::load_keras_vgg16_onnx(
            backbone, path,
        )?);
    }
    let remaps = backbone.torchvision_remaps();
    Ok(cruciate_models::load_torchvision(backbone, path, &remaps)?)
}

/// A run folder's model, ready for inference.
pub struct LoadedRun {
    /// The run's settings.
    pub config: TrainConfig,
    /// The network at its best epoch, in inference mode.
    pub model: ExamModel,
    /// The epoch whose weights are loaded.
    pub epoch: usize,
    /// The run folder.
    pub root: PathBuf,
}

impl LoadedRun {
    /// Loads the best checkpoint of `run` (the last one when the run has not finished).
    pub fn open(run: &Path) -> Result<Self, TrainError> {
        let files = RunFiles {
            root: run.to_path_buf(),
        };
        let text = std::fs::read_to_string(files.config())
            .map_err(|e| TrainError::Run(format!("{}: not a run folder ({e})", run.display())))?;
        let config: TrainConfig = toml::from_str(&text).map_err(|e| {
            TrainError::Run(format!("{}: {}", files.config().display(), e.message()))
        })?;
        config.validate()?;
        let epoch = match std::fs::read_to_string(files.summary()) {
            Ok(json) => {
                serde_json::from_str::<RunSummary>(&json)
                    .map_err(|e| TrainError::Run(format!("{}: {e}", files.summary().display())))?
                    .best
                    .epoch
            }
            Err(_) => *complete_epochs(&files.checkpoints())
                .last()
                .ok_or_else(|| TrainError::Run(format!("{}: no checkpoint yet", run.display())))?,
        };
        let path = record_path(&files.checkpoints(), "model", epoch);
        let record = ModuleRecord::load(&path)
            .map_err(|e| TrainError::Run(format!("{}: {e}", path.display())))?;
        let device = cruciate_models::default_device();
        let shell = ExamClassifier::new(
            build_model(&config, &device),
            None,
            0.0,
            NanGuard::default(),
        );
        let loaded = shell.try_load_record(record).map_err(|e| {
            TrainError::Run(format!(
                "{}: does not fit the run's model: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            config,
            model: loaded.model.valid(),
            epoch,
            root: run.to_path_buf(),
        })
    }

    /// Applies the model to `volume` (with `roi` when the run selects the ACL region).
    pub fn predict(&self, volume: &Volume, roi: Option<RoiBox>) -> Result<Prediction, TrainError> {
        let (bytes, shape, first) =
            prepare_volume(volume, roi, &self.config.data).map_err(TrainError::Data)?;
        Ok(self.predict_prepared(&bytes, shape, first))
    }

    /// Applies the model to an exam prepared as the run prepares them.
    pub fn predict_prepared(&self, bytes: &[u8], shape: [usize; 3], first: usize) -> Prediction {
        let out = self.forward_prepared(bytes, shape);
        self.prediction(&out, first)
    }

    /// The network's outputs on an exam prepared as the run prepares them.
    fn forward_prepared(&self, bytes: &[u8], shape: [usize; 3]) -> cruciate_models::ExamOutput {
        let [s, h, w] = shape;
        let mut values: Vec<f32> = bytes.iter().map(|&v| f32::from(v)).collect();
        mrnet_standardise(&mut values);
        let data = cruciate_prep::repeat_channels(&values, s, 3);
        let device = cruciate_models::default_device();
        self.model.forward(Tensor::<4>::from_data(
            TensorData::new(data, [s, 3, h, w]),
            &device,
        ))
    }

    /// The prediction in `out`, whose first slice is source slice `first`.
    fn prediction(&self, out: &cruciate_models::ExamOutput, first: usize) -> Prediction {
        let [s, _] = out.slice_features.dims();
        let probabilities = to_vec(softmax(out.logits.clone(), 1));
        // Each slice's features alone through the head: the slice with the highest score for a
        // class is the one that drives it.
        let per_slice = to_vec(self.model.classify(out.slice_features.clone()));
        let k = probabilities.len();
        let driving_slices = (0..k)
            .map(|c| {
                let best = (0..s)
                    .max_by(|&a, &b| per_slice[a * k + c].total_cmp(&per_slice[b * k + c]))
                    .unwrap_or(0);
                first + best
            })
            .collect();
        let class = cruciate_eval::metrics::argmax(&probabilities);
        let names = self.config.model.task.class_names();
        Prediction {
            class,
            label: names[class].to_string(),
            injured_probability: 1.0 - probabilities[0],
            classes: names.iter().map(|n| n.to_string()).collect(),
            probabilities,
            driving_slices,
            slices: [first, first + s],
        }
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64 after convert")
}

/// What a run says about one exam.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Class names, in order.
    pub classes: Vec<String>,
    /// Probability of each class.
    pub probabilities: Vec<f64>,
    /// The most probable class.
    pub class: usize,
    /// Its name.
    pub label: String,
    /// Probability of any injury (1 - P(healthy)).
    pub injured_probability: f64,
    /// For each class, the source slice that argues for it most.
    pub driving_slices: Vec<usize>,
    /// The source slices the model saw, `[first, end)`.
    pub slices: [usize; 2],
}

/// Predictions of a run on prepared exams, with accuracy and injured-vs-healthy AUC.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    /// `(exam_id, class, prediction)` per exam.
    pub predictions: Vec<(String, usize, Prediction)>,
    /// Accuracy over them.
    pub accuracy: Option<f64>,
    /// ROC AUC of the injured probability for injured (class > 0) vs healthy.
    pub auc: Option<f64>,
}

impl HeldOut {
    /// Scores `predictions`.
    pub fn new(predictions: Vec<(String, usize, Prediction)>) -> Self {
        let actual: Vec<usize> = predictions.iter().map(|p| p.1).collect();
        let predicted: Vec<usize> = predictions.iter().map(|p| p.2.class).collect();
        let injured: Vec<bool> = actual.iter().map(|&c| c > 0).collect();
        let scores: Vec<f64> = predictions
            .iter()
            .map(|p| p.2.injured_probability)
            .collect();
        Self {
            accuracy: cruciate_eval::metrics::accuracy(&predicted, &actual),
            auc: cruciate_eval::metrics::roc_auc(&scores, &injured),
            predictions,
        }
    }
}

impl LoadedRun {
    /// Predicts every exam of `exams` (prepared with this run's settings).
    pub fn held_out(&self, exams: &[crate::prepare::PreparedExam]) -> HeldOut {
        HeldOut::new(
            exams
                .iter()
                .map(|e| {
                    let p = self.predict_prepared(&e.data, e.shape, e.first_slice);
                    (e.exam_id.clone(), e.class, p)
                })
                .collect(),
        )
    }
}

/// How an explanation is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Class activation map (linear heads).
    Cam,
    /// Grad-CAM (any head).
    GradCam,
}

/// Where a call came from, ready to draw.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The prediction explained.
    pub prediction: Prediction,
    /// CAM or Grad-CAM.
    pub method: Method,
    /// The class the maps are for.
    pub target: usize,
    /// Each slice's share of the pooled features.
    pub slice_importance: Vec<f64>,
    /// Heat per voxel of the input, `[slices, size, size]`, 0..1 over the whole exam (negative
    /// CAM values count as 0).
    #[serde(skip)]
    pub heat: Vec<f32>,
    /// The input slices as the model saw them, 0..255.
    #[serde(skip)]
    pub grey: Vec<u8>,
    /// `[slices, size, size]`.
    pub shape: [usize; 3],
    /// Shape of the source volume.
    pub source_shape: [usize; 3],
    /// True when the input is the whole in-plane field of view (central selection), so that
    /// source boxes map to it by scaling.
    #[serde(skip)]
    pub whole_plane: bool,
}

impl Explanation {
    /// Share of the heat inside `roi` (source voxel box) and whether the hottest voxel lies in
    /// it (the pointing game). `None` for ROI-cropped inputs, boxes outside the slices seen, or
    /// maps without heat.
    pub fn roi_figures(&self, roi: RoiBox) -> Option<(f64, bool)> {
        if !self.whole_plane {
            return None;
        }
        let [s, h, w] = self.shape;
        let [_, rows, cols] = self.source_shape;
        let first = self.prediction.slices[0];
        let s0 = roi.s0.max(first) - first;
        let s1 = roi.s1.min(first + s).saturating_sub(first);
        let scale = |v: usize, from: usize, to: usize| v as f64 * to as f64 / from as f64;
        let (r0, r1) = (
            scale(roi.r0, rows, h).floor() as usize,
            (scale(roi.r1, rows, h).ceil() as usize).min(h),
        );
        let (c0, c1) = (
            scale(roi.c0, cols, w).floor() as usize,
            (scale(roi.c1, cols, w).ceil() as usize).min(w),
        );
        if s0 >= s1 || r0 >= r1 || c0 >= c1 {
            return None;
        }
        let inside = |i: usize| {
            let (k, r, c) = (i / (h * w), (i / w) % h, i % w);
            (s0..s1).contains(&k) && (r0..r1).contains(&r) && (c0..c1).contains(&c)
        };
        let total: f64 = self.heat.iter().map(|&v| f64::from(v)).sum();
        if total <= 0.0 {
            return None;
        }
        let within: f64 = self
            .heat
            .iter()
            .enumerate()
            .filter(|(i, _)| inside(*i))
            .map(|(_, &v)| f64::from(v))
            .sum();
        let hottest = self
            .heat
            .iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |best, (i, &v)| if v > best.1 { (i, v) } else { best },
            )
            .0;
        Some((within / total, inside(hottest)))
    }
}

impl LoadedRun {
    /// Explains the call on `volume`: CAM when the head is linear (else Grad-CAM) unless
    /// `method` says otherwise, for the predicted class unless `class` is given.
    pub fn explain(
        &self,
        volume: &Volume,
        roi: Option<RoiBox>,
        method: Option<Method>,
        class: Option<usize>,
    ) -> Result<Explanation, TrainError> {
        use cruciate_models::explain::{class_activation_map, grad_cam, slice_importance};
        let (bytes, shape, first) =
            prepare_volume(volume, roi, &self.config.data).map_err(TrainError::Data)?;
        let out = self.forward_prepared(&bytes, shape);
        let prediction = self.prediction(&out, first);
        let classes = prediction.probabilities.len();
        let target = class.unwrap_or(prediction.class);
        if target >= classes {
            return Err(TrainError::Config(format!(
                "class {target} does not exist (the model has {classes})"
            )));
        }
        let [s, h, w] = shape;
        let method = method.unwrap_or(if self.model.hidden.is_none() {
            Method::Cam
        } else {
            Method::GradCam
        });
        let raw = match method {
            Method::Cam => class_activation_map(&self.model, out.activations.clone(), target)
                .ok_or_else(|| {
                    TrainError::Config(
                        "CAM needs a linear head; this model has a hidden layer: use Grad-CAM"
                            .into(),
                    )
                })?,
            Method::GradCam => grad_cam(&self.model, out.activations.clone(), target),
        };
        let [_, mh, mw] = raw.dims();
        let raw = to_vec(raw);
        let top = raw.iter().copied().fold(0.0f64, f64::max);
        let mut heat = Vec::with_capacity(s * h * w);
        for map in raw.chunks_exact(mh * mw) {
            let positive: Vec<f32> = map
                .iter()
                .map(|&v| {
                    if top > 0.0 {
                        (v.max(0.0) / top) as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            heat.extend(cruciate_prep::resize_slice(&positive, mh, mw, h, w));
        }
        Ok(Explanation {
            slice_importance: slice_importance(&self.model, out.slice_features),
            prediction,
            method,
            target,
            heat,
            grey: bytes,
            shape,
            source_shape: volume.shape,
            whole_plane: self.config.data.selection == crate::config::Selection::Central,
        })
    }
}
