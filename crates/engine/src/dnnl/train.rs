//! Training a backbone through oneDNN: forward (batch norms by the batch's statistics), then
//! the gradients of every convolution's weights and bias and every batch norm's scale and
//! shift from the gradient of the backbone's output. The weights stay with the caller
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
    /// Its batch norm's, when it has one.
    pub norm: Option<NormGrads>,
}

/// A batch norm's gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct NormGrads {
    /// Of the scale, `[cout]`.
    pub gamma: Vec<f32>,
    /// Of the shift, `[cout]`.
    pub beta: Vec<f32>,
}

/// The statistics a batch norm normalised a training batch by (what its running statistics
/// move towards).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStatistics {
    /// Per-channel mean, `[cout]`.
    pub mean: Vec<f32>,
    /// Per-channel biased variance (the mean squared deviation), `[cout]`.
    pub var: Vec<f32>,
}

/// A training forward pass's results.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingForward {
    /// The stack's output, row-major.
    pub output: Vec<f32>,
    /// Its shape, `[N, C, h, w]`.
    pub shape: [usize; 4],
    /// Per layer, the batch statistics of its batch norm when it normalised by them.
    pub statistics: Vec<Option<BatchStatistics>>,
}

/// Forward and backward passes of one stack (one layer geometry) through oneDNN, at one
/// precision; primitives are built once per input shape.
pub struct DnnlTrainer {
    precision: Precision,
    compiled: ShapeCache<ffi::Training, TrainingKey>,
    memory_budget: usize,
}

/// The memory the primitives of the input shapes met may hold together (the latest shape's are
/// kept whatever their size): training primitives hold every activation and its gradient (a
/// process training ResNet-50 on 8 slices of 224x224 in bf16 peaked at 1.5 GB, measured, and
/// a 32-slice MRNet exam at 256x256 is five times the pixels), so keeping four shapes of it,
/// as the inference engine does, would not fit a 24 GB machine.
const KEPT_TRAINING_BYTES: usize = 4 << 30;

/// What training primitives are built for: the input shape and, per layer, whether its batch
/// norm normalises by the batch (oneDNN bakes that into the primitive).
type TrainingKey = ([usize; 4], Vec<bool>);

fn training_key(stack: &ConvStack, shape: [usize; 4]) -> TrainingKey {
    let by_batch = stack
        .layers
        .iter()
        .map(|layer| match layer {
            Layer::Conv(c) => c.norm.as_ref().is_some_and(|n| n.batch_statistics),
            _ => false,
        })
        .collect();
    (shape, by_batch)
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
            memory_budget: KEPT_TRAINING_BYTES,
        })
    }

    /// The same trainer keeping the primitives of earlier input shapes only while all it
    /// holds stays within `bytes` (the latest shape's are kept whatever their size).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// The bytes its primitives hold now (activations, gradients, packed weights), and for
    /// how many input shapes.
    pub fn held(&self) -> (usize, usize) {
        let bytes = self.compiled.iter().map(|(_, t)| t.bytes()).sum();
        (bytes, self.compiled.len())
    }

    /// The precision of its activations and their gradients.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The stack's output on `input` (`[N, C, H, W]`, row-major f32), and its batch norms'
    /// batch statistics; kept for [`Self::backward`].
    pub fn forward(
        &mut self,
        stack: &ConvStack,
        input: &[f32],
        shape: [usize; 4],
    ) -> Result<TrainingForward, EngineError> {
        stack.validate()?;
        let out_shape = stack.check_input(input, shape)?;
        let mut output = vec![0.0; out_shape.iter().product()];
        let mut statistics: Vec<[Vec<f32>; 2]> = stack
            .layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv(c) if c.norm.as_ref().is_some_and(|n| n.batch_statistics) => {
                    [vec![0.0; c.cout], vec![0.0; c.cout]]
                }
                _ => [Vec::new(), Vec::new()],
            })
            .collect();
        // The most recent first: `backward` uses the first.
        cached(&mut self.compiled, training_key(stack, shape), || {
            ffi::Training::new(stack, shape, self.precision)
        })?
        .forward(stack, input, &mut output, &mut statistics)?;
        // Older shapes' primitives go while all of them hold more than the budget.
        while self.compiled.len() > 1 && self.held().0 > self.memory_budget {
            self.compiled.pop();
        }
        Ok(TrainingForward {
            output,
            shape: out_shape,
            statistics: statistics
                .into_iter()
                .map(|[mean, var]| (!mean.is_empty()).then_some(BatchStatistics { mean, var }))
                .collect(),
        })
    }

    /// The gradients of every convolution and its batch norm (`None` for pools and
    /// concatenations) given `diff_output`, the gradient of the last forward pass's output,
    /// at the weights that pass used; `stack` is that pass's (for its shapes). A layer whose
    /// output nothing reads gets zeros.
    pub fn backward(
        &mut self,
        stack: &ConvStack,
        diff_output: &[f32],
    ) -> Result<Vec<Option<ConvGrads>>, EngineError> {
        let Some(((shape, _), training)) = self.compiled.first_mut() else {
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
        let mut buffers: Vec<[Vec<f32>; 4]> = stack
            .layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv(c) => {
                    let norm = if c.norm.is_some() { c.cout } else { 0 };
                    [
                        vec![0.0; c.weights.len()],
                        vec![0.0; c.cout],
                        vec![0.0; norm],
                        vec![0.0; norm],
                    ]
                }
                Layer::MaxPool(_) | Layer::Concat(_) => Default::default(),
            })
            .collect();
        training.backward(diff_output, &mut buffers)?;
        Ok(stack
            .layers
            .iter()
            .zip(buffers)
            .map(|(layer, [weights, bias, gamma, beta])| {
                let Layer::Conv(c) = layer else { return None };
                Some(ConvGrads {
                    weights,
                    bias,
                    norm: c.norm.is_some().then_some(NormGrads { gamma, beta }),
                })
            })
            .collect())
    }
}
