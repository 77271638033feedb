//! The C module's entry points (`csrc/`), and stand-ins that refuse in builds without oneDNN.

use crate::{ConvStack, Layer};

/// The C module's layer description (`cr_layer` in `csrc/dnnl_common.h`).
#[cfg_attr(not(cruciate_dnnl), allow(dead_code))]
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
    input: i32,
    residual: i32,
    last_read: i32,
    n_from: i32,
    from: *const usize,
    norm: i32,
    global_stats: i32,
    epsilon: f32,
    gamma: *const f32,
    beta: *const f32,
    running_mean: *const f32,
    running_var: *const f32,
}

#[cfg_attr(not(cruciate_dnnl), allow(dead_code))]
fn raw_layers(stack: &ConvStack) -> Vec<RawLayer> {
    let int = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    let index = |v: Option<usize>| v.map_or(-1, int);
    let plain = RawLayer {
        kind: 0,
        cin: 0,
        cout: 0,
        kernel: 0,
        stride: 0,
        pad: 0,
        relu: 0,
        ceil_mode: 0,
        weights: std::ptr::null(),
        bias: std::ptr::null(),
        input: -1,
        residual: -1,
        last_read: 0,
        n_from: 0,
        from: std::ptr::null(),
        norm: 0,
        global_stats: 0,
        epsilon: 0.0,
        gamma: std::ptr::null(),
        beta: std::ptr::null(),
        running_mean: std::ptr::null(),
        running_var: std::ptr::null(),
    };
    stack
        .layers
        .iter()
        .zip(stack.last_reads())
        .map(|(layer, last_read)| {
            let last_read = int(last_read);
            match layer {
                Layer::Conv(c) => RawLayer {
                    norm: c.norm.is_some().into(),
                    global_stats: c.norm.as_ref().is_some_and(|n| !n.batch_statistics).into(),
                    epsilon: c.norm.as_ref().map_or(0.0, |n| n.epsilon),
                    gamma: c
                        .norm
                        .as_ref()
                        .map_or(std::ptr::null(), |n| n.gamma.as_ptr()),
                    beta: c
                        .norm
                        .as_ref()
                        .map_or(std::ptr::null(), |n| n.beta.as_ptr()),
                    running_mean: c
                        .norm
                        .as_ref()
                        .map_or(std::ptr::null(), |n| n.running_mean.as_ptr()),
                    running_var: c
                        .norm
                        .as_ref()
                        .map_or(std::ptr::null(), |n| n.running_var.as_ptr()),
                    cin: int(c.cin),
                    cout: int(c.cout),
                    kernel: int(c.kernel),
                    stride: int(c.stride),
                    pad: int(c.pad),
                    relu: c.relu.into(),
                    weights: c.weights.as_ptr(),
                    bias: c.bias.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
                    input: index(c.input),
                    residual: index(c.residual),
                    last_read,
                    ..plain
                },
                Layer::MaxPool(p) => RawLayer {
                    kind: 1,
                    kernel: int(p.kernel),
                    stride: int(p.stride),
                    pad: int(p.pad),
                    ceil_mode: p.ceil.into(),
                    last_read,
                    ..plain
                },
                Layer::Concat(from) => RawLayer {
                    kind: 2,
                    last_read,
                    n_from: int(from.len()),
                    from: from.as_ptr(),
                    ..plain
                },
            }
        })
        .collect()
}

#[cfg(cruciate_dnnl)]
mod linked {
    use std::ffi::{c_char, c_int};

    use super::{RawLayer, raw_layers};
    use crate::{ConvStack, EngineError, Precision};

    #[repr(C)]
    struct CrStack {
        _private: [u8; 0],
    }

    #[repr(C)]
    struct CrTrain {
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
        fn cr_train_create(
            layers: *const RawLayer,
            n: c_int,
            dims: *const i64,
            bf16: c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> *mut CrTrain;
        fn cr_train_forward(
            train: *mut CrTrain,
            layers: *const RawLayer,
            input: *const f32,
            output: *mut f32,
            batch_mean: *const *mut f32,
            batch_var: *const *mut f32,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        #[allow(clippy::too_many_arguments)]
        fn cr_train_backward(
            train: *mut CrTrain,
            diff_output: *const f32,
            diff_w: *const *mut f32,
            diff_b: *const *mut f32,
            diff_gamma: *const *mut f32,
            diff_beta: *const *mut f32,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        fn cr_train_destroy(train: *mut CrTrain);
        fn cr_train_bytes(train: *const CrTrain) -> usize;
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

    /// The signature of the C module's constructors (`cr_stack_create`, `cr_train_create`).
    type Create<T> = unsafe extern "C" fn(
        *const RawLayer,
        c_int,
        *const i64,
        c_int,
        *mut c_char,
        usize,
    ) -> *mut T;

    /// Calls `create` for `stack` on inputs of `shape` at `precision`; its error message (with
    /// the precision and instruction set) when it returns null.
    fn create<T>(
        create: Create<T>,
        stack: &ConvStack,
        shape: [usize; 4],
        precision: Precision,
    ) -> Result<*mut T, EngineError> {
        let layers = raw_layers(stack);
        let dims = shape.map(|d| d as i64);
        let mut err = [0 as c_char; 512];
        // SAFETY: `layers` (and the weights it points into, owned by `stack`) and `dims`
        // outlive the call, which copies what it keeps; `err` is writable for its length.
        let raw = unsafe {
            create(
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
                crate::dnnl::cpu_isa().unwrap_or("?")
            )));
        }
        Ok(raw)
    }

    /// A stack's primitives for one input shape.
    pub struct Compiled {
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
            let raw = create(cr_stack_create, stack, shape, precision)?;
            Ok(Self { raw })
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
    /// A stack's training primitives for one input shape.
    pub struct Training {
        raw: *mut CrTrain,
    }

    // SAFETY: as for `Compiled`: used by one thread at a time, not tied to its maker.
    unsafe impl Send for Training {}

    fn status(code: c_int, err: &[c_char]) -> Result<(), EngineError> {
        if code == 0 {
            Ok(())
        } else {
            Err(EngineError::Library(message(err)))
        }
    }

    impl Training {
        pub fn new(
            stack: &ConvStack,
            shape: [usize; 4],
            precision: Precision,
        ) -> Result<Self, EngineError> {
            let raw = create(cr_train_create, stack, shape, precision)?;
            Ok(Self { raw })
        }

        /// `stack` must have the shapes the training was made for, `input` and `output` the
        /// element counts of its input and output, and `statistics` per layer the mean and
        /// variance buffers of a batch norm that normalises by the batch (`cout` each; empty
        /// elsewhere), all checked by the caller.
        pub fn forward(
            &mut self,
            stack: &ConvStack,
            input: &[f32],
            output: &mut [f32],
            statistics: &mut [[Vec<f32>; 2]],
        ) -> Result<(), EngineError> {
            let layers = raw_layers(stack);
            let [means, vars] = [0, 1].map(|k| Self::pointers(statistics, k));
            let mut err = [0 as c_char; 512];
            // SAFETY: live handle; the weights, norms, input, output and statistics buffers
            // outlive the call, which waits for the stream; the primitives copy the weights
            // into their own buffers and write only the statistics of the layers given one.
            let code = unsafe {
                cr_train_forward(
                    self.raw,
                    layers.as_ptr(),
                    input.as_ptr(),
                    output.as_mut_ptr(),
                    means.as_ptr(),
                    vars.as_ptr(),
                    err.as_mut_ptr(),
                    err.len(),
                )
            };
            status(code, &err)
        }

        /// The bytes its primitives hold (activations, gradients, packed weights).
        pub fn bytes(&self) -> usize {
            // SAFETY: a live handle, only read.
            unsafe { cr_train_bytes(self.raw) }
        }

        /// `grads` holds, per layer, the weight, bias, scale and shift gradient buffers of its
        /// convolution and batch norm, of their sizes (empty where there is none).
        pub fn backward(
            &mut self,
            diff_output: &[f32],
            grads: &mut [[Vec<f32>; 4]],
        ) -> Result<(), EngineError> {
            let [weights, biases, gammas, betas] = [0, 1, 2, 3].map(|k| Self::pointers(grads, k));
            let mut err = [0 as c_char; 512];
            // SAFETY: live handle after a forward pass; every convolution's buffers have its
            // weight and bias sizes and every norm's its channels (null where there is none,
            // which the module does not touch); all outlive the call.
            let code = unsafe {
                cr_train_backward(
                    self.raw,
                    diff_output.as_ptr(),
                    weights.as_ptr(),
                    biases.as_ptr(),
                    gammas.as_ptr(),
                    betas.as_ptr(),
                    err.as_mut_ptr(),
                    err.len(),
                )
            };
            status(code, &err)
        }

        /// The `k`-th buffer of every layer as a pointer, null where it is empty.
        fn pointers<const K: usize>(buffers: &mut [[Vec<f32>; K]], k: usize) -> Vec<*mut f32> {
            buffers
                .iter_mut()
                .map(|b| {
                    if b[k].is_empty() {
                        std::ptr::null_mut()
                    } else {
                        b[k].as_mut_ptr()
                    }
                })
                .collect()
        }
    }

    impl Drop for Training {
        fn drop(&mut self) {
            // SAFETY: made by cr_train_create, destroyed once.
            unsafe { cr_train_destroy(self.raw) }
        }
    }
}

#[cfg(not(cruciate_dnnl))]
mod absent {
    use crate::{ConvStack, EngineError, Precision};

    pub fn isa() -> Option<i32> {
        None
    }

    pub fn version() -> Option<i32> {
        None
    }

    /// Never made: [`crate::DnnlBackbone::new`] refuses first.
    pub struct Compiled;

    impl Compiled {
        pub fn new(_: &ConvStack, _: [usize; 4], _: Precision) -> Result<Self, EngineError> {
            Err(EngineError::Unavailable)
        }

        pub fn run(&mut self, _: &[f32], _: &mut [f32]) -> Result<(), EngineError> {
            Err(EngineError::Unavailable)
        }
    }
    /// Never made: [`crate::DnnlTrainer::new`] refuses first.
    pub struct Training;

    impl Training {
        pub fn new(_: &ConvStack, _: [usize; 4], _: Precision) -> Result<Self, EngineError> {
            Err(EngineError::Unavailable)
        }

        pub fn forward(
            &mut self,
            _: &ConvStack,
            _: &[f32],
            _: &mut [f32],
            _: &mut [[Vec<f32>; 2]],
        ) -> Result<(), EngineError> {
            Err(EngineError::Unavailable)
        }

        pub fn bytes(&self) -> usize {
            0
        }

        pub fn backward(&mut self, _: &[f32], _: &mut [[Vec<f32>; 4]]) -> Result<(), EngineError> {
            Err(EngineError::Unavailable)
        }
    }
}

#[cfg(cruciate_dnnl)]
pub use linked::*;

#[cfg(not(cruciate_dnnl))]
pub use absent::*;
