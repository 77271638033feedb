//! Exam models: a backbone on every slice, global pooling of each slice's feature maps (average
//! by default, as MRNet; or maximum), pooling over the slices and a classification head (MRNet:
//! AlexNet features, max over slices, `Linear(256, K)`).

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{elu, gelu, leaky_relu, relu, softmax};
use serde::{Deserialize, Serialize};

use crate::backbone::Backbone;

/// How slice features become one exam feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlicePooling {
    /// Element-wise maximum over slices (MRNet).
    #[default]
    Max,
    /// Mean over slices.
    Mean,
    /// A learned softmax weighting of the slices.
    Attention,
}

/// How a slice's feature maps `[C, h, w]` become its feature vector `[C]`.
///
/// Global average pooling (MRNet's) suits findings that fill much of the field; a finding a
/// few pixels across (a meniscal tear at 128 px is a line one pixel thick) is diluted by the
/// average over every position, and a global maximum keeps it (as in multiple-instance
/// learning). Measured on three-plane phantoms: `docs/study.md`, "Three planes, three findings".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpatialPooling {
    /// Mean over every position (global average pooling; MRNet).
    #[default]
    Mean,
    /// Maximum over every position (global max pooling).
    Max,
}

impl SpatialPooling {
    /// `[S, C, h, w]` feature maps to `[S, C]` slice features.
    pub fn apply(self, maps: Tensor<4>) -> Tensor<2> {
        let [s, c, _, _] = maps.dims();
        match self {
            SpatialPooling::Mean => maps.mean_dim(3).mean_dim(2),
            SpatialPooling::Max => maps.max_dim(3).max_dim(2),
        }
        .reshape([s, c])
    }
}

/// The non-linearity of a head's hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadActivation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `max(0.01 x, x)`.
    LeakyRelu,
    /// `x` above 0, `exp(x) - 1` below.
    Elu,
    /// Gaussian error linear unit.
    Gelu,
}

impl HeadActivation {
    fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            HeadActivation::Relu => relu(x),
            HeadActivation::LeakyRelu => leaky_relu(x, 0.01),
            HeadActivation::Elu => elu(x, 1.0),
            HeadActivation::Gelu => gelu(x),
        }
    }
}

/// The classification head: MRNet's single `Linear(C, K)` by default, or a hidden layer with an
/// activation; dropout before the last layer in both cases.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HeadConfig {
    /// Width of the hidden layer; 0 for none (MRNet).
    pub hidden: usize,
    /// Activation after the hidden layer.
    pub activation: HeadActivation,
    /// Dropout probability on the pooled features (and the hidden layer's output).
    pub dropout: f64,
}

/// What an exam model computes, kept for explanations (CAM, Grad-CAM, slice importance).
#[derive(Debug, Clone)]
pub struct ExamOutput {
    /// Class scores before softmax, `[1, K]`.
    pub logits: Tensor<2>,
    /// Per-slice pooled features, `[S, C]`.
    pub slice_features: Tensor<2>,
    /// The backbone's last feature maps, `[S, C, h, w]`.
    pub activations: Tensor<4>,
}

/// A backbone, slice pooling and a linear head over `K` classes.
#[derive(Module, Debug)]
pub struct ExamModel {
    /// The per-slice feature extractor.
    pub backbone: Backbone,
    /// Slice scoring for attention pooling.
    pub attention: Option<Linear>,
    /// Optional hidden layer of the head.
    pub hidden: Option<Linear>,
    /// The classifier, `Linear(C or hidden, K)` (MRNet's `classifier`).
    pub head: Linear,
    dropout: Dropout,
    #[module(skip)]
    pooling: SlicePooling,
    #[module(skip)]
    spatial: SpatialPooling,
    #[module(skip)]
    activation: HeadActivation,
}

impl ExamModel {
    /// A model over `backbone` whose feature maps have `channels` channels, for `classes` classes,
    /// with MRNet's head (one linear layer, no dropout).
    pub fn new(
        backbone: Backbone,
        channels: usize,
        classes: usize,
        pooling: SlicePooling,
        device: &Device,
    ) -> Self {
        Self::with_head(
            backbone,
            channels,
            classes,
            pooling,
            HeadConfig::default(),
            device,
        )
    }

    /// As [`ExamModel::new`] with the head described by `head`.
    pub fn with_head(
        backbone: Backbone,
        channels: usize,
        classes: usize,
        pooling: SlicePooling,
        head: HeadConfig,
        device: &Device,
    ) -> Self {
        let hidden =
            (head.hidden > 0).then(|| LinearConfig::new(channels, head.hidden).init(device));
        let last_in = if head.hidden > 0 {
            head.hidden
        } else {
            channels
        };
        Self {
            backbone,
            attention: (pooling == SlicePooling::Attention)
                .then(|| LinearConfig::new(channels, 1).init(device)),
            hidden,
            head: LinearConfig::new(last_in, classes).init(device),
            dropout: DropoutConfig::new(head.dropout).init(),
            pooling,
            spatial: SpatialPooling::Mean,
            activation: head.activation,
        }
    }

    /// The same model with each slice's feature maps pooled by `spatial` (average by default).
    pub fn with_spatial_pooling(mut self, spatial: SpatialPooling) -> Self {
        self.spatial = spatial;
        self
    }

    /// How each slice's feature maps are pooled.
    pub fn spatial_pooling(&self) -> SpatialPooling {
        self.spatial
    }

    /// The model giving only the scores `classes` of this one's head: the same backbone, slice
    /// pooling and hidden layer, with those outputs of the last layer (one finding's head of a
    /// joint network, whose findings' scores lie side by side).
    pub fn answering(&self, classes: std::ops::Range<usize>) -> ExamModel {
        let mut model = self.clone();
        let (start, len) = (classes.start, classes.len());
        model.head.weight = Param::from_tensor(self.head.weight.val().narrow(1, start, len));
        model.head.bias = self
            .head
            .bias
            .as_ref()
            .map(|b| Param::from_tensor(b.val().narrow(0, start, len)));
        model
    }

    /// Class scores of pooled features `[N, C]` (or of single slices' features).
    pub fn classify(&self, pooled: Tensor<2>) -> Tensor<2> {
        let mut x = self.dropout.forward(pooled);
        if let Some(hidden) = &self.hidden {
            x = self
                .dropout
                .forward(self.activation.apply(hidden.forward(x)));
        }
        self.head.forward(x)
    }

    /// The slice pooling in use.
    pub fn pooling(&self) -> SlicePooling {
        self.pooling
    }

    /// `[S, 3, H, W]` slices of one exam to its logits and intermediate results.
    pub fn forward(&self, slices: Tensor<4>) -> ExamOutput {
        self.from_activations(self.backbone.forward(slices))
    }

    /// Everything after the backbone: from its feature maps `[S, C, h, w]` to the logits
    /// (what explanations differentiate).
    pub fn from_activations(&self, activations: Tensor<4>) -> ExamOutput {
        let slice_features = self.spatial.apply(activations.clone());
        let pooled = match (self.pooling, &self.attention) {
            (SlicePooling::Attention, Some(score)) => {
                let weights = softmax(score.forward(slice_features.clone()), 0);
                (slice_features.clone() * weights).sum_dim(0)
            }
            (SlicePooling::Mean, _) => slice_features.clone().mean_dim(0),
            _ => slice_features.clone().max_dim(0),
        };
        ExamOutput {
            logits: self.classify(pooled),
            slice_features,
            activations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BackboneKind;

    #[test]
    fn pooling_variants_give_one_score_per_class() {
        let device = Device::flex();
        let slices = Tensor::random(
            [5, 3, 64, 64],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        for pooling in [
            SlicePooling::Max,
            SlicePooling::Mean,
            SlicePooling::Attention,
        ] {
            let model = ExamModel::new(BackboneKind::Small.init(&device), 128, 4, pooling, &device);
            let out = model.forward(slices.clone());
            assert_eq!(out.logits.dims(), [1, 4]);
            assert_eq!(out.slice_features.dims(), [5, 128]);
            assert_eq!(out.activations.dims(), [5, 128, 4, 4]);
            if pooling == SlicePooling::Max {
                // MRNet: the head sees the element-wise maximum over slices.
                let pooled = out.slice_features.max_dim(0);
                let direct = model.head.forward(pooled);
                let diff = (direct - out.logits).abs().max().into_scalar::<f32>();
                assert!(diff < 1e-6);
            }
        }
    }

    /// A finding's head cut from a joint network scores as that head does inside it.
    #[test]
    fn a_head_cut_from_a_joint_model_gives_its_scores() {
        let device = Device::flex();
        let slices = Tensor::random(
            [3, 3, 64, 64],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let joint = ExamModel::new(
            BackboneKind::Small.init(&device),
            128,
            6,
            SlicePooling::Max,
            &device,
        );
        let all = joint.forward(slices.clone()).logits;
        for finding in 0..3 {
            let one = joint.answering(2 * finding..2 * finding + 2);
            assert_eq!(one.head.weight.val().dims(), [128, 2]);
            let cut = one.forward(slices.clone()).logits;
            let inside = all.clone().slice([0..1, 2 * finding..2 * finding + 2]);
            let diff = (cut - inside).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-6, "finding {finding}: {diff}");
        }
    }

    #[test]
    fn spatial_max_pooling_keeps_a_one_pixel_finding_that_the_average_dilutes() {
        let device = Device::flex();
        // Two slices of one channel, 8x8: zero but for one bright pixel on the second slice.
        let mut maps = vec![0.0f32; 2 * 8 * 8];
        maps[64 + 3 * 8 + 5] = 6.4;
        let maps = Tensor::<4>::from_data(TensorData::new(maps, [2, 1, 8, 8]), &device);
        let features = |spatial: SpatialPooling| {
            spatial
                .apply(maps.clone())
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(features(SpatialPooling::Mean), vec![0.0, 0.1]);
        assert_eq!(features(SpatialPooling::Max), vec![0.0, 6.4]);

        let model = ExamModel::new(
            BackboneKind::Small.init(&device),
            1,
            2,
            SlicePooling::Max,
            &device,
        );
        assert_eq!(model.spatial_pooling(), SpatialPooling::Mean, "MRNet's");
        let model = model.with_spatial_pooling(SpatialPooling::Max);
        let out = model.from_activations(maps);
        let pooled: Vec<f32> = out.slice_features.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![0.0, 6.4]);
    }
}
