//! Times AlexNet's convolution stack (MRNet's backbone) on 32 random 256x256 slices with
//! oneDNN in f32 and bf16: `cargo run --release -p cruciate-engine --example alexnet_stack`.

use std::time::Instant;

use cruciate_engine::{Conv, ConvStack, DnnlBackbone, Layer, MaxPool, Precision, dnnl};

fn main() {
    let Some(isa) = dnnl::cpu_isa() else {
        eprintln!("this build has no oneDNN (apt install libdnnl-dev, then rebuild)");
        std::process::exit(1);
    };
    let pool = Layer::MaxPool(MaxPool {
        kernel: 3,
        stride: 2,
        pad: 0,
        ceil: false,
    });
    let conv = |cin: usize, cout: usize, kernel: usize, stride: usize, pad: usize| {
        Layer::Conv(Conv {
            cin,
            cout,
            kernel,
            stride,
            pad,
            relu: true,
            weights: vec![0.01; cout * cin * kernel * kernel],
            bias: Some(vec![0.0; cout]),
            input: None,
            residual: None,
            norm: None,
        })
    };
    let stack = ConvStack {
        layers: vec![
            conv(3, 64, 11, 4, 2),
            pool.clone(),
            conv(64, 192, 5, 1, 2),
            pool.clone(),
            conv(192, 384, 3, 1, 1),
            conv(384, 256, 3, 1, 1),
            conv(256, 256, 3, 1, 1),
            pool,
        ],
    };
    let shape = [32, 3, 256, 256];
    let input = vec![0.5f32; shape.iter().product()];
    println!("oneDNN {} on {isa}", dnnl::version().unwrap_or_default());
    for precision in [Precision::F32, Precision::Bf16] {
        let engine = DnnlBackbone::new(stack.clone(), precision).expect("engine");
        engine.run(&input, shape).expect("warm-up");
        let mut times: Vec<f64> = (0..7)
            .map(|_| {
                let start = Instant::now();
                engine.run(&input, shape).expect("run");
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{precision}: median {:.1} ms", times[times.len() / 2]);
    }
}
