//! KneeMRI .pck reader: the pickle machine and the array it yields.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cruciate_volume::kneemri::read_pck(std::path::Path::new("fuzz.pck"), data);
});
