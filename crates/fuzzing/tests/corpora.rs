//! Replays every file of `fuzz/corpus/TARGET/` (seeds, inputs the fuzzer found interesting,
//! and the regressions of crashes it found) through its target on stable, so a change that
//! brings back a crash fails `cargo test`. Each input runs on its own thread, so a panic is
//! reported with the file that caused it.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read the corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("list the corpus").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let run = tracegate_fuzzing::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .expect("a target of that name");
    let dir = corpus_dir(target);
    let files = files(&dir);
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("read a corpus file");
        let outcome = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || run(&data))
            .expect("spawn")
            .join();
        if outcome.is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: these inputs panic: {failed:#?}"
    );
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_target() {
    for (name, _) in tracegate_fuzzing::TARGETS {
        assert!(corpus_dir(name).is_dir(), "no fuzz/corpus/{name}");
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(target.is_file(), "no {}", target.display());
    }
}

macro_rules! corpus_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target));
            }
        )*
    };
}

corpus_tests!(
    otlp_traces_proto,
    otlp_logs_proto,
    otlp_traces_json,
    otlp_logs_json,
    http_body,
    traceql,
    wal_record,
    wal_segment,
);
