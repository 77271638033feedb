//! Fast inference engines for the backbones' convolution stacks.
//!
//! Burn's Flex backend runs every model and stays the reference. For the backbones that are a
//! plain stack of convolutions, ReLUs and max pools (AlexNet/MRNet, VGG with its batch norms
//! folded in, the compact CNN), this crate runs the stack on oneDNN instead, in f32 or bf16,
//! from the same weights; the rest of the model (pooling, head, explanations) stays in Burn.
//! [`EngineChoice`] says which engine the user asked for and [`EngineChoice::resolve`] what
//! that means on this machine; [`flush_denormals`] keeps subnormal floats from slowing the
//! CPU's arithmetic.

mod choice;
mod denormals;
pub mod dnnl;
mod error;
mod stack;

pub use choice::{EngineChoice, EngineKind, Precision, Resolved, parse_precision};
pub use denormals::flush_denormals;
pub use dnnl::{ConvGrads, DnnlBackbone, DnnlTrainer};
pub use error::EngineError;
pub use stack::{Conv, ConvStack, Layer, MaxPool, out_size};
