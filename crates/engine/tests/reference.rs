//! oneDNN's stack against a direct, loop-by-loop computation of the same layers: f32 must
//! agree to rounding, bf16 to its 8-bit mantissa. Fails (rather than skips) when
//! `CRUCIATE_DNNL=required` is set and the build has no oneDNN.

use cruciate_engine::{
    Conv, ConvStack, DnnlBackbone, Layer, MaxPool, Norm, Precision, dnnl, out_size,
};

/// A reproducible pseudo-random sequence in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, pad: usize, seed: u64) -> Layer {
    Layer::Conv(Conv {
        cin,
        cout,
        kernel,
        stride,
        pad,
        relu: true,
        weights: values(cout * cin * kernel * kernel, seed)
            .into_iter()
            .map(|v| v / (cin * kernel * kernel) as f32)
            .collect(),
        bias: Some(values(cout, seed + 1)),
        input: None,
        residual: None,
        norm: None,
    })
}

/// The layers computed directly from their definitions, batch norms by their running
/// statistics (inference).
fn reference(stack: &ConvStack, input: &[f32], shape: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
    let (y, shape) = computed(stack, input, shape, false);
    (y.into_iter().map(|v| v as f32).collect(), shape)
}

/// `x` (`[n, c, h, w]`) normalised per channel by `norm`: by the batch's own statistics when
/// `training` and the norm takes them, by the running ones otherwise.
fn normalise(x: &mut [f64], [n, c, h, w]: [usize; 4], norm: &Norm, training: bool) {
    for ch in 0..c {
        let at = |b: usize| (b * c + ch) * h * w..(b * c + ch + 1) * h * w;
        let (mean, var) = if training && norm.batch_statistics {
            let values: Vec<f64> = (0..n).flat_map(|b| x[at(b)].to_vec()).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            (mean, var)
        } else {
            (
                f64::from(norm.running_mean[ch]),
                f64::from(norm.running_var[ch]),
            )
        };
        let scale = f64::from(norm.gamma[ch]) / (var + f64::from(norm.epsilon)).sqrt();
        for b in 0..n {
            for v in &mut x[at(b)] {
                *v = (*v - mean) * scale + f64::from(norm.beta[ch]);
            }
        }
    }
}

/// The layers computed directly from their definitions, in f64 (so that central differences
/// of it are not swamped by rounding); batch norms as in training when `training`.
fn computed(
    stack: &ConvStack,
    input: &[f32],
    shape: [usize; 4],
    training: bool,
) -> (Vec<f64>, [usize; 4]) {
    let mut outputs: Vec<(Vec<f64>, [usize; 4])> = Vec::new();
    for (index, layer) in stack.layers.iter().enumerate() {
        let source = |from: Option<usize>| match from {
            Some(j) => outputs[j].clone(),
            None if index == 0 => (input.iter().map(|&v| f64::from(v)).collect(), shape),
            None => outputs[index - 1].clone(),
        };
        let from = match layer {
            Layer::Conv(l) => l.input,
            _ => None,
        };
        let (x, [n, c, h, w]) = source(from);
        let (k, s, p, ceil) = match layer {
            Layer::Conv(l) => (l.kernel, l.stride, l.pad, false),
            Layer::MaxPool(l) => (l.kernel, l.stride, l.pad, l.ceil),
            Layer::Concat(from) => {
                // Channel blocks one after the other, per image.
                let parts: Vec<_> = from.iter().map(|&j| &outputs[j]).collect();
                let (n, h, w) = (parts[0].1[0], parts[0].1[2], parts[0].1[3]);
                let channels = parts.iter().map(|p| p.1[1]).sum();
                let mut y = Vec::with_capacity(n * channels * h * w);
                for b in 0..n {
                    for (values, [_, c, _, _]) in &parts {
                        y.extend_from_slice(&values[b * c * h * w..(b + 1) * c * h * w]);
                    }
                }
                outputs.push((y, [n, channels, h, w]));
                continue;
            }
        };
        let (oh, ow) = (
            out_size(h, k, s, p, ceil).unwrap(),
            out_size(w, k, s, p, ceil).unwrap(),
        );
        let oc = match layer {
            Layer::Conv(l) => l.cout,
            _ => c,
        };
        let residual = match layer {
            Layer::Conv(l) => l.residual.map(|r| &outputs[r].0),
            _ => None,
        };
        let mut y = vec![0.0f64; n * oc * oh * ow];
        for b in 0..n {
            for o in 0..oc {
                for i in 0..oh {
                    for j in 0..ow {
                        let at = |ch: usize, r: usize, q: usize| -> Option<f64> {
                            let (r, q) = ((i * s + r).checked_sub(p)?, (j * s + q).checked_sub(p)?);
                            (r < h && q < w).then(|| x[((b * c + ch) * h + r) * w + q])
                        };
                        let here = ((b * oc + o) * oh + i) * ow + j;
                        let v = match layer {
                            Layer::Conv(l) => {
                                let mut acc =
                                    l.bias.as_ref().map_or(0.0, |bias| f64::from(bias[o]));
                                for ch in 0..c {
                                    for r in 0..k {
                                        for q in 0..k {
                                            let wt = f64::from(
                                                l.weights[((o * c + ch) * k + r) * k + q],
                                            );
                                            acc += wt * at(ch, r, q).unwrap_or(0.0);
                                        }
                                    }
                                }
                                acc
                            }
                            _ => (0..k)
                                .flat_map(|r| (0..k).map(move |q| (r, q)))
                                .filter_map(|(r, q)| at(o, r, q))
                                .fold(f64::NEG_INFINITY, f64::max),
                        };
                        y[here] = v;
                    }
                }
            }
        }
        if let Layer::Conv(l) = layer {
            if let Some(norm) = &l.norm {
                normalise(&mut y, [n, oc, oh, ow], norm, training);
            }
            for (i, v) in y.iter_mut().enumerate() {
                *v += residual.map_or(0.0, |r| r[i]);
                if l.relu {
                    *v = v.max(0.0);
                }
            }
        }
        outputs.push((y, [n, oc, oh, ow]));
    }
    outputs.pop().expect("a stack has layers")
}

fn engine_required() -> bool {
    std::env::var("CRUCIATE_DNNL").is_ok_and(|v| v == "required")
}

/// Whether the engine is there to test; fails when it is required and missing.
fn engine_present() -> bool {
    if !dnnl::available() {
        assert!(
            !engine_required(),
            "CRUCIATE_DNNL=required, but this build has no oneDNN"
        );
        eprintln!("skipped: this build has no oneDNN");
    }
    dnnl::available()
}

/// `stack` on oneDNN against [`reference`] on `shape`, f32 within 1e-5 of the output scale
/// (rounding of sums of a few hundred terms) and bf16 within 2e-2 (its 8-bit significand,
/// 2^-8 per rounding, over a few roundings); run twice, with another batch size between, as
/// the compiled stacks are cached per shape.
fn agrees_with_reference(stack: &ConvStack, shape: [usize; 4]) {
    let input = values(shape.iter().product(), 9);
    let (expected, expected_shape) = reference(stack, &input, shape);
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "the reference output is not trivial");
    let one = shape[1..].iter().product::<usize>();
    for (precision, tolerance) in [(Precision::F32, 1e-5), (Precision::Bf16, 2e-2)] {
        let engine = DnnlBackbone::new(stack.clone(), precision).unwrap();
        for round in 0..2 {
            let (got, got_shape) = engine.run(&input, shape).unwrap();
            assert_eq!(got_shape, expected_shape);
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst / scale < tolerance,
                "{precision} round {round}: worst error {worst} on outputs up to {scale}"
            );
            let (first, other) = engine
                .run(&input[..one], [1, shape[1], shape[2], shape[3]])
                .unwrap();
            assert_eq!(other[1..], expected_shape[1..]);
            assert_eq!(first.len(), expected.len() / shape[0]);
        }
    }
}

#[test]
fn dnnl_matches_the_direct_computation_in_f32_and_bf16() {
    if !engine_present() {
        return;
    }
    let stack = ConvStack {
        layers: vec![
            conv(3, 8, 5, 2, 2, 1),
            Layer::MaxPool(MaxPool {
                kernel: 3,
                stride: 2,
                pad: 0,
                ceil: true,
            }),
            conv(8, 16, 3, 1, 1, 2),
            conv(16, 8, 1, 1, 0, 3),
            Layer::MaxPool(MaxPool {
                kernel: 2,
                stride: 2,
                pad: 0,
                ceil: false,
            }),
        ],
    };
    agrees_with_reference(&stack, [3, 3, 37, 29]);
}

/// A convolution reading layer `input` (the one before when `None`), adding layer `residual`.
fn wired(layer: Layer, input: Option<usize>, residual: Option<usize>, relu: bool) -> Layer {
    let Layer::Conv(c) = layer else {
        unreachable!("a convolution")
    };
    Layer::Conv(Conv {
        input,
        residual,
        relu,
        ..c
    })
}

/// `layer` (a convolution) with a batch norm after it of its own statistics and affine map,
/// normalising training batches by their statistics, or frozen.
fn normed(layer: Layer, seed: u64, batch_statistics: bool) -> Layer {
    let Layer::Conv(c) = layer else {
        unreachable!("a convolution")
    };
    let shifted = |k: u64, lo: f32, hi: f32| -> Vec<f32> {
        values(c.cout, seed * 7 + k)
            .into_iter()
            .map(|v| lo + (hi - lo) * (v + 1.0) / 2.0)
            .collect()
    };
    let norm = Norm {
        gamma: shifted(1, 0.5, 1.5),
        beta: shifted(2, -0.3, 0.3),
        running_mean: shifted(3, -0.2, 0.2),
        running_var: shifted(4, 0.5, 2.0),
        epsilon: 1e-5,
        batch_statistics,
    };
    Layer::Conv(Conv {
        norm: Some(norm),
        ..c
    })
}

/// ResNet's and SqueezeNet's shapes of graph: batch norms (by the batch, and one frozen),
/// shortcuts summed in place and by copy (when the shortcut is read again later, and when it
/// is also the convolution's input), a projection on a branch, a branch nothing reads,
/// concatenations, ceil-mode pools.
fn resnet_and_fire_graph() -> ConvStack {
    let pool = |ceil| {
        Layer::MaxPool(MaxPool {
            kernel: 3,
            stride: 2,
            pad: 1,
            ceil,
        })
    };
    let stack = ConvStack {
        layers: vec![
            normed(conv(3, 8, 5, 2, 2, 20), 1, true), // 0 stem
            pool(false),                              // 1
            normed(conv(8, 8, 3, 1, 1, 21), 2, true), // 2 basic block
            normed(
                wired(conv(8, 8, 3, 1, 1, 22), None, Some(1), true),
                3,
                false,
            ), // 3
            normed(
                wired(conv(8, 16, 1, 2, 0, 23), Some(3), None, false),
                4,
                true,
            ), // 4 projection
            normed(wired(conv(8, 4, 1, 1, 0, 24), Some(3), None, true), 5, true), // 5 bottleneck
            normed(conv(4, 4, 3, 2, 1, 25), 6, true), // 6
            normed(
                wired(conv(4, 16, 1, 1, 0, 26), None, Some(4), true),
                7,
                true,
            ), // 7
            wired(conv(16, 16, 3, 1, 1, 27), None, Some(7), true), // 8 = relu(conv(7) + 7)
            conv(16, 4, 1, 1, 0, 28),                 // 9 read by nothing
            Layer::Concat(vec![8, 7]),                // 10
            wired(conv(32, 4, 1, 1, 0, 29), None, None, true), // 11 Fire squeeze
            conv(4, 8, 1, 1, 0, 30),                  // 12 expand 1x1
            wired(conv(4, 8, 3, 1, 1, 31), Some(11), None, true), // 13 expand 3x3
            Layer::Concat(vec![12, 13]),              // 14
            pool(true),                               // 15
        ],
    };
    stack.validate().unwrap();
    stack
}

#[test]
fn dnnl_runs_shortcuts_and_concatenations_like_the_direct_computation() {
    if !engine_present() {
        return;
    }
    agrees_with_reference(&resnet_and_fire_graph(), [2, 3, 45, 38]);
}

/// The graph's training passes: batch norms by the batch's statistics (and a frozen one by
/// its running ones), gradients flowing back along shortcuts, branches and concatenations and
/// adding where an output has several readers.
#[test]
fn dnnl_trains_graphs_with_batch_norms_like_central_differences() {
    if !engine_present() {
        return;
    }
    let stack = resnet_and_fire_graph();
    let checked = gradients_match_central_differences(&stack, [2, 3, 29, 25], 40);
    assert!(checked > 150, "{checked} gradients checked");
    // The branch nothing reads gets no gradient.
    let input = values(2 * 3 * 29 * 25, 41);
    let mut trainer = cruciate_engine::DnnlTrainer::new(Precision::F32).unwrap();
    let forward = trainer.forward(&stack, &input, [2, 3, 29, 25]).unwrap();
    let norms: Vec<bool> = forward.statistics.iter().map(Option::is_some).collect();
    assert_eq!(
        &norms[..8],
        &[true, false, true, false, true, true, true, true]
    );
    let grads = trainer
        .backward(&stack, &values(forward.output.len(), 42))
        .unwrap();
    let dead = grads[9].as_ref().unwrap();
    assert!(dead.weights.iter().chain(&dead.bias).all(|&g| g == 0.0));
}

#[test]
fn bad_inputs_are_errors() {
    if !dnnl::available() {
        assert!(
            DnnlBackbone::new(ConvStack::default(), Precision::F32)
                .unwrap_err()
                .to_string()
                .contains("libdnnl-dev")
        );
        return;
    }
    let stack = ConvStack {
        layers: vec![conv(3, 4, 5, 1, 0, 4)],
    };
    let engine = DnnlBackbone::new(stack, Precision::F32).unwrap();
    let tiny = engine.run(&[0.0; 3 * 4 * 4], [1, 3, 4, 4]).unwrap_err();
    assert!(tiny.to_string().contains("too small"), "{tiny}");
    let short = engine.run(&[0.0; 10], [1, 3, 8, 8]).unwrap_err();
    assert!(short.to_string().contains("10 values"), "{short}");
    let channels = engine.run(&[0.0; 64], [1, 1, 8, 8]).unwrap_err();
    assert!(channels.to_string().contains("channels"), "{channels}");
}

/// The training passes of `stack` on `shape` against the direct computation in training mode:
/// the forward output, then the gradients of the loss `sum(output * r)` against central
/// differences for a sample of every convolution's weights and biases and every batch norm's
/// scales and shifts. Gives the number of gradients checked.
fn gradients_match_central_differences(stack: &ConvStack, shape: [usize; 4], seed: u64) -> usize {
    let input: Vec<f32> = values(shape.iter().product(), seed);
    let (out, _) = computed(stack, &input, shape, true);
    let r = values(out.len(), seed + 1);
    let loss = |s: &ConvStack| -> f64 {
        let (o, _) = computed(s, &input, shape, true);
        o.iter().zip(&r).map(|(a, b)| a * f64::from(*b)).sum()
    };
    let mut trainer = cruciate_engine::DnnlTrainer::new(Precision::F32).unwrap();
    let got = trainer.forward(stack, &input, shape).unwrap();
    let scale = out.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = got
        .output
        .iter()
        .zip(&out)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0f64, f64::max);
    assert!(
        worst <= 1e-5 * scale.max(1.0),
        "training forward differs from the direct one by {worst}"
    );
    let grads = trainer.backward(stack, &r).unwrap();
    let step = 1e-5f32;
    let mut checked = 0;
    for (i, layer) in stack.layers.iter().enumerate() {
        let Layer::Conv(c) = layer else {
            assert!(grads[i].is_none(), "layer {i} has no parameters");
            continue;
        };
        let g = grads[i].as_ref().unwrap();
        assert_eq!(g.norm.is_some(), c.norm.is_some());
        // (which parameter, index): 0 weight, 1 bias, 2 scale, 3 shift.
        let sample =
            |kind: usize, len: usize| (0..len).step_by(len / 5 + 1).map(move |k| (kind, k));
        let norms = if c.norm.is_some() { c.cout } else { 0 };
        // Each parameter's largest gradient.
        let largest_of = |g: &[f32]| g.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
        let largest = [
            largest_of(&g.weights),
            largest_of(&g.bias),
            g.norm.as_ref().map_or(0.0, |n| largest_of(&n.gamma)),
            g.norm.as_ref().map_or(0.0, |n| largest_of(&n.beta)),
        ];
        let params = sample(0, c.weights.len())
            .chain(sample(1, c.cout))
            .chain(sample(2, norms))
            .chain(sample(3, norms));
        for (kind, k) in params {
            // The loss with the parameter moved by `delta` (as the f32 parameter can hold it),
            // and the move actually made.
            let nudged = |delta: f32| {
                let mut s = stack.clone();
                let Layer::Conv(l) = &mut s.layers[i] else {
                    unreachable!()
                };
                let norm = l.norm.as_mut();
                let value = match kind {
                    0 => &mut l.weights[k],
                    1 => &mut l.bias.as_mut().unwrap()[k],
                    2 => &mut norm.unwrap().gamma[k],
                    _ => &mut norm.unwrap().beta[k],
                };
                let before = *value;
                *value += delta;
                let moved = f64::from(*value) - f64::from(before);
                (loss(&s), moved)
            };
            let ((up, right), (down, left), (here, _)) = (nudged(step), nudged(-step), nudged(0.0));
            let analytic = f64::from(match kind {
                0 => g.weights[k],
                1 => g.bias[k],
                2 => g.norm.as_ref().unwrap().gamma[k],
                _ => g.norm.as_ref().unwrap().beta[k],
            });
            // Central, right and left differences: where a ReLU or a pool's choice flips
            // within the step, the loss has a kink there and the gradient is one side's slope.
            let slopes = [
                (up - down) / (right - left),
                (up - here) / right,
                (here - down) / -left,
            ];
            // Small gradients are measured against the layer's largest (a bias before a norm
            // by the batch has none, and oneDNN's is the rounding of a cancelling sum).
            let floor = 0.05 * largest.iter().fold(0.0f64, |m, v| m.max(*v));
            let close =
                |numeric: f64| (numeric - analytic).abs() <= 2e-2 * numeric.abs().max(floor);
            assert!(
                slopes.into_iter().any(close),
                "layer {i} {} {k}: oneDNN {analytic}, differences {slopes:?}",
                ["weight", "bias", "scale", "shift"][kind]
            );
            checked += 1;
        }
    }
    checked
}

/// The training passes' gradients against central differences of the direct computation, on
/// a chain of convolutions and pools; bf16's gradients against f32's.
#[test]
fn dnnl_training_gradients_match_finite_differences() {
    if !engine_present() {
        return;
    }
    let stack = ConvStack {
        layers: vec![
            conv(3, 6, 5, 2, 2, 11),
            Layer::MaxPool(MaxPool {
                kernel: 3,
                stride: 2,
                pad: 0,
                ceil: false,
            }),
            conv(6, 8, 3, 1, 1, 12),
            conv(8, 4, 3, 1, 1, 13),
        ],
    };
    let shape = [2, 3, 23, 19];
    assert!(gradients_match_central_differences(&stack, shape, 14) > 20);
    let input: Vec<f32> = values(shape.iter().product(), 14);
    // bf16 activations: the same gradients to bf16's precision, on the convolutions alone (a
    // max pool routes each gradient to its window's largest input, and bf16's ties there
    // move gradients between positions legitimately: the MRNet parity test bounds that).
    let convs = ConvStack {
        layers: stack
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::Conv(_)))
            .cloned()
            .collect(),
    };
    let (out, _) = reference(&convs, &input, shape);
    let r = values(out.len(), 16);
    let mut exact = cruciate_engine::DnnlTrainer::new(Precision::F32).unwrap();
    exact.forward(&convs, &input, shape).unwrap();
    let exact = exact.backward(&convs, &r).unwrap();
    let mut half = cruciate_engine::DnnlTrainer::new(Precision::Bf16).unwrap();
    half.forward(&convs, &input, shape).unwrap();
    let rough = half.backward(&convs, &r).unwrap();
    for (i, (exact, rough)) in exact.iter().zip(&rough).enumerate() {
        let (exact, rough) = (exact.as_ref().unwrap(), rough.as_ref().unwrap());
        let (w, b) = (
            relative_l2(&rough.weights, &exact.weights),
            relative_l2(&rough.bias, &exact.bias),
        );
        assert!(
            w < 2e-2 && b < 2e-2,
            "bf16 layer {i}: weight gradients off by {w:.2e}, bias by {b:.2e}"
        );
    }
}

/// `|a - b| / |b|`.
fn relative_l2(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm).sqrt()
}

/// A concatenation's gradient reaches each source exactly: with no ReLU after them, each
/// source convolution's bias gradient is the sum of its channels of the output's gradient.
#[test]
fn dnnl_concatenation_hands_each_source_its_channels() {
    if !engine_present() {
        return;
    }
    for (width, size) in [(64, 3), (192, 3), (256, 3), (192, 7)] {
        let stack = ConvStack {
            layers: vec![
                conv(3, 48, 3, 1, 1, 90),
                wired(conv(48, width, 1, 1, 0, 91), None, None, false),
                wired(conv(48, width, 3, 1, 1, 92), Some(0), None, false),
                Layer::Concat(vec![1, 2]),
            ],
        };
        let shape = [3, 3, size, size];
        let input = values(shape.iter().product(), 93);
        let mut trainer = cruciate_engine::DnnlTrainer::new(Precision::F32).unwrap();
        let out = trainer.forward(&stack, &input, shape).unwrap();
        let r = values(out.output.len(), 94);
        let grads = trainer.backward(&stack, &r).unwrap();
        for (layer, first) in [(1, 0), (2, width)] {
            let want: Vec<f64> = (0..width)
                .map(|o| {
                    (0..3)
                        .flat_map(|b| {
                            let at = (b * 2 * width + first + o) * size * size;
                            r[at..at + size * size].to_vec()
                        })
                        .map(f64::from)
                        .sum()
                })
                .collect();
            let got = &grads[layer].as_ref().unwrap().bias;
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (f64::from(*g) - w).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1e-4,
                "width {width} at {size}: layer {layer}'s bias gradient off by {worst}"
            );
        }
    }
}

/// The training primitives of earlier input shapes are dropped once all it holds passes its
/// memory budget, the latest shape's kept whatever their size.
#[test]
fn dnnl_trainer_keeps_earlier_shapes_within_its_memory_budget() {
    if !engine_present() {
        return;
    }
    let stack = resnet_and_fire_graph();
    let run = |trainer: &mut cruciate_engine::DnnlTrainer, size: usize| {
        let shape = [2, 3, size, size];
        trainer
            .forward(&stack, &values(shape.iter().product(), 7), shape)
            .unwrap();
        trainer.held()
    };
    let mut roomy = cruciate_engine::DnnlTrainer::new(Precision::F32).unwrap();
    let (first, _) = run(&mut roomy, 29);
    assert!(
        first > 2 * 3 * 29 * 29 * 4,
        "it holds at least its input: {first}"
    );
    let (both, shapes) = run(&mut roomy, 33);
    assert_eq!(shapes, 2);
    assert!(both > first);
    let mut tight = cruciate_engine::DnnlTrainer::new(Precision::F32)
        .unwrap()
        .with_memory_budget(both - 1);
    run(&mut tight, 29);
    let (kept, shapes) = run(&mut tight, 33);
    assert_eq!(shapes, 1, "the older shape went");
    assert_eq!(kept, both - first);
    // The latest shape stays whatever its size, and backward uses it.
    let mut none = cruciate_engine::DnnlTrainer::new(Precision::F32)
        .unwrap()
        .with_memory_budget(0);
    run(&mut none, 29);
    let out = none
        .forward(&stack, &values(2 * 3 * 33 * 33, 8), [2, 3, 33, 33])
        .unwrap();
    assert_eq!(none.held().1, 1);
    assert!(none.backward(&stack, &values(out.output.len(), 9)).is_ok());
}
