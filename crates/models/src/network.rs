//! A trained exam network as a [`Classifier`]: the run kind `network`, which `cruciate train`
//! writes and [`network_kind`](crate::network_kind) opens.
//!
//! A network run folder holds `run.json` (kind `network`, the input preparation, and in
//! `settings` the [`NetworkConfig`] that rebuilds the architecture) and `model.bpk`, the best
//! epoch's weights as a Burn burnpack record. Folders from before `run.json` (a `config.toml`,
//! `summary.json` and `checkpoint/model-E.bpk` only) are read as they are.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::softmax;
use cruciate_infer::{
    Classifier, ExplainMethod, ExplainRequest, Explanation, HeatMap, InferError, Prediction,
    RunInfo,
};
use cruciate_prep::{InputConfig, PreparedInput, prepare_input};
use cruciate_volume::Volume;
use serde::{Deserialize, Serialize};

use crate::explain::{class_activation_map, grad_cam, slice_importance};
use crate::{
    BackboneEngine, BackboneKind, ExamModel, ExamOutput, HeadActivation, HeadConfig, SlicePooling,
    SpatialPooling,
};

/// The kind name of network runs.
pub const NETWORK_KIND: &str = "network";

/// The model file of a network run, relative to its folder.
pub const MODEL_FILE: &str = "model.bpk";

/// The names networks go by: `mrnet` (AlexNet features, MRNet's recipe) and every backbone.
pub fn network_names() -> Vec<&'static str> {
    std::iter::once("mrnet")
        .chain(BackboneKind::ALL.iter().map(|k| k.name()))
        .collect()
}

/// An exam network's architecture: what rebuilds it before its weights are loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// `mrnet` or a backbone name (see [`network_names`]).
    pub name: String,
    /// Pooling over slices.
    pub pooling: SlicePooling,
    /// Pooling of each slice's feature maps (average in runs from before the choice).
    #[serde(default)]
    pub spatial: SpatialPooling,
    /// Hidden width of the head; 0 for MRNet's single linear layer.
    pub hidden: usize,
    /// Activation of the hidden layer.
    pub activation: HeadActivation,
    /// Dropout before the head's layers (active in training only).
    pub dropout: f64,
}

impl NetworkConfig {
    /// The backbone behind the name (`mrnet` is AlexNet features).
    pub fn backbone(&self) -> Option<BackboneKind> {
        BackboneKind::from_name(if self.name == "mrnet" {
            "alexnet"
        } else {
            &self.name
        })
    }

    /// The untrained network for `classes` classes on `device`; `None` for an unknown name.
    pub fn build(&self, classes: usize, device: &Device) -> Option<ExamModel> {
        let kind = self.backbone()?;
        Some(
            ExamModel::with_head(
                kind.init(device),
                kind.channels(),
                classes,
                self.pooling,
                HeadConfig {
                    hidden: self.hidden,
                    activation: self.activation,
                    dropout: self.dropout,
                },
                device,
            )
            .with_spatial_pooling(self.spatial),
        )
    }
}

/// How a network's weights file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordLayout {
    /// The exam model's own record (`model.bpk`).
    #[default]
    Model,
    /// A training checkpoint, whose parameter paths start with `model.` (runs from before
    /// `run.json`).
    Trainer,
}

/// The `settings` of a network run's `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSettings {
    /// The architecture.
    pub network: NetworkConfig,
    /// The weights file's layout.
    #[serde(default)]
    pub record: RecordLayout,
}

/// The training checkpoint's module, for loading its record: the same parameter paths as the
/// trainer's wrapper.
#[derive(Module, Debug)]
struct TrainerRecord {
    model: ExamModel,
}

/// A trained exam network, ready to grade and explain exams.
pub struct NetworkClassifier {
    info: RunInfo,
    input: InputConfig,
    model: ExamModel,
    device: Device,
    engine: BackboneEngine,
}

impl NetworkClassifier {
    /// A classifier over `model`, described by `info` (whose `input` says how exams are
    /// prepared).
    pub fn new(info: RunInfo, model: ExamModel, device: Device) -> Result<Self, InferError> {
        let input = info
            .input
            .clone()
            .ok_or_else(|| InferError::Internal("a network run needs its input settings".into()))?;
        Ok(Self {
            info,
            input,
            model,
            device,
            engine: BackboneEngine::burn(),
        })
    }

    /// The same network with its backbone run by the engine `choice` means here (Burn by
    /// default); the weights are the same, handed to the engine once.
    pub fn with_engine(
        mut self,
        choice: cruciate_engine::EngineChoice,
    ) -> Result<Self, InferError> {
        self.engine = BackboneEngine::new(&self.model.backbone, choice)
            .map_err(|e| InferError::Request(e.to_string()))?;
        Ok(self)
    }

    /// What runs the backbone.
    pub fn engine(&self) -> cruciate_engine::Resolved {
        self.engine.resolved()
    }

    /// Opens the network run in folder `run` described by `info`, on `device`.
    pub fn open(run: &Path, info: RunInfo, device: Device) -> Result<Self, InferError> {
        let settings: NetworkSettings = info.settings(run)?;
        if info.input.is_none() {
            return Err(InferError::run(run, "run.json has no input settings"));
        }
        let path = info.model_path(run)?;
        let record =
            ModuleRecord::load(&path).map_err(|e| InferError::run(&path, e.to_string()))?;
        let shell = settings
            .network
            .build(info.task.classes(), &device)
            .ok_or_else(|| {
                InferError::run(run, format!("unknown network {:?}", settings.network.name))
            })?;
        let misfit = |e: burn::store::RecordError| {
            InferError::run(&path, format!("does not fit the run's network: {e}"))
        };
        let model = match settings.record {
            RecordLayout::Model => shell.try_load_record(record).map_err(misfit)?,
            RecordLayout::Trainer => {
                TrainerRecord { model: shell }
                    .try_load_record(record)
                    .map_err(misfit)?
                    .model
            }
        };
        Self::new(info, model.valid(), device)
    }

    /// The network.
    pub fn model(&self) -> &ExamModel {
        &self.model
    }

    /// How exams are prepared for it.
    pub fn input_config(&self) -> &InputConfig {
        &self.input
    }

    /// The network's outputs on an exam prepared with [`Self::input_config`].
    fn forward(&self, input: &PreparedInput) -> ExamOutput {
        let [s, h, w] = input.shape;
        let data = input.backbone_values(
            &input.intensities(),
            self.input.pixel_scale.unwrap_or_default(),
        );
        let maps =
            self.engine
                .forward_values(&self.model.backbone, &data, [s, 3, h, w], &self.device);
        self.model.from_activations(maps)
    }

    fn prediction(&self, out: &ExamOutput, input: &PreparedInput) -> Prediction {
        let probabilities = to_vec(softmax(out.logits.clone(), 1));
        // Each slice's features alone through the head: a slice with a high score for a class
        // argues for it.
        let k = probabilities.len();
        let per_slice = to_vec(self.model.classify(out.slice_features.clone()));
        let region = input.geometry.region;
        let mut prediction = Prediction::new(
            self.info.classes.clone(),
            probabilities,
            [region.s0, region.s0 + input.shape[0]],
            per_slice.chunks_exact(k).map(<[f64]>::to_vec).collect(),
        );
        // The exam in the network's own terms, for the gate: slice features averaged.
        prediction.features = to_vec(out.slice_features.clone().mean_dim(0))
            .into_iter()
            .map(|v| v as f32)
            .collect();
        prediction
    }

    /// The call on an exam already prepared with [`Self::input_config`] (training prepares
    /// its validation exams once and scores them without reading them again).
    pub fn predict_prepared(&self, input: &PreparedInput) -> Prediction {
        self.prediction(&self.forward(input), input)
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64 after convert")
}

impl Classifier for NetworkClassifier {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        let input = prepare_input(exam, &self.input)?;
        let mut prediction = self.predict_prepared(&input);
        prediction
            .warnings
            .extend(self.info.training.region_warning(exam));
        Ok(prediction)
    }

    /// CAM when the head is linear, Grad-CAM otherwise (or as asked); the maps of every slice
    /// seen, scaled together so that the exam's hottest voxel is 1.
    fn explain(&self, exam: &Volume, request: &ExplainRequest) -> Result<Explanation, InferError> {
        let input = prepare_input(exam, &self.input)?;
        let out = self.forward(&input);
        let mut prediction = self.prediction(&out, &input);
        prediction
            .warnings
            .extend(self.info.training.region_warning(exam));
        let classes = prediction.probabilities.len();
        let target = request.class.unwrap_or(prediction.class);
        if target >= classes {
            return Err(InferError::Request(format!(
                "class {target} does not exist: the model has classes 0..{} ({})",
                classes - 1,
                self.info.classes.join(", ")
            )));
        }
        let linear = self.model.hidden.is_none();
        let method = request.method.unwrap_or(if linear {
            ExplainMethod::Cam
        } else {
            ExplainMethod::GradCam
        });
        let raw = match method {
            ExplainMethod::Cam => {
                class_activation_map(&self.model, out.activations.clone(), target).ok_or_else(
                    || {
                        InferError::Request(
                            "CAM needs a linear head; this model has a hidden layer: use Grad-CAM"
                                .into(),
                        )
                    },
                )?
            }
            ExplainMethod::GradCam => grad_cam(&self.model, out.activations.clone(), target),
            ExplainMethod::Occlusion => return cruciate_infer::occlusion(self, exam, request),
        };
        let dims = raw.dims();
        let maps: Vec<f32> = to_vec(raw).into_iter().map(|v| v as f32).collect();
        Ok(Explanation {
            slice_importance: slice_importance(&self.model, out.slice_features),
            prediction,
            method,
            target,
            heat: HeatMap::from_input_maps(exam.shape, &input.geometry, maps, dims),
        })
    }
}
