//! NIfTI-1/2 reader on un-gzipped bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cruciate_volume::nifti::read(std::path::Path::new("fuzz.nii"), data);
});
