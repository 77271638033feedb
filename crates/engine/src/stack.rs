//! What an engine runs: a backbone as a list of layers (convolutions with their ReLU, max
//! pools, channel concatenations), each reading the output of the layer before it or of a
//! named earlier one. That covers every backbone of the study: AlexNet, VGG and the compact CNN
//! are plain chains; ResNet's blocks add their shortcut to the last convolution's output
//! (`Conv::residual`, before its ReLU) and read the block's input twice (`Conv::input`);
//! SqueezeNet's Fire modules join their two expand convolutions (`Layer::Concat`). Batch norms
//! are folded into the convolutions they follow, which is exact in inference.

use crate::EngineError;

/// A square convolution with symmetric zero padding, optionally followed by a ReLU.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Weights, `[cout, cin, kernel, kernel]` row-major (PyTorch's and Burn's layout).
    pub weights: Vec<f32>,
    /// Bias, `[cout]`.
    pub bias: Option<Vec<f32>>,
    /// The earlier layer whose output it reads; `None`: the layer just before it (the image
    /// for the first layer).
    pub input: Option<usize>,
    /// An earlier layer whose output (of this convolution's output shape) is added to the
    /// convolution's before the ReLU: a residual connection.
    pub residual: Option<usize>,
    /// A batch norm right after the convolution (before the residual and the ReLU); the
    /// inference engine takes it folded into the weights ([`ConvStack::folded`]).
    pub norm: Option<Norm>,
}

/// A batch norm over a convolution's output channels:
/// `gamma * (x - mean) / sqrt(var + epsilon) + beta`.
#[derive(Debug, Clone, PartialEq)]
pub struct Norm {
    /// Scale, `[cout]`.
    pub gamma: Vec<f32>,
    /// Shift, `[cout]`.
    pub beta: Vec<f32>,
    /// Running mean, `[cout]`: what inference normalises by.
    pub running_mean: Vec<f32>,
    /// Running (biased) variance, `[cout]`.
    pub running_var: Vec<f32>,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether training normalises by the batch's own statistics (a norm in training mode) or
    /// by the running ones (a frozen norm).
    pub batch_statistics: bool,
}

impl Conv {
    /// The same convolution with its batch norm folded into the weights and bias (exact for
    /// inference, which normalises by the running statistics).
    pub fn folded(&self) -> Conv {
        let Some(norm) = &self.norm else {
            return self.clone();
        };
        let per_filter = self.cin * self.kernel * self.kernel;
        let mut weights = self.weights.clone();
        let mut bias = self.bias.clone().unwrap_or_else(|| vec![0.0; self.cout]);
        for o in 0..self.cout {
            let scale = norm.gamma[o] / (norm.running_var[o] + norm.epsilon).sqrt();
            weights[o * per_filter..(o + 1) * per_filter]
                .iter_mut()
                .for_each(|w| *w *= scale);
            bias[o] = (bias[o] - norm.running_mean[o]) * scale + norm.beta[o];
        }
        Conv {
            weights,
            bias: Some(bias),
            norm: None,
            ..self.clone()
        }
    }
}

/// A square max pool, reading the layer just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool {
    /// Window size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on each side.
    pub pad: usize,
    /// PyTorch's `ceil_mode`.
    pub ceil: bool,
}

/// One layer of a stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Convolution (+ residual, + ReLU).
    Conv(Conv),
    /// Max pooling.
    MaxPool(MaxPool),
    /// The outputs of these earlier layers joined along the channels, in this order (their
    /// batch and spatial sizes equal).
    Concat(Vec<usize>),
}

impl Layer {
    /// The earlier layers whose outputs it reads (`None` standing for the layer before it).
    fn reads(&self) -> Vec<Option<usize>> {
        match self {
            Layer::Conv(c) => std::iter::once(c.input)
                .chain(c.residual.map(Some))
                .collect(),
            Layer::MaxPool(_) => vec![None],
            Layer::Concat(from) => from.iter().copied().map(Some).collect(),
        }
    }
}

/// Output size along one axis, with PyTorch's rule for `ceil_mode` (the last window must start
/// inside the input or its left padding). `None` when the input is smaller than the window.
pub fn out_size(
    size: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    ceil: bool,
) -> Option<usize> {
    let span = (size + 2 * pad).checked_sub(kernel)?;
    let mut out = if ceil {
        span.div_ceil(stride)
    } else {
        span / stride
    } + 1;
    if ceil && (out - 1) * stride >= size + pad {
        out -= 1;
    }
    Some(out)
}

/// A backbone as a sequence of layers, `[N, C, H, W]` in, the last layer's `[N, C', h, w]`
/// out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConvStack {
    /// The layers in the order they run; the first is a convolution reading the image.
    pub layers: Vec<Layer>,
}

impl ConvStack {
    /// The same stack with every batch norm folded into its convolution: what inference runs.
    pub fn folded(&self) -> ConvStack {
        ConvStack {
            layers: self
                .layers
                .iter()
                .map(|layer| match layer {
                    Layer::Conv(c) => Layer::Conv(c.folded()),
                    other => other.clone(),
                })
                .collect(),
        }
    }

    /// For each layer, the last layer that reads its output (itself when none does; the
    /// stack's length for the last layer, whose output is the stack's).
    pub fn last_reads(&self) -> Vec<usize> {
        let n = self.layers.len();
        let mut last: Vec<usize> = (0..n).collect();
        for (i, layer) in self.layers.iter().enumerate() {
            for from in layer.reads() {
                match from {
                    Some(j) if j < i => last[j] = i,
                    None if i > 0 => last[i - 1] = i,
                    _ => {}
                }
            }
        }
        if let Some(end) = last.last_mut() {
            *end = n;
        }
        last
    }

    /// Checks that the layers fit together (references to earlier layers, channels, weight
    /// sizes, a convolution first).
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |what: String| Err(EngineError::Stack(what));
        if !matches!(self.layers.first(), Some(Layer::Conv(c)) if c.input.is_none() && c.residual.is_none())
        {
            return bad("a stack starts with a convolution reading the image".into());
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if layer
                .reads()
                .iter()
                .any(|from| from.is_some_and(|j| j >= i))
            {
                return bad(format!("layer {i} reads a layer that is not before it"));
            }
            match layer {
                Layer::Conv(c) => {
                    if c.kernel == 0 || c.stride == 0 || c.cin == 0 || c.cout == 0 {
                        return bad(format!("layer {i} has a zero size"));
                    }
                    let norm_fits = c.norm.as_ref().is_none_or(|n| {
                        [&n.gamma, &n.beta, &n.running_mean, &n.running_var]
                            .iter()
                            .all(|v| v.len() == c.cout)
                    });
                    if c.weights.len() != c.cout * c.cin * c.kernel * c.kernel
                        || c.bias.as_ref().is_some_and(|b| b.len() != c.cout)
                        || !norm_fits
                    {
                        return bad(format!("layer {i}'s weights do not match its shape"));
                    }
                }
                Layer::MaxPool(p) if p.kernel == 0 || p.stride == 0 => {
                    return bad(format!("layer {i} has a zero size"));
                }
                Layer::MaxPool(_) => {}
                Layer::Concat(from) if from.len() < 2 => {
                    return bad(format!("layer {i} joins fewer than two layers"));
                }
                Layer::Concat(_) => {}
            }
        }
        // Channels (with a nominal image large enough for any window: sizes are checked per
        // input by `output_shape`).
        self.shapes([1, self.input_channels(), 0, 0], false)
            .map(|_| ())
            .map_err(EngineError::Stack)
    }

    /// The channels of the image the first convolution reads.
    fn input_channels(&self) -> usize {
        match self.layers.first() {
            Some(Layer::Conv(c)) => c.cin,
            _ => 0,
        }
    }

    /// Every layer's output shape for an input of shape `input`, or the first misfit; with
    /// `spatial` false only batch and channels are followed.
    fn shapes(&self, input: [usize; 4], spatial: bool) -> Result<Vec<[usize; 4]>, String> {
        let mut out: Vec<[usize; 4]> = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let source = |from: Option<usize>| match from {
                Some(j) => out[j],
                None if i == 0 => input,
                None => out[i - 1],
            };
            let window = |[n, c, h, w]: [usize; 4], k, s, p, ceil| -> Result<[usize; 4], String> {
                if !spatial {
                    return Ok([n, c, h, w]);
                }
                match (out_size(h, k, s, p, ceil), out_size(w, k, s, p, ceil)) {
                    (Some(h), Some(w)) => Ok([n, c, h, w]),
                    _ => Err(format!("layer {i}: the input is too small for its window")),
                }
            };
            let shape = match layer {
                Layer::Conv(conv) => {
                    let [n, c, h, w] = source(conv.input);
                    if c != conv.cin {
                        return Err(format!("layer {i} takes {} channels, gets {c}", conv.cin));
                    }
                    let shape = window(
                        [n, conv.cout, h, w],
                        conv.kernel,
                        conv.stride,
                        conv.pad,
                        false,
                    )?;
                    if let Some(r) = conv.residual
                        && out[r] != shape
                    {
                        return Err(format!(
                            "layer {i} adds layer {r}'s output of another shape"
                        ));
                    }
                    shape
                }
                Layer::MaxPool(p) => window(source(None), p.kernel, p.stride, p.pad, p.ceil)?,
                Layer::Concat(from) => {
                    let first = out[from[0]];
                    if from
                        .iter()
                        .any(|&j| out[j][0] != first[0] || (spatial && out[j][2..] != first[2..]))
                    {
                        return Err(format!("layer {i} joins outputs of different sizes"));
                    }
                    [
                        first[0],
                        from.iter().map(|&j| out[j][1]).sum(),
                        first[2],
                        first[3],
                    ]
                }
            };
            out.push(shape);
        }
        Ok(out)
    }

    /// The output shape for an input of shape `input` (`[N, C, H, W]`); `None` when the image
    /// is too small for a layer or the channels do not match.
    pub fn output_shape(&self, input: [usize; 4]) -> Option<[usize; 4]> {
        self.shapes(input, true).ok()?.last().copied()
    }

    /// The output shape for `input` values of shape `shape`, or why they do not fit.
    pub fn check_input(&self, input: &[f32], shape: [usize; 4]) -> Result<[usize; 4], EngineError> {
        let out = self.output_shape(shape).ok_or_else(|| {
            EngineError::Input(shape, "too small for a layer, or the wrong channels".into())
        })?;
        if input.len() != shape.iter().product::<usize>() {
            return Err(EngineError::Input(
                shape,
                format!("{} values given", input.len()),
            ));
        }
        Ok(out)
    }

    /// Convolution work for an input of shape `input`, in GFLOP (2 multiply-adds per weight
    /// and output pixel; other layers not counted; 0 when the input does not fit).
    pub fn gflop(&self, input: [usize; 4]) -> f64 {
        let Ok(shapes) = self.shapes(input, true) else {
            return 0.0;
        };
        let flop: f64 = self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(layer, [n, _, h, w])| match layer {
                Layer::Conv(c) => 2.0 * (n * c.cin * c.cout * c.kernel * c.kernel * h * w) as f64,
                _ => 0.0,
            })
            .sum();
        flop / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_pytorch() {
        // AlexNet's first convolution and pool on 256 pixels: 63, then 31.
        assert_eq!(out_size(256, 11, 4, 2, false), Some(63));
        assert_eq!(out_size(63, 3, 2, 0, false), Some(31));
        // ceil mode keeps a partial window, but not one starting in the right padding.
        assert_eq!(out_size(6, 3, 2, 0, true), Some(3));
        assert_eq!(out_size(5, 2, 2, 0, true), Some(3));
        assert_eq!(out_size(2, 3, 1, 0, false), None);
    }

    #[test]
    fn validation_names_the_misfit() {
        let conv = |cin, cout| {
            Layer::Conv(Conv {
                cin,
                cout,
                kernel: 1,
                stride: 1,
                pad: 0,
                relu: true,
                weights: vec![0.0; cin * cout],
                bias: None,
                input: None,
                residual: None,
                norm: None,
            })
        };
        let good = ConvStack {
            layers: vec![conv(3, 4), conv(4, 2)],
        };
        assert!(good.validate().is_ok());
        assert_eq!(good.output_shape([1, 3, 5, 5]), Some([1, 2, 5, 5]));
        assert_eq!(good.output_shape([1, 4, 5, 5]), None);
        let bad = ConvStack {
            layers: vec![conv(3, 4), conv(5, 2)],
        };
        assert!(bad.validate().unwrap_err().to_string().contains("layer 1"));
        let pool_first = ConvStack {
            layers: vec![Layer::MaxPool(MaxPool {
                kernel: 2,
                stride: 2,
                pad: 0,
                ceil: false,
            })],
        };
        assert!(pool_first.validate().is_err());
    }

    #[test]
    fn shortcuts_and_concatenations_are_followed() {
        let conv = |cin, cout, stride, input, residual| {
            Layer::Conv(Conv {
                cin,
                cout,
                kernel: 1,
                stride,
                pad: 0,
                relu: true,
                weights: vec![0.0; cin * cout],
                bias: None,
                input,
                residual,
                norm: None,
            })
        };
        // A residual block with a strided projection (layer 1), then a Fire-like join.
        let block = ConvStack {
            layers: vec![
                conv(3, 4, 1, None, None),
                conv(4, 8, 2, Some(0), None),
                conv(4, 8, 2, Some(0), Some(1)),
                conv(8, 2, 1, None, None),
                conv(8, 3, 1, Some(2), None),
                Layer::Concat(vec![3, 4]),
            ],
        };
        block.validate().unwrap();
        assert_eq!(block.output_shape([2, 3, 8, 8]), Some([2, 5, 4, 4]));
        assert_eq!(block.last_reads(), vec![2, 2, 4, 5, 5, 6]);
        // 2 x (3x4 at 8x8, 4x8 twice at 4x4, 8x2 and 8x3 at 4x4) multiply-adds.
        let flop = 2.0 * 2.0 * (12.0 * 64.0 + 2.0 * 32.0 * 16.0 + 40.0 * 16.0);
        assert!((block.gflop([2, 3, 8, 8]) * 1e9 - flop).abs() < 1e-6);

        let mut forward_ref = block.clone();
        forward_ref.layers[2] = conv(4, 8, 2, Some(0), Some(3));
        assert!(
            forward_ref
                .validate()
                .unwrap_err()
                .to_string()
                .contains("layer 2")
        );
        let mut wrong_add = block.clone();
        wrong_add.layers[2] = conv(4, 8, 2, Some(0), Some(0));
        assert!(
            wrong_add
                .validate()
                .unwrap_err()
                .to_string()
                .contains("another shape")
        );
        let mut lone = block.clone();
        lone.layers[5] = Layer::Concat(vec![3]);
        assert!(lone.validate().is_err());
        let mut mismatched = block;
        mismatched.layers[5] = Layer::Concat(vec![0, 4]);
        assert!(mismatched.validate().is_ok(), "channels alone fit");
        assert_eq!(mismatched.output_shape([2, 3, 8, 8]), None, "sizes do not");
    }
}
