//! Which device computes: Burn's Flex CPU backend by default; with the `cuda` feature, the
//! first CUDA GPU unless `CRUCIATE_DEVICE=cpu` asks for the CPU.

use burn::prelude::*;

/// The device models run on (see the module doc).
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    if std::env::var("CRUCIATE_DEVICE").map_or(true, |d| d != "cpu") {
        return Device::cuda(0usize);
    }
    Device::flex()
}

/// A short name of the device, for reports.
pub fn device_name() -> &'static str {
    #[cfg(feature = "cuda")]
    if std::env::var("CRUCIATE_DEVICE").map_or(true, |d| d != "cpu") {
        return "cuda:0";
    }
    "cpu (flex)"
}
