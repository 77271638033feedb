//! What an engine runs: a stack of convolutions (each with its ReLU) and max pools, the shape
//! every backbone Cruciate can accelerate reduces to (AlexNet, VGG with batch norms folded
//! into the convolutions, the compact CNN).

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
}

/// A square max pool.
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
    /// Convolution (+ ReLU).
    Conv(Conv),
    /// Max pooling.
    MaxPool(MaxPool),
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

/// A backbone as a sequence of layers, `[N, C, H, W]` in, `[N, C', h, w]` out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConvStack {
    /// The layers in order; the first is a convolution.
    pub layers: Vec<Layer>,
}

impl ConvStack {
    /// Checks that the layers fit together (channels, weight sizes, a convolution first).
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |what: String| Err(EngineError::Stack(what));
        if !matches!(self.layers.first(), Some(Layer::Conv(_))) {
            return bad("a stack starts with a convolution".into());
        }
        let mut channels = None;
        for (i, layer) in self.layers.iter().enumerate() {
            match layer {
                Layer::Conv(c) => {
                    if channels.is_some_and(|ch| ch != c.cin) {
                        return bad(format!(
                            "layer {i} takes {} channels, gets {channels:?}",
                            c.cin
                        ));
                    }
                    if c.kernel == 0 || c.stride == 0 || c.cin == 0 || c.cout == 0 {
                        return bad(format!("layer {i} has a zero size"));
                    }
                    if c.weights.len() != c.cout * c.cin * c.kernel * c.kernel
                        || c.bias.as_ref().is_some_and(|b| b.len() != c.cout)
                    {
                        return bad(format!("layer {i}'s weights do not match its shape"));
                    }
                    channels = Some(c.cout);
                }
                Layer::MaxPool(p) if p.kernel == 0 || p.stride == 0 => {
                    return bad(format!("layer {i} has a zero size"));
                }
                Layer::MaxPool(_) => {}
            }
        }
        Ok(())
    }

    /// The output shape for an input of shape `input` (`[N, C, H, W]`); `None` when the image
    /// is too small for a layer or the channels do not match.
    pub fn output_shape(&self, input: [usize; 4]) -> Option<[usize; 4]> {
        let [n, mut c, mut h, mut w] = input;
        for layer in &self.layers {
            let (kernel, stride, pad, ceil) = match layer {
                Layer::Conv(conv) => {
                    if conv.cin != c {
                        return None;
                    }
                    c = conv.cout;
                    (conv.kernel, conv.stride, conv.pad, false)
                }
                Layer::MaxPool(p) => (p.kernel, p.stride, p.pad, p.ceil),
            };
            h = out_size(h, kernel, stride, pad, ceil)?;
            w = out_size(w, kernel, stride, pad, ceil)?;
        }
        Some([n, c, h, w])
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
    /// and output pixel; other layers not counted).
    pub fn gflop(&self, input: [usize; 4]) -> f64 {
        let [n, _, mut h, mut w] = input;
        let mut flop = 0.0;
        for layer in &self.layers {
            let (kernel, stride, pad, ceil) = match layer {
                Layer::Conv(c) => (c.kernel, c.stride, c.pad, false),
                Layer::MaxPool(p) => (p.kernel, p.stride, p.pad, p.ceil),
            };
            h = out_size(h, kernel, stride, pad, ceil).unwrap_or(0);
            w = out_size(w, kernel, stride, pad, ceil).unwrap_or(0);
            if let Layer::Conv(c) = layer {
                flop += 2.0 * (n * c.cin * c.cout * c.kernel * c.kernel * h * w) as f64;
            }
        }
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
}
