//! oneDNN as an engine: the convolution stack compiled into oneDNN primitives, once per input
//! shape, with its weights packed at that moment into the layout the kernels want.
//!
//! Why oneDNN: it is the kernel library PyTorch itself runs on x86 CPUs, it picks the best
//! instruction set at run time from CPUID (AMX, AVX-512 BF16, AVX-512, AVX2), and it is a
//! Debian package (`libdnnl-dev`). There are no maintained Rust bindings, so a small C module
//! (`csrc/dnnl_stack.c`) builds and runs the primitives and this file wraps it; builds without
//! oneDNN keep the same API and report the engine as unavailable.

use std::sync::Mutex;

use crate::{ConvStack, EngineError, Layer, Precision};

/// How many input shapes keep their compiled stack (MRNet exams differ in slice count).
const CACHED_SHAPES: usize = 4;

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
    compiled: Mutex<Vec<ffi::Compiled>>,
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
    /// The engine for `stack` at `precision`; primitives are built on the first run of each
    /// input shape.
    pub fn new(stack: ConvStack, precision: Precision) -> Result<Self, EngineError> {
        if !available() {
            return Err(EngineError::Unavailable);
        }
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

    /// The stack it runs.
    pub fn stack(&self) -> &ConvStack {
        &self.stack
    }

    /// `[N, C, H, W]` images (row-major f32) to the stack's output and its shape.
    pub fn run(
        &self,
        input: &[f32],
        shape: [usize; 4],
    ) -> Result<(Vec<f32>, [usize; 4]), EngineError> {
        let out_shape = self.stack.output_shape(shape).ok_or_else(|| {
            EngineError::Input(shape, "too small for a layer, or the wrong channels".into())
        })?;
        if input.len() != shape.iter().product::<usize>() {
            return Err(EngineError::Input(
                shape,
                format!("{} values given", input.len()),
            ));
        }
        let mut output = vec![0.0f32; out_shape.iter().product()];
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        let at = match compiled.iter().position(|c| c.shape == shape) {
            Some(i) => i,
            None => {
                if compiled.len() == CACHED_SHAPES {
                    compiled.pop();
                }
                compiled.insert(0, ffi::Compiled::new(&self.stack, shape, self.precision)?);
                0
            }
        };
        // Most recently used first.
        compiled[..=at].rotate_right(1);
        compiled[0].run(input, &mut output)?;
        Ok((output, out_shape))
    }
}

/// The C module's layer description (`cr_layer` in `csrc/dnnl_stack.c`).
#[repr(C)]
struct RawLayer {
    kind: i32,
    cin: i32,
    cout: i32,
    kernel: i32,
    stride: i32,
    pad: i32,
    relu: i32,
    ceil_mode: i32,
    weights: *const f32,
    bias: *const f32,
}

fn raw_layers(stack: &ConvStack) -> Vec<RawLayer> {
    let int = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    stack
        .layers
        .iter()
        .map(|layer| match layer {
            Layer::Conv(c) => RawLayer {
                kind: 0,
                cin: int(c.cin),
                cout: int(c.cout),
                kernel: int(c.kernel),
                stride: int(c.stride),
                pad: int(c.pad),
                relu: c.relu.into(),
                ceil_mode: 0,
                weights: c.weights.as_ptr(),
                bias: c.bias.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
            },
            Layer::MaxPool(p) => RawLayer {
                kind: 1,
                cin: 0,
                cout: 0,
                kernel: int(p.kernel),
                stride: int(p.stride),
                pad: int(p.pad),
                relu: 0,
                ceil_mode: p.ceil.into(),
                weights: std::ptr::null(),
                bias: std::ptr::null(),
            },
        })
        .collect()
}

#[cfg(cruciate_dnnl)]
mod ffi {
    use std::ffi::{c_char, c_int};

    use super::{RawLayer, raw_layers};
    use crate::{ConvStack, EngineError, Precision};

    #[repr(C)]
    struct CrStack {
        _private: [u8; 0],
    }

    unsafe extern "C" {
        fn cr_stack_create(
            layers: *const RawLayer,
            n: c_int,
            dims: *const i64,
            bf16: c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> *mut CrStack;
        fn cr_stack_run(
            stack: *mut CrStack,
            input: *const f32,
            output: *mut f32,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        fn cr_stack_destroy(stack: *mut CrStack);
        fn cr_cpu_isa() -> c_int;
        fn cr_version() -> c_int;
    }

    pub fn isa() -> Option<i32> {
        // SAFETY: a query without arguments.
        Some(unsafe { cr_cpu_isa() })
    }

    pub fn version() -> Option<i32> {
        // SAFETY: a query without arguments.
        Some(unsafe { cr_version() })
    }

    fn message(buffer: &[c_char]) -> String {
        let bytes: Vec<u8> = buffer
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A stack's primitives for one input shape.
    pub struct Compiled {
        pub shape: [usize; 4],
        raw: *mut CrStack,
    }

    // SAFETY: the oneDNN objects behind `raw` are used by one thread at a time (the engine
    // keeps them behind a mutex) and are not tied to the thread that made them.
    unsafe impl Send for Compiled {}

    impl Compiled {
        pub fn new(
            stack: &ConvStack,
            shape: [usize; 4],
            precision: Precision,
        ) -> Result<Self, EngineError> {
            let layers = raw_layers(stack);
            let dims = shape.map(|d| d as i64);
            let mut err = [0 as c_char; 512];
            // SAFETY: `layers` (and the weights it points into, owned by `stack`) and `dims`
            // outlive the call, which copies what it keeps; `err` is writable for its length.
            let raw = unsafe {
                cr_stack_create(
                    layers.as_ptr(),
                    layers.len() as c_int,
                    dims.as_ptr(),
                    (precision == Precision::Bf16).into(),
                    err.as_mut_ptr(),
                    err.len(),
                )
            };
            if raw.is_null() {
                return Err(EngineError::Library(format!(
                    "{} ({precision} on {})",
                    message(&err),
                    super::cpu_isa().unwrap_or("?")
                )));
            }
            Ok(Self { shape, raw })
        }

        /// `input` and `output` must have the lengths of the compiled shapes (checked by the
        /// caller).
        pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
            let mut err = [0 as c_char; 512];
            // SAFETY: `raw` is live; the buffers have the element counts the primitives were
            // built for and outlive the call, which waits for the stream before returning.
            let status = unsafe {
                cr_stack_run(
                    self.raw,
                    input.as_ptr(),
                    output.as_mut_ptr(),
                    err.as_mut_ptr(),
                    err.len(),
                )
            };
            if status == 0 {
                Ok(())
            } else {
                Err(EngineError::Library(message(&err)))
            }
        }
    }

    impl Drop for Compiled {
        fn drop(&mut self) {
            // SAFETY: made by cr_stack_create, destroyed once.
            unsafe { cr_stack_destroy(self.raw) }
        }
    }
}

#[cfg(not(cruciate_dnnl))]
mod ffi {
    use crate::{ConvStack, EngineError, Precision};

    pub fn isa() -> Option<i32> {
        None
    }

    pub fn version() -> Option<i32> {
        None
    }

    /// Never made: [`super::DnnlBackbone::new`] refuses first.
    pub struct Compiled {
        pub shape: [usize; 4],
    }

    impl Compiled {
        pub fn new(_: &ConvStack, _: [usize; 4], _: Precision) -> Result<Self, EngineError> {
            let _ = super::raw_layers;
            Err(EngineError::Unavailable)
        }

        pub fn run(&mut self, _: &[f32], _: &mut [f32]) -> Result<(), EngineError> {
            Err(EngineError::Unavailable)
        }
    }
}
