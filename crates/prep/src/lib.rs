//! Preprocessing: from a read [`Volume`](cruciate_volume::Volume) to what a model takes.
//!
//! Small pure functions, one concern each:
//! - [`intensity`]: percentile clipping with z-scoring, and MRNet's reference normalisation
//!   (min-max to `[0, 255]`, then `(x - 58.09) / 49.73`);
//! - [`resample`]: resizing slices to a model's input size (bilinear; antialiased when shrinking);
//! - [`slices`]: choosing the `n` central slices, or the `n` around a region of interest;
//! - [`roi`]: cropping to a region of interest with a margin;
//! - [`pixel_scale`]: the scaling of pixels a pretrained backbone's weights expect;
//! - [`channels`]: repeating grey slices into the 3 channels of ImageNet backbones;
//! - [`input`]: the whole path from an exam to a network input, and back for heat maps;
//! - [`augment`](mod@augment): MRI augmentation of training inputs (geometry, gamma, noise, bias field,
//!   ghosting).

#![warn(missing_docs)]

pub mod augment;
pub mod channels;
pub mod input;
pub mod intensity;
pub mod pixel_scale;
pub mod resample;
pub mod roi;
pub mod slices;

pub use augment::{AugmentConfig, AugmentDraw, augment};
pub use channels::repeat_channels;
pub use input::{InputConfig, InputError, InputGeometry, PreparedInput, Selection, prepare_input};
pub use intensity::{
    MRNET_MEAN, MRNET_STD, minmax_255, mrnet_normalize, mrnet_standardise, percentile_zscore,
};
pub use pixel_scale::PixelScale;
pub use resample::{resize_slice, resize_volume};
pub use roi::{crop_roi, crop_to, margin_box};
pub use slices::{SliceRange, central_slices, select_slices, slices_around};
