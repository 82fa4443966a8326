#!/usr/bin/env bash
# Type-checks the `train` and `infer` binaries with each backend feature alone (ndarray, wgpu,
# vulkan, cuda) without building them: each feature adds its device constructor in
# crates/train/src/device.rs. Each check takes 10-15 minutes on two cores, so CI leaves them to
# this script; CI builds and runs wgpu through crates/gpu-parity.
#
# burn 0.22's CUDA backend (cubecl-cuda -> cubecl-llvm) downloads an LLVM bundle in a build script,
# which fails offline; DOCS_RS=1 makes that script skip the download, as it does on docs.rs, and a
# type check needs no LLVM. `--release` reuses the build scripts and procedural macros of a
# release build (the dev profile would compile them again, optimised).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCS_RS=1
for feature in ${FEATURES:-ndarray wgpu vulkan cuda}; do
    echo "== train and infer with --no-default-features --features $feature"
    cargo check --release -p train -p infer --no-default-features --features "$feature"
done
