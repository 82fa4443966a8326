#!/usr/bin/env bash
# The GPU checks in one go, for a machine with an NVIDIA GPU and PyTorch: the GPU-path test
# (crates/gpu-parity), rikai on wgpu against PyTorch on CUDA, single operations on both, then flex on
# the host's cores against PyTorch on the CPU. Each stage has a time limit, so a slow stage
# cannot starve the others, and everything lands in $OUT (one tar file, refreshed per stage).
#
#   scripts/gpu-check.sh                              # builds with --features wgpu first
#   BENCH=bin/bench GPU_TEST=bin/gpu OUT=results scripts/gpu-check.sh   # prebuilt binaries
#
# Binaries built elsewhere travel smaller compressed: `bench.xz` / `gpu.xz` beside them are
# unpacked first. PYTHON names a Python that has torch (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
python=${PYTHON:-python3}
work=$(mktemp -d)
mkdir -p "$out" "$work/gpu" "$work/cpu"
start=$(date +%s)
stamp() { echo "== $1 ($(($(date +%s) - start))s)"; }
save() { tar -cf "$out/results.tar" -C "$work" .; }

if [ -z "${BENCH:-}" ] || [ -z "${GPU_TEST:-}" ]; then
    cargo build --release -q -p train --bin bench --features wgpu || exit 1
    BENCH=target/release/bench
    GPU_TEST=$(cargo test --release -q -p gpu-parity --features wgpu --no-run --message-format=json |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
fi
for bin in "$BENCH" "$GPU_TEST"; do
    if [ ! -x "$bin" ] && [ -f "$bin.xz" ]; then xz -dk "$bin.xz" && chmod +x "$bin"; fi
    [ -x "$bin" ] || { echo "error: $bin: no such executable" >&2; exit 1; }
done
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$work/nvidia-smi.txt"

stamp "crates/gpu-parity"
timeout 180 "$GPU_TEST" --nocapture 2>&1 | tee "$work/gpu-test.log"
save
stamp "rikai on wgpu against PyTorch on CUDA"
BENCH=$BENCH PYTHON=$python TORCH_DEVICE=cuda BACKENDS=wgpu WINDOWS=3 WINDOW_SECS=1 OUT=$work/gpu \
    timeout 400 bash scripts/bench-vs-pytorch.sh 2>&1 | tee "$work/gpu-bench.log"
save
stamp "single operations on wgpu and CUDA"
timeout 90 "$BENCH" --ops --device wgpu --windows 3 --window-secs 0.5 --csv "$work/gpu/ops-wgpu.csv" >"$work/ops.log" 2>&1
timeout 60 "$python" scripts/bench_pytorch.py ops --device cuda --windows 3 --window-secs 0.5 \
    --csv "$work/gpu/ops-cuda.csv" >>"$work/ops.log" 2>&1
"$python" scripts/bench_pytorch.py compare-ops "$work/gpu/ops-wgpu.csv" "$work/gpu/ops-cuda.csv" | tee "$work/gpu/ops-table.txt"
save
stamp "flex on the host CPU against PyTorch on the CPU"
BENCH=$BENCH PYTHON=$python TORCH_DEVICE=cpu BACKENDS=flex WINDOWS=3 WINDOW_SECS=1 OUT=$work/cpu \
    ONLY=${CPU_ROWS:-lenet5-b64,lenet5-b256,resnet20,resnet18-cifar,dcgan} \
    timeout 200 bash scripts/bench-vs-pytorch.sh 2>&1 | tee "$work/cpu-bench.log"
save
stamp "done: $out/results.tar"
