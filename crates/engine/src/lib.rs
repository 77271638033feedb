//! Fast engines for the backbones.
//!
//! Burn's Flex backend runs every model and stays the reference. This crate runs a backbone
//! (AlexNet/MRNet, VGG, the compact CNN, ResNet, SqueezeNet), described as a [`ConvStack`] of
//! convolutions (with residual additions and ReLUs), max pools and concatenations, batch norms
//! folded in, on oneDNN instead, in f32 or bf16, from the same weights; the rest of the model
//! (pooling, head, explanations) stays in Burn. [`EngineChoice`] says which engine the user
//! asked for and [`EngineChoice::resolve`] what that means on this machine;
//! [`flush_denormals`] keeps subnormal floats from slowing the CPU's arithmetic.

mod choice;
mod denormals;
pub mod dnnl;
mod error;
mod stack;

pub use choice::{EngineChoice, EngineKind, Precision, Resolved, parse_precision};
pub use denormals::flush_denormals;
pub use dnnl::{BatchStatistics, ConvGrads, DnnlBackbone, DnnlTrainer, NormGrads, TrainingForward};
pub use error::EngineError;
pub use stack::{Conv, ConvStack, Layer, MaxPool, Norm, out_size};
