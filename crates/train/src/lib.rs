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
/// while before returning it ([`keep_freed_memory`] sets how long), and the same code ran at
/// 223–300 (README, Benchmark).
pub use mimalloc::MiMalloc as Allocator;

/// How long [`Allocator`] keeps freed memory before returning it to the kernel, in milliseconds:
/// -1, for the life of the process, whose footprint is then its peak.
///
/// mimalloc's default, one second, is shorter than a DDPM UNet or ResNet-18 training step on two
/// cores (1–4 s): each step then faults its activations back in, huge page by huge page, 5–10% of
/// its time. Ten seconds still left 13,000 faults in 15 s of UNet training (mimalloc purges its
/// arenas on their own schedule); keeping all of it left 700, the ones of the first step.
pub const KEEP_FREED_MS: i64 = -1;

/// `mi_option_purge_delay` in the `mi_option_t` enum of libmimalloc-sys 0.1's mimalloc 3
/// (`c_src/mimalloc/v3/include/mimalloc.h`), which the crate does not name: the sixteenth option,
/// after `mi_option_deprecated_eager_commit_delay` (14). mimalloc keeps retired options as
/// placeholders so that these numbers stay put.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets [`KEEP_FREED_MS`]. Call it first in `main`, before any other thread starts.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores a number in mimalloc's option table; it is not thread-safe,
    // and `main` calls this before it starts any thread.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, KEEP_FREED_MS as _);
    }
}

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) bits.
#[cfg(target_arch = "x86_64")]
const FLUSH_DENORMALS: u32 = 1 << 15 | 1 << 6;

/// Makes the calling thread's arithmetic treat denormal floats as zero, in and out (x86-64's FTZ
/// and DAZ); other processors keep their default. [`on_pool`] sets it on every pool thread.
///
/// Adam's and momentum's moments of a weight whose gradient is zero decay by 0.9 a step and pass
/// below f32's smallest normal number, 1.2e-38, after about 800 steps; from then on the optimizer
/// computes on denormals, which x86 processors handle in microcode, many times slower: LeNet-5's
/// training at batch 64 on the benchmark's fixed batch dropped from 36,700 to 26,500 images/s
/// after its 800th step. Flushed, such a value is zero, as in TensorFlow's and XLA's CPU default;
/// PyTorch keeps denormals unless told (`torch.set_flush_denormal`), and ran no faster told so.
pub fn flush_denormals() {
    // SAFETY: the two bits change only what arithmetic on or into denormals gives: zero. Rust
    // assumes the default floating-point environment (so a constant it folds may keep a denormal
    // that run time flushes), and no code relies on denormal results for memory safety.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code, deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | FLUSH_DENORMALS);
    }
}

/// Runs `f` on a thread of rayon's pool, the one every kernel splits its work over, and returns
/// its result.
///
/// From any other thread each parallel operation is handed to the pool while the caller sleeps
/// until it is done: two thread wake-ups per operation, hundreds per training step. On a pool
/// thread an operation runs its first half in place while the other threads steal the rest, and
/// the serial work between operations runs there too. The pool's threads get the main thread's
/// 8 MiB of stack (std's default for other threads is 2 MiB) and flush denormals to zero
/// ([`flush_denormals`]).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // An error means the global pool already exists: built by an earlier call (with this stack),
    // or by a parallel operation run before this one (with std's), which `main` does not do.
    let pool = rayon::ThreadPoolBuilder::new().stack_size(8 << 20).start_handler(|_| flush_denormals());
    let _ = pool.build_global();
    rayon::scope(|_| f())
}

/// Run a binary's logic and turn an error into a one-line message and exit status 1.
pub fn exit_on_error(result: anyhow::Result<()>) {
    if let Err(e) = result {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flush_denormals_makes_the_thread_flush_denormals_to_zero() {
        let half = || std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5);
        let (before, after) = std::thread::spawn(move || {
            let before = half();
            super::flush_denormals();
            (before, half())
        })
        .join()
        .unwrap();
        assert_eq!(before, f32::MIN_POSITIVE / 2.0, "a new thread keeps denormals");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(after, 0.0);
        }
        assert!(half() > 0.0, "only the thread that asked flushes");
    }

    #[test]
    fn on_pool_runs_on_a_pool_thread_and_returns_its_result() {
        assert_eq!(rayon::current_thread_index(), None, "a test thread is not a pool thread");
        let (index, sum) = super::on_pool(|| {
            use rayon::prelude::*;
            (rayon::current_thread_index(), (0..1000u64).into_par_iter().sum::<u64>())
        });
        assert!(index.is_some(), "ran on the calling thread");
        assert_eq!(sum, 499_500);
    }

    #[test]
    #[allow(unsafe_code)]
    fn keep_freed_memory_sets_mimallocs_purge_delay() {
        // SAFETY: reading an option; no other test touches mimalloc's options.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        // The option is the purge delay: its default is mimalloc's one second (unless the
        // environment sets it), and afterwards it is ours.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000, "option {} is not mimalloc's purge delay", super::PURGE_DELAY);
        }
        super::keep_freed_memory();
        assert_eq!(get(), super::KEEP_FREED_MS as std::ffi::c_long);
    }
}
