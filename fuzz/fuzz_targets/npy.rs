//! numpy .npy reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cruciate_volume::npy::read(std::path::Path::new("fuzz.npy"), data);
});
