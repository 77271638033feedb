//! Cruciate's networks, on Burn.
//!
//! - [`backbone`]: per-slice feature extractors in torchvision's layout (AlexNet features,
//!   VGG16/19 plain and batch-norm, ResNet18/50, SqueezeNet 1.1) and a compact `small` CNN.
//! - [`weights`]: loading torchvision `.pth` / `.safetensors` weights through burn-store, with
//!   missing or mis-shaped keys reported as one error and extra keys ignored with a log line;
//!   [`keras_onnx`]: a Keras VGG16 convolutional base from an ONNX file, and its conversion to a
//!   torchvision-layout `.safetensors` file ([`safetensors_file`]) that records the pixel
//!   scaling it expects.
//! - [`exam`]: exam models: a backbone on every slice, global average pooling per slice,
//!   pooling over slices (max as in MRNet, mean, or attention) and a classification head.
//! - [`loss`]: class-weighted cross entropy as PyTorch computes it.
//! - [`explain`]: CAM, Grad-CAM and each slice's share of the pooled features.
//! - [`network`]: a trained exam network as a [`Classifier`](cruciate_infer::Classifier), the
//!   `network` run kind (and its run folders from before `run.json`).
//! - [`device`]: the compute device and engine, chosen by the program and passed down;
//!   [`engine`]: backbones' forward passes on a fast engine (oneDNN) from the same weights.

#![warn(missing_docs)]

pub mod backbone;
pub mod checkpoints;
pub mod device;
pub mod engine;
pub mod engine_training;
pub mod exam;
pub mod explain;
pub mod keras_onnx;
mod legacy;
pub mod loss;
pub mod network;
mod pretrained;
mod run_kind;
pub mod safetensors_file;
pub mod weights;

pub use backbone::{Backbone, BackboneKind};
pub use device::{Compute, Target};
pub use engine::BackboneEngine;
pub use engine_training::BackboneTrainer;
pub use exam::{ExamModel, ExamOutput, HeadActivation, HeadConfig, SlicePooling, SpatialPooling};
pub use network::{NetworkClassifier, NetworkConfig, network_names};
pub use pretrained::load_pretrained;
pub use run_kind::{network_kind, network_run_info};
pub use weights::{WeightsError, load_torchvision};
