//! Cruciate's networks, on Burn.
//!
//! - [`backbone`]: per-slice feature extractors in torchvision's layout (AlexNet features,
//!   VGG16/19 plain and batch-norm, ResNet18/50, SqueezeNet 1.1) and a compact `small` CNN.
//! - [`weights`]: loading torchvision `.pth` / `.safetensors` weights through burn-store, with
//!   missing or mis-shaped keys reported as one error and extra keys ignored with a log line.
//! - [`exam`]: exam models: a backbone on every slice, global average pooling per slice,
//!   pooling over slices (max as in MRNet, mean, or attention) and a classification head.
//! - [`loss`]: class-weighted cross entropy as PyTorch computes it.

pub mod backbone;
pub mod device;
pub mod exam;
pub mod explain;
pub mod keras_onnx;
pub mod loss;
pub mod weights;

pub use backbone::{Backbone, BackboneKind};
pub use device::default_device;
pub use exam::{ExamModel, ExamOutput, HeadActivation, HeadConfig, SlicePooling};
pub use weights::{WeightsError, load_torchvision};
