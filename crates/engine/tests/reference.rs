//! oneDNN's stack against a direct, loop-by-loop computation of the same layers: f32 must
//! agree to rounding, bf16 to its 8-bit mantissa. Fails (rather than skips) when
//! `CRUCIATE_DNNL=required` is set and the build has no oneDNN.

use cruciate_engine::{Conv, ConvStack, DnnlBackbone, Layer, MaxPool, Precision, dnnl, out_size};

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
    })
}

/// The layers computed directly from their definitions.
fn reference(stack: &ConvStack, input: &[f32], shape: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
    let mut outputs: Vec<(Vec<f32>, [usize; 4])> = Vec::new();
    for (index, layer) in stack.layers.iter().enumerate() {
        let source = |from: Option<usize>| match from {
            Some(j) => outputs[j].clone(),
            None if index == 0 => (input.to_vec(), shape),
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
        let mut y = vec![0.0f32; n * oc * oh * ow];
        for b in 0..n {
            for o in 0..oc {
                for i in 0..oh {
                    for j in 0..ow {
                        let at = |ch: usize, r: usize, q: usize| -> Option<f32> {
                            let (r, q) = ((i * s + r).checked_sub(p)?, (j * s + q).checked_sub(p)?);
                            (r < h && q < w).then(|| x[((b * c + ch) * h + r) * w + q])
                        };
                        let here = ((b * oc + o) * oh + i) * ow + j;
                        let v = match layer {
                            Layer::Conv(l) => {
                                let mut acc = l.bias.as_ref().map_or(0.0, |bias| bias[o]);
                                for ch in 0..c {
                                    for r in 0..k {
                                        for q in 0..k {
                                            let wt = l.weights[((o * c + ch) * k + r) * k + q];
                                            acc += wt * at(ch, r, q).unwrap_or(0.0);
                                        }
                                    }
                                }
                                acc += residual.map_or(0.0, |r| r[here]);
                                if l.relu { acc.max(0.0) } else { acc }
                            }
                            _ => (0..k)
                                .flat_map(|r| (0..k).map(move |q| (r, q)))
                                .filter_map(|(r, q)| at(o, r, q))
                                .fold(f32::NEG_INFINITY, f32::max),
                        };
                        y[here] = v;
                    }
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

/// ResNet's and SqueezeNet's shapes of graph: shortcuts summed in place and by copy (when the
/// shortcut is read again later), a projection on a branch, Fire modules' concatenations,
/// ceil-mode pools after them.
#[test]
fn dnnl_runs_shortcuts_and_concatenations_like_the_direct_computation() {
    if !engine_present() {
        return;
    }
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
            conv(3, 16, 7, 2, 3, 20),                               // 0 stem
            pool(false),                                            // 1
            wired(conv(16, 16, 3, 1, 1, 21), None, None, true),     // 2 basic block
            wired(conv(16, 16, 3, 1, 1, 22), None, Some(1), true),  // 3 = relu(conv + 1)
            wired(conv(16, 32, 1, 2, 0, 23), Some(3), None, false), // 4 projection
            wired(conv(16, 8, 1, 1, 0, 24), Some(3), None, true),   // 5 bottleneck
            wired(conv(8, 8, 3, 2, 1, 25), None, None, true),       // 6
            wired(conv(8, 32, 1, 1, 0, 26), None, Some(4), true),   // 7 = relu(conv + 4)
            wired(conv(32, 32, 3, 1, 1, 27), None, Some(7), true),  // 8: 7 is read again (10)
            conv(32, 8, 1, 1, 0, 28),                               // 9 squeeze
            Layer::Concat(vec![8, 7]),                              // 10
            wired(conv(64, 8, 1, 1, 0, 29), None, None, true),      // 11 Fire squeeze
            conv(8, 16, 1, 1, 0, 30),                               // 12 expand 1x1
            wired(conv(8, 16, 3, 1, 1, 31), Some(11), None, true),  // 13 expand 3x3
            Layer::Concat(vec![12, 13]),                            // 14
            pool(true),                                             // 15
        ],
    };
    stack.validate().unwrap();
    agrees_with_reference(&stack, [2, 3, 45, 38]);
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

/// The training passes' gradients against central differences of the direct computation: for
/// the loss `sum(output * r)`, a sample of weights and every bias of each convolution.
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
    let input: Vec<f32> = values(shape.iter().product(), 14).into_iter().collect();
    let (out, _) = reference(&stack, &input, shape);
    let r = values(out.len(), 15);
    let loss = |s: &ConvStack| -> f64 {
        let (o, _) = reference(s, &input, shape);
        o.iter().zip(&r).map(|(a, b)| f64::from(a * b)).sum()
    };
    let mut trainer = cruciate_engine::DnnlTrainer::new(Precision::F32).unwrap();
    let (got, _) = trainer.forward(&stack, &input, shape).unwrap();
    let worst = got
        .iter()
        .zip(&out)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-5,
        "training forward differs from the direct one by {worst}"
    );
    let grads = trainer.backward(&stack, &r).unwrap();
    assert!(grads[1].is_none(), "a pool has no gradients");
    let step = 1e-2f32;
    let mut checked = 0;
    for (i, layer) in stack.layers.iter().enumerate() {
        let Layer::Conv(c) = layer else { continue };
        let g = grads[i].as_ref().unwrap();
        let samples = (0..c.weights.len())
            .step_by(c.weights.len() / 7 + 1)
            .map(|k| (false, k));
        for (bias, k) in samples.chain((0..c.cout).map(|k| (true, k))) {
            let nudged = |delta: f32| {
                let mut s = stack.clone();
                let Layer::Conv(l) = &mut s.layers[i] else {
                    unreachable!()
                };
                if bias {
                    l.bias.as_mut().unwrap()[k] += delta;
                } else {
                    l.weights[k] += delta;
                }
                loss(&s)
            };
            let numeric = (nudged(step) - nudged(-step)) / (2.0 * f64::from(step));
            let analytic = f64::from(if bias { g.bias[k] } else { g.weights[k] });
            assert!(
                (numeric - analytic).abs() <= 2e-2 * numeric.abs().max(1.0),
                "layer {i} {} {k}: oneDNN {analytic}, central difference {numeric}",
                if bias { "bias" } else { "weight" }
            );
            checked += 1;
        }
    }
    assert!(checked > 30);
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
