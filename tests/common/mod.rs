//! Helpers shared by the end-to-end tests: they drive the same library entry points as the
//! `train` and `infer` binaries, in-process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// burn's random generator is global to the process (`Device::seed`), so two trainings on
/// parallel test threads would draw from one stream; one at a time keeps each run reproducible,
/// as it is in its own process.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Hold burn's global random generator alone while the guard lives: for tests that initialise
/// models themselves beside tests that train.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `train <args>` as the binary would run it.
pub fn train(args: &[&str]) -> anyhow::Result<()> {
    let _guard = exclusive();
    train::cli::run(std::iter::once("train").chain(args.iter().copied()))
}

/// `infer <args>` as the binary would run it (it initialises a model before loading weights
/// into it, which draws from the shared generator, so it too runs alone).
pub fn infer(args: &[&str]) -> anyhow::Result<()> {
    let _guard = exclusive();
    infer::run(std::iter::once("infer").chain(args.iter().copied()))
}

/// The error message of a call that must fail.
pub fn error_of(result: anyhow::Result<()>) -> String {
    let e = result.expect_err("the call should have failed");
    let msg = format!("{e:#}");
    assert!(!msg.contains('\n'), "error messages are one line: {msg}");
    msg
}

/// Flags for a small, quick training run on the embedded MNIST subset.
pub const QUICK: &[&str] =
    &["--limit-train", "640", "--limit-test", "200", "--batch-size", "32", "--lr", "0.003", "--valid-fraction", "0.1"];

/// A run directory path inside a fresh temporary folder (kept alive by the returned guard).
pub fn temp_run() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    (dir, run)
}

/// One trained LeNet run shared by the tests of a binary: 2 quick epochs.
pub fn trained_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RUN.get_or_init(|| {
        let (dir, run) = temp_run();
        let mut args = vec!["lenet", "--epochs", "2", "--output", run.to_str().unwrap()];
        args.extend_from_slice(QUICK);
        train(&args).unwrap();
        (dir, run)
    })
    .1
}

/// Copy the embedded MNIST files into `dir`, decompressed, so tests can damage them.
pub fn copy_mnist_raw(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().trim_end_matches(".gz").to_string();
        std::fs::write(dir.join(name), rikai_data::idx::read_maybe_gz(&path).unwrap()).unwrap();
    }
}
