//! Training an exam model with its backbone's passes on oneDNN: the forward pass (batch norms
//! by the batch's statistics, their running statistics moved as Burn's training mode moves
//! them) and the gradients of every convolution and batch norm come from [`DnnlTrainer`]; the
//! rest of the model (slice pooling, head, loss) stays in Burn's autodiff, which hands back
//! the gradient of the backbone's output. The parameters and the optimiser stay Burn's (f32
//! master weights).
//!
//! Why not a Burn backend decorator: Burn 0.22's tensors dispatch to backends at run time
//! (`Tensor<D>` without a backend type), which leaves no seam to replace one operation's
//! backward pass; cutting the graph at the backbone's output needs none, and the backbone is
//! where the time goes.

use std::sync::Mutex;

use burn::module::{Param, ParamId};
use burn::nn::BatchNorm;
use burn::optim::GradientsParams;
use burn::prelude::*;
use cruciate_engine::{
    BatchStatistics, ConvStack, DnnlTrainer, EngineChoice, EngineError, Resolved, TrainingForward,
};

use crate::backbone::LayerParams;
use crate::{ExamModel, ExamOutput};

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

/// Moves `norm`'s running statistics towards a training batch's, as Burn's training-mode
/// forward pass does: `running = (1 - momentum) * running + momentum * batch` (the variance
/// biased, as Burn keeps it).
fn update_running(norm: &BatchNorm, batch: BatchStatistics) {
    let channels = batch.mean.len();
    let momentum = norm.momentum;
    let moved = |running: Tensor<1>, values: Vec<f32>| {
        let batch = Tensor::<1>::from_data(TensorData::new(values, [channels]), &running.device());
        running
            .mul_scalar(1.0 - momentum)
            .add(batch.mul_scalar(momentum))
            .detach()
    };
    norm.running_mean
        .update(moved(norm.running_mean.value_sync(), batch.mean));
    norm.running_var
        .update(moved(norm.running_var.value_sync(), batch.var));
}

impl BackboneTrainer {
    /// The trainer `choice` means: `None` for Flex. Every backbone trains on oneDNN (batch
    /// norms by the batch's statistics, as in Burn's training mode).
    pub fn new(choice: EngineChoice) -> Result<Option<Self>, EngineError> {
        let Resolved::Dnnl(precision) = choice.resolve()? else {
            return Ok(None);
        };
        Ok(Some(Self {
            trainer: Mutex::new(DnnlTrainer::new(precision)?),
            resolved: Resolved::Dnnl(precision),
        }))
    }

    /// What computes the backbone's passes.
    pub fn resolved(&self) -> Resolved {
        self.resolved
    }

    /// The backbone's feature maps of `slices` through oneDNN with `stack`'s weights (the
    /// model's), and its batch norms' batch statistics.
    fn backbone_forward(
        trainer: &mut DnnlTrainer,
        stack: &ConvStack,
        slices: Tensor<4>,
    ) -> Result<(Tensor<4>, TrainingForward), EngineError> {
        let device = slices.device();
        let shape = slices.dims();
        let mut forward = trainer.forward(stack, &floats(slices)?, shape)?;
        let maps = std::mem::take(&mut forward.output);
        Ok((
            Tensor::<4>::from_data(TensorData::new(maps, forward.shape), &device),
            forward,
        ))
    }

    /// The model's outputs on `slices` with the backbone on oneDNN, batch norms by their
    /// running statistics: what a validation step needs (the weights change every step, so the
    /// inference engine's packed weights would not do).
    pub fn forward(&self, model: &ExamModel, slices: Tensor<4>) -> Result<ExamOutput, EngineError> {
        let mut stack = model.backbone.conv_stack();
        for layer in &mut stack.layers {
            if let cruciate_engine::Layer::Conv(c) = layer
                && let Some(norm) = &mut c.norm
            {
                norm.batch_statistics = false;
            }
        }
        let mut trainer = self.trainer.lock().unwrap_or_else(|p| p.into_inner());
        let (maps, _) = Self::backbone_forward(&mut trainer, &stack, slices)?;
        Ok(model.from_activations(maps))
    }

    /// The logits of `model` (on an autodiff device) on `slices`, the loss `loss` makes of
    /// them, and the gradients of every trained parameter, as Burn's optimisers take them; the
    /// batch norms' running statistics move as in Burn's training-mode forward pass.
    pub fn step(
        &self,
        model: &ExamModel,
        slices: Tensor<4>,
        loss: impl FnOnce(Tensor<2>) -> Tensor<1>,
    ) -> Result<(Tensor<2>, Tensor<1>, GradientsParams), EngineError> {
        let device = slices.device();
        let (stack, params) = model.backbone.stack_with_params();
        let mut trainer = self.trainer.lock().unwrap_or_else(|p| p.into_inner());
        let (maps, forward) = Self::backbone_forward(&mut trainer, &stack, slices)?;
        for (layer, statistics) in params.iter().zip(forward.statistics) {
            if let (
                Some(LayerParams {
                    norm: Some(norm), ..
                }),
                Some(batch),
            ) = (layer, statistics)
            {
                update_running(norm, batch);
            }
        }
        let activations = maps.require_grad();
        let out = model.from_activations(activations.clone());
        let loss = loss(out.logits.clone());
        let mut gradients = loss.backward();
        let upstream = activations
            .grad_remove(&mut gradients)
            .ok_or_else(|| EngineError::Library("no gradient reached the backbone".into()))?;
        let mut grads = GradientsParams::from_grads(gradients, model);
        let layer_grads = trainer.backward(&stack, &floats(upstream)?)?;
        for (layer, g) in params.into_iter().zip(layer_grads) {
            let (Some(LayerParams { conv, norm }), Some(g)) = (layer, g) else {
                continue;
            };
            register(&mut grads, &conv.weight, g.weights, &device);
            if let Some(bias) = &conv.bias {
                register(&mut grads, bias, g.bias, &device);
            }
            if let (Some(norm), Some(ng)) = (norm, g.norm) {
                register(&mut grads, &norm.gamma, ng.gamma, &device);
                register(&mut grads, &norm.beta, ng.beta, &device);
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
