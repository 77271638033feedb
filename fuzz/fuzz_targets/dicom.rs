//! DICOM reader: one file (Part 10, bare data set, any transfer syntax) to a volume.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let path = std::path::Path::new("fuzz.dcm");
    let _ = cruciate_volume::dicom::read_single(path, data.to_vec(), &Default::default());
});

/// dicom-rs's pixel decoders panic on some malformed data (an RLE segment overrunning its
/// frame); the reader catches those panics and returns an error, which is the behaviour under
/// test. libfuzzer-sys's hook would abort on them first, so it is replaced by a silent one:
/// a panic that the reader does not catch still reaches libfuzzer-sys and aborts.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}
