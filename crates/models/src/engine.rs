//! Which engine runs a backbone's forward pass: Burn (on the compute device) or a faster
//! engine from [`cruciate_engine`] fed the same weights. Everything after the backbone
//! (pooling, head, explanations) stays in Burn, so one checkpoint serves every engine.

use burn::prelude::*;
use cruciate_engine::{DnnlBackbone, EngineChoice, EngineError, Resolved};

use crate::Backbone;

/// How a backbone's forward pass is computed.
pub struct BackboneEngine {
    dnnl: Option<DnnlBackbone>,
    resolved: Resolved,
}

impl BackboneEngine {
    /// Burn on the model's own device.
    pub fn burn() -> Self {
        Self {
            dnnl: None,
            resolved: Resolved::Flex,
        }
    }

    /// The engine `choice` means for `backbone` on this machine (every backbone runs on
    /// oneDNN, with its batch norms folded in).
    pub fn new(backbone: &Backbone, choice: EngineChoice) -> Result<Self, EngineError> {
        let Resolved::Dnnl(precision) = choice.resolve()? else {
            return Ok(Self::burn());
        };
        Ok(Self {
            dnnl: Some(DnnlBackbone::new(backbone.conv_stack(), precision)?),
            resolved: Resolved::Dnnl(precision),
        })
    }

    /// What computes: `flex f32`, `dnnl bf16`, ...
    pub fn resolved(&self) -> Resolved {
        self.resolved
    }

    /// `[N, 3, H, W]` images to the backbone's `[N, C, h, w]` feature maps, on `backbone`'s
    /// device. A failure of the fast engine (which its tests rule out for valid inputs) is
    /// logged and the pass recomputed by Burn.
    pub fn forward(&self, backbone: &Backbone, x: Tensor<4>) -> Tensor<4> {
        if self.dnnl.is_none() {
            return backbone.forward(x);
        }
        let device = x.device();
        let shape = x.dims();
        let values = x
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 after convert");
        self.forward_values(backbone, &values, shape, &device)
    }

    /// As [`Self::forward`] for images given as row-major values of shape `shape` (what input
    /// preparation makes), without a tensor in between.
    pub fn forward_values(
        &self,
        backbone: &Backbone,
        values: &[f32],
        shape: [usize; 4],
        device: &Device,
    ) -> Tensor<4> {
        let from_values =
            |values: &[f32]| Tensor::from_data(TensorData::new(values.to_vec(), shape), device);
        let Some(dnnl) = &self.dnnl else {
            return backbone.forward(from_values(values));
        };
        match dnnl.run(values, shape) {
            Ok((maps, out)) => Tensor::from_data(TensorData::new(maps, out), device),
            Err(e) => {
                tracing::warn!("the dnnl engine failed ({e}); computing with Burn instead");
                backbone.forward(from_values(values))
            }
        }
    }
}
