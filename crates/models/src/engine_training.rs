//! Training an exam model with its backbone's passes on oneDNN: the forward pass and the
//! gradients of every convolution come from [`DnnlTrainer`]; the rest of the model (slice
//! pooling, head, loss) stays in Burn's autodiff, which hands back the gradient of the
//! backbone's output. The parameters and the optimiser stay Burn's (f32 master weights).
//!
//! Why not a Burn backend decorator: Burn 0.22's tensors dispatch to backends at run time
//! (`Tensor<D>` without a backend type), which leaves no seam to replace one operation's
//! backward pass; cutting the graph at the backbone's output needs none, and the backbone is
//! where the time goes.

use std::sync::Mutex;

use burn::module::{Param, ParamId};
use burn::nn::conv::Conv2d;
use burn::optim::GradientsParams;
use burn::prelude::*;
use cruciate_engine::{ConvStack, DnnlTrainer, EngineChoice, EngineError, EngineKind, Resolved};

use crate::{Backbone, ExamModel, ExamOutput};

/// The backbone's passes on oneDNN for training; shared by the training steps of one run.
pub struct BackboneTrainer {
    trainer: Mutex<DnnlTrainer>,
    resolved: Resolved,
}

impl std::fmt::Debug for BackboneTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackboneTrainer")
            .field("engine", &self.resolved.to_string())
            .finish()
    }
}

/// The convolutions of a backbone that trains through oneDNN, in stack order (AlexNet, and
/// VGG without batch norms: a batch norm in training normalises by the batch's statistics,
/// which a folded convolution cannot).
fn convolutions(backbone: &Backbone) -> Option<Vec<&Conv2d>> {
    match backbone {
        Backbone::AlexNet(m) => Some(m.features.iter().collect()),
        Backbone::Vgg(m) if m.norms.is_empty() => Some(m.convs.iter().collect()),
        _ => None,
    }
}

/// The gradient tensor registered for one parameter.
fn register<const D: usize>(
    grads: &mut GradientsParams,
    param: &Param<Tensor<D>>,
    values: Vec<f32>,
    device: &Device,
) {
    if param.is_require_grad() {
        let shape = param.val().dims();
        let id: ParamId = param.id;
        grads.register(
            id,
            Tensor::<D>::from_data(TensorData::new(values, shape), device).without_autodiff(),
        );
    }
}

impl BackboneTrainer {
    /// The trainer `choice` means for `backbone`: `None` for Flex, and under `auto` for a
    /// backbone oneDNN does not train (batch norms, ResNet, SqueezeNet); asking for `dnnl` by
    /// name for one is an error.
    pub fn new(backbone: &Backbone, choice: EngineChoice) -> Result<Option<Self>, EngineError> {
        let Resolved::Dnnl(precision) = choice.resolve()? else {
            return Ok(None);
        };
        if convolutions(backbone).is_none() {
            return match choice.engine {
                EngineKind::Auto => Ok(None),
                _ => Err(EngineError::Unsupported(
                    "the dnnl engine trains AlexNet (MRNet) and VGG without batch norms; this \
                     backbone trains on flex"
                        .into(),
                )),
            };
        }
        Ok(Some(Self {
            trainer: Mutex::new(DnnlTrainer::new(precision)?),
            resolved: Resolved::Dnnl(precision),
        }))
    }

    /// What computes the backbone's passes.
    pub fn resolved(&self) -> Resolved {
        self.resolved
    }

    /// The backbone's feature maps of `slices` through oneDNN with the model's current
    /// weights, and the stack they came from (for the backward pass).
    fn backbone_forward(
        trainer: &mut DnnlTrainer,
        model: &ExamModel,
        slices: Tensor<4>,
    ) -> Result<(Tensor<4>, ConvStack), EngineError> {
        let stack = model.backbone.conv_stack();
        let device = slices.device();
        let shape = slices.dims();
        let (maps, out_shape) = trainer.forward(&stack, &floats(slices)?, shape)?;
        Ok((
            Tensor::<4>::from_data(TensorData::new(maps, out_shape), &device),
            stack,
        ))
    }

    /// The model's outputs on `slices` with the backbone on oneDNN: what a validation step
    /// needs (the weights change every step, so the inference engine's packed weights would
    /// not do).
    pub fn forward(&self, model: &ExamModel, slices: Tensor<4>) -> Result<ExamOutput, EngineError> {
        let mut trainer = self.trainer.lock().unwrap_or_else(|p| p.into_inner());
        let (maps, _) = Self::backbone_forward(&mut trainer, model, slices)?;
        Ok(model.from_activations(maps))
    }

    /// The logits of `model` (on an autodiff device) on `slices`, the loss `loss` makes of
    /// them, and the gradients of every trained parameter, as Burn's optimisers take them.
    pub fn step(
        &self,
        model: &ExamModel,
        slices: Tensor<4>,
        loss: impl FnOnce(Tensor<2>) -> Tensor<1>,
    ) -> Result<(Tensor<2>, Tensor<1>, GradientsParams), EngineError> {
        let convs = convolutions(&model.backbone)
            .ok_or_else(|| EngineError::Unsupported("not a backbone oneDNN trains".into()))?;
        let device = slices.device();
        let mut trainer = self.trainer.lock().unwrap_or_else(|p| p.into_inner());
        let (maps, stack) = Self::backbone_forward(&mut trainer, model, slices)?;
        let activations = maps.require_grad();
        let out = model.from_activations(activations.clone());
        let loss = loss(out.logits.clone());
        let mut gradients = loss.backward();
        let upstream = activations
            .grad_remove(&mut gradients)
            .ok_or_else(|| EngineError::Library("no gradient reached the backbone".into()))?;
        let mut grads = GradientsParams::from_grads(gradients, model);
        let conv_grads = trainer
            .backward(&stack, &floats(upstream)?)?
            .into_iter()
            .flatten();
        for (conv, g) in convs.into_iter().zip(conv_grads) {
            register(&mut grads, &conv.weight, g.weights, &device);
            if let Some(bias) = &conv.bias {
                register(&mut grads, bias, g.bias, &device);
            }
        }
        Ok((out.logits, loss, grads))
    }
}

/// A tensor's values as f32.
fn floats<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, EngineError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| EngineError::Library(format!("{e:?}")))
}
