//! rikai's training machinery and the `train` binary's logic.
//!
//! Shared by every model family: configuration merging ([`config`]), the model registry
//! ([`models`]), run directories and atomic writes ([`run_dir`]), checkpoints that resume
//! exactly ([`checkpoint`]), per-epoch metrics ([`metrics`]) and plots ([`plot`]), progress
//! output ([`progress`]), backend selection ([`device`]), optimizers and learning-rate schedules
//! ([`optim`]), the classifier loop ([`classify`]), the adversarial loop ([`gan`]), the diffusion loop ([`ddpm`]), sample grids
//! ([`grid`]) and the quality score of generative models ([`quality`]).
//! Throughput is measured by the `bench` binary ([`bench`]).
//! The binary is thin: `main` calls [`cli::run`], which the end-to-end tests call in-process.

pub mod bench;
pub mod checkpoint;
pub mod classify;
pub mod cli;
pub mod config;
pub mod ddpm;
pub mod device;
pub mod evaluate;
pub mod gan;
pub mod generative;
pub mod grid;
pub mod linalg;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod quality;
pub mod run_dir;
pub mod run_info;

/// The memory allocator of rikai's binaries (`#[global_allocator]` in each `main`).
///
/// A training step frees and reallocates hundreds of megabytes of activations and gradients.
/// glibc's malloc hands such large blocks back to the kernel on every free (`mmap`/`munmap`), so
/// the next step takes a page fault and a zeroed page for every 4 KiB: ResNet-20 spent a quarter
/// of its time there and ran at 180 images/s on two cores; mimalloc keeps freed memory for a
/// second before returning it, and the same code runs at 223–300 (README, Benchmark).
pub use mimalloc::MiMalloc as Allocator;

/// Run a binary's logic and turn an error into a one-line message and exit status 1.
pub fn exit_on_error(result: anyhow::Result<()>) {
    if let Err(e) = result {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
