//! oneDNN as an engine: the convolution stack compiled into oneDNN primitives, once per input
//! shape, with its weights packed at that moment into the layout the kernels want.
//!
//! Why oneDNN: it is the kernel library PyTorch itself runs on x86 CPUs, it picks the best
//! instruction set at run time from CPUID (AMX, AVX-512 BF16, AVX-512, AVX2), and it is a
//! Debian package (`libdnnl-dev`). There are no maintained Rust bindings, so a small C module
//! (`csrc/dnnl_stack.c`) builds and runs the primitives and this file wraps it; builds without
//! oneDNN keep the same API and report the engine as unavailable.

use std::sync::Mutex;

mod ffi;
mod train;

use crate::{ConvStack, EngineError, Precision};

pub use train::{BatchStatistics, ConvGrads, DnnlTrainer, NormGrads, TrainingForward};

/// How many input shapes keep their compiled stack (MRNet exams differ in slice count).
const CACHED_SHAPES: usize = 4;

/// Primitives built per input shape (and whatever else they were built for), the most
/// recently used first.
type ShapeCache<T, K = [usize; 4]> = Vec<(K, T)>;

/// The entry for `key`, made by `make` when absent (the least recently used one dropped when
/// the cache is full), moved to the front.
fn cached<T, K: PartialEq>(
    cache: &mut ShapeCache<T, K>,
    key: K,
    make: impl FnOnce() -> Result<T, EngineError>,
) -> Result<&mut T, EngineError> {
    let at = match cache.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            if cache.len() == CACHED_SHAPES {
                cache.pop();
            }
            cache.insert(0, (key, make()?));
            0
        }
    };
    cache[..=at].rotate_right(1);
    Ok(&mut cache[0].1)
}

/// Whether this build includes the oneDNN engine.
pub fn available() -> bool {
    cfg!(cruciate_dnnl)
}

/// The instruction set oneDNN's kernels use on this CPU (`None` without oneDNN).
pub fn cpu_isa() -> Option<&'static str> {
    ffi::isa().map(|isa| match isa {
        0x3e7 => "avx512_core_amx",
        0xe7 => "avx512_core_bf16",
        0x67 => "avx512_core_vnni",
        0x27 => "avx512_core",
        0x407 => "avx2_vnni",
        0x7 => "avx2",
        0x3 => "avx",
        0x1 => "sse41",
        _ => "other",
    })
}

/// oneDNN's version, `major.minor.patch` (`None` without oneDNN).
pub fn version() -> Option<String> {
    ffi::version().map(|v| format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100))
}

/// bf16 where the CPU has AMX, f32 elsewhere. Decided by measurement: on a Xeon with AMX,
/// bf16 ran MRNet's convolutions 6-10x faster than f32; on a Xeon with AVX-512 BF16 but no AMX
/// (2026-11-27, "Intel(R) Xeon(R) Processor", 2 cores, oneDNN 2.6.3), bf16 took 338 ms per
/// MRNet exam against 185 ms in f32, and PyTorch's bf16 autocast was slower than its fp32 too.
pub fn preferred_precision() -> Precision {
    match ffi::isa() {
        // dnnl_cpu_isa_avx512_core_amx's bits are set only where AMX is.
        Some(isa) if isa & 0x3e7 == 0x3e7 => Precision::Bf16,
        _ => Precision::F32,
    }
}

/// A convolution stack run by oneDNN. Safe to share between threads: runs take turns (each
/// one already uses every core).
pub struct DnnlBackbone {
    stack: ConvStack,
    precision: Precision,
    compiled: Mutex<ShapeCache<ffi::Compiled>>,
}

impl std::fmt::Debug for DnnlBackbone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnnlBackbone")
            .field("layers", &self.stack.layers.len())
            .field("precision", &self.precision)
            .finish()
    }
}

impl DnnlBackbone {
    /// The engine for `stack` at `precision` (its batch norms folded in); primitives are built
    /// on the first run of each input shape.
    pub fn new(stack: ConvStack, precision: Precision) -> Result<Self, EngineError> {
        if !available() {
            return Err(EngineError::Unavailable);
        }
        let stack = stack.folded();
        stack.validate()?;
        Ok(Self {
            stack,
            precision,
            compiled: Mutex::new(Vec::new()),
        })
    }

    /// The precision it computes in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The stack it runs (batch norms folded).
    pub fn stack(&self) -> &ConvStack {
        &self.stack
    }

    /// `[N, C, H, W]` images (row-major f32) to the stack's output and its shape.
    pub fn run(
        &self,
        input: &[f32],
        shape: [usize; 4],
    ) -> Result<(Vec<f32>, [usize; 4]), EngineError> {
        let out_shape = self.stack.check_input(input, shape)?;
        let mut output = vec![0.0f32; out_shape.iter().product()];
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        cached(&mut compiled, shape, || {
            ffi::Compiled::new(&self.stack, shape, self.precision)
        })?
        .run(input, &mut output)?;
        Ok((output, out_shape))
    }
}
