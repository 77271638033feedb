//! Classifiers on feature vectors: the second stage of the study's chosen system (VGG16
//! features of each exam fed to a support vector classifier) and its baseline.
//!
//! - [`Svc`]: C-support vector classification with linear or RBF kernels, `gamma = "scale"` as
//!   scikit-learn computes it, per-class weights (`balanced`), Platt-scaled probabilities and
//!   one-vs-one decomposition with pairwise coupling for the four grades: scikit-learn's `SVC`
//!   semantics, on LIBSVM's own solver (the `libsvm-rs` port).
//! - [`Logistic`]: L2-regularised logistic regression (binomial for two classes, multinomial
//!   otherwise), scikit-learn's `LogisticRegression` objective.
//! - [`Standardiser`]: per-feature centring and scaling fitted on training rows only.
//! - [`FeatureModel`]: either, fitted from [`ModelSettings`], saved as JSON; with the gradient
//!   of a class probability with respect to the vector, which explains a call.
//!
//! Nothing here knows about images: rows are plain `f32` vectors.

#![warn(missing_docs)]

mod error;
mod gradient;
mod kernel;
mod lbfgs;
mod logistic;
mod matrix;
mod model;
mod platt;
mod standardise;
mod svc;
mod weights;

pub use error::SvmError;
pub use kernel::{Gamma, Kernel, KernelKind};
pub use logistic::{Logistic, LogisticSettings};
pub use matrix::Matrix;
pub use model::{FeatureModel, ModelSettings};
pub use standardise::Standardiser;
pub use svc::{Svc, SvcSettings};
pub use weights::ClassWeight;
