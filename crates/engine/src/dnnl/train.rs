//! Training a convolution stack through oneDNN: forward, then the weight and bias gradients of
//! every convolution from the gradient of the stack's output. The weights stay with the caller
//! (f32 master weights, updated by its optimiser); each pass takes them as they are now.

use super::{ShapeCache, cached, ffi};
use crate::{ConvStack, EngineError, Layer, Precision};

/// A convolution's gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGrads {
    /// `[cout, cin, k, k]`.
    pub weights: Vec<f32>,
    /// `[cout]`.
    pub bias: Vec<f32>,
}

/// Forward and backward passes of one stack (one layer geometry) through oneDNN, at one
/// precision; primitives are built once per input shape.
pub struct DnnlTrainer {
    precision: Precision,
    compiled: ShapeCache<ffi::Training>,
}

impl std::fmt::Debug for DnnlTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnnlTrainer")
            .field("precision", &self.precision)
            .field("shapes", &self.compiled.len())
            .finish()
    }
}

impl DnnlTrainer {
    /// A trainer computing in `precision` (weight gradients are f32 in every case).
    pub fn new(precision: Precision) -> Result<Self, EngineError> {
        if !super::available() {
            return Err(EngineError::Unavailable);
        }
        Ok(Self {
            precision,
            compiled: Vec::new(),
        })
    }

    /// The precision of its activations and their gradients.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The stack's output on `input` (`[N, C, H, W]`, row-major f32), kept for [`Self::backward`].
    pub fn forward(
        &mut self,
        stack: &ConvStack,
        input: &[f32],
        shape: [usize; 4],
    ) -> Result<(Vec<f32>, [usize; 4]), EngineError> {
        stack.validate()?;
        if !stack.is_chain() {
            return Err(EngineError::Unsupported(
                "the dnnl engine trains plain chains of layers (no shortcuts or \
                 concatenations); this backbone trains on flex"
                    .into(),
            ));
        }
        let out_shape = stack.check_input(input, shape)?;
        let mut output = vec![0.0; out_shape.iter().product()];
        // The most recent first: `backward` uses the first.
        cached(&mut self.compiled, shape, || {
            ffi::Training::new(stack, shape, self.precision)
        })?
        .forward(stack, input, &mut output)?;
        Ok((output, out_shape))
    }

    /// The gradients of every convolution (`None` for pools) given `diff_output`, the
    /// gradient of the last forward pass's output; `stack` must hold the weights that pass
    /// used.
    pub fn backward(
        &mut self,
        stack: &ConvStack,
        diff_output: &[f32],
    ) -> Result<Vec<Option<ConvGrads>>, EngineError> {
        let Some((shape, training)) = self.compiled.first_mut() else {
            return Err(EngineError::Unsupported(
                "backward before any forward pass".into(),
            ));
        };
        let out_shape = stack
            .output_shape(*shape)
            .ok_or_else(|| EngineError::Input(*shape, "not the forward pass's stack".into()))?;
        if diff_output.len() != out_shape.iter().product::<usize>() {
            return Err(EngineError::Input(
                out_shape,
                format!("{} output gradients given", diff_output.len()),
            ));
        }
        let mut buffers: Vec<(Vec<f32>, Vec<f32>)> = stack
            .layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv(c) => (vec![0.0; c.weights.len()], vec![0.0; c.cout]),
                Layer::MaxPool(_) | Layer::Concat(_) => (Vec::new(), Vec::new()),
            })
            .collect();
        training.backward(stack, diff_output, &mut buffers)?;
        Ok(stack
            .layers
            .iter()
            .zip(buffers)
            .map(|(layer, (weights, bias))| {
                matches!(layer, Layer::Conv(_)).then_some(ConvGrads { weights, bias })
            })
            .collect())
    }
}
