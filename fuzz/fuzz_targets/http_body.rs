#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_fuzzing::http_body(data));
