//! DICOM reader: one file (Part 10, bare data set, any transfer syntax) to a volume.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.dcm");
    let _ = cruciate_volume::dicom::read_single(path, data.to_vec(), &Default::default());
});
