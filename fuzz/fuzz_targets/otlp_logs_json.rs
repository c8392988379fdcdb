#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_fuzzing::otlp_logs_json(data));
