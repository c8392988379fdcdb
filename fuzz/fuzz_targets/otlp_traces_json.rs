#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_fuzzing::otlp_traces_json(data));
