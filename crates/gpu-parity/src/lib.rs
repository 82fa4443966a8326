//! Holds `tests/lenet.rs`, the GPU-path check: `cargo test --release -p gpu-parity --features wgpu`.
//!
//! The test lives in its own crate because a feature of a package rebuilds every crate that
//! package depends on: here that is burn, the data crate and LeNet-5 only.
