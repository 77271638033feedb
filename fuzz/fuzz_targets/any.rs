//! The content-sniffing entry point: gzip and zip wrappers around every format.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cruciate_volume::read_bytes(std::path::Path::new("fuzz"), data.to_vec(), &Default::default());
});
