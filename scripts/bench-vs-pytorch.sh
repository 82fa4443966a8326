#!/usr/bin/env bash
# rikai against PyTorch on this machine, back to back: the same networks (parameter counts are
# checked), shapes, optimizers and timing; one table with both throughputs, their ratio, and the
# achieved GFLOP/s against the machine's measured fp32 matmul peak.
#
#   scripts/bench-vs-pytorch.sh                 # CPU: rikai on flex, PyTorch on CPU
#
# Environment:
#   BACKENDS=flex,ndarray  rikai backends to time (need the matching cargo features, FEATURES)
#   FEATURES=ndarray       cargo features for the bench binary
#   ONLY=lenet5-b64,dcgan  a subset of the rows (bench --list names them)
#   BENCH=path/to/bench    a prebuilt bench binary (skips cargo)
#   PYTHON=python3         a Python that has torch (skips the virtual environment)
#   TORCH_DEVICE=cuda      PyTorch's device (default cpu)
#   WINDOWS=5 WINDOW_SECS=2
#   ROUNDS=3               rounds of the comparison: each row is timed in rikai and then in PyTorch,
#                          row by row, every round; the table gives the median of each row's ratios
#                          and their range (this machine drifts by ±20% over minutes)
#   OUT=bench-results      where the CSV files and the table go
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-bench-results}
backends=${BACKENDS:-flex}
torch_device=${TORCH_DEVICE:-cpu}
timing=(--windows "${WINDOWS:-5}" --window-secs "${WINDOW_SECS:-2}")
mkdir -p "$out"

if [ -z "${PYTHON:-}" ]; then
    # The PyPI wheel is the CUDA build; on a CPU machine it still imports and runs on CPU.
    if [ ! -x .venv-bench/bin/python ]; then
        python3 -m venv .venv-bench
        .venv-bench/bin/pip install -q torch numpy
    fi
    PYTHON=.venv-bench/bin/python
fi

if [ -z "${BENCH:-}" ]; then
    cargo build --release -q -p train --bin bench ${FEATURES:+--features "$FEATURES"}
    BENCH=target/release/bench
fi

# Share of CPU time spent busy over the next second (the load average lags by minutes).
busy_percent() {
    local _ u n s i w q sq t1 i1
    read -r _ u n s i w q sq _ </proc/stat
    t1=$((u + n + s + i + w + q + sq)) i1=$((i + w))
    sleep 1
    read -r _ u n s i w q sq _ </proc/stat
    echo $((100 * ((u + n + s + q + sq) - (t1 - i1)) / (u + n + s + i + w + q + sq - t1)))
}
threads=$(nproc)
busy=$(busy_percent)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "machine: $cpu, $threads threads; CPU busy before the run: $busy%"
if [ "$busy" -gt 10 ]; then
    echo "WARNING: this machine is not idle ($busy% busy). PyTorch with $threads threads slows down many"
    echo "         times over when another process keeps the cores busy: these figures are not comparable."
fi

only=()
if [ -n "${ONLY:-}" ]; then only=(--only "$ONLY"); fi
torch_threads=()
if [ "$torch_device" = cpu ]; then torch_threads=(--threads "$threads"); fi

echo "== fp32 matmul peak (PyTorch, $torch_device)"
"$PYTHON" scripts/bench_pytorch.py peak --device "$torch_device" "${torch_threads[@]}" | tee "$out/peak.txt"
rounds=${ROUNDS:-1}
if [ "$rounds" -le 1 ]; then
    echo "== rikai ($backends)"
    "$BENCH" --device "$backends" "${only[@]}" "${timing[@]}" --csv "$out/rikai.csv" | tee "$out/rikai.log"
    echo "== PyTorch ($torch_device)"
    "$PYTHON" scripts/bench_pytorch.py run --device "$torch_device" "${torch_threads[@]}" "${timing[@]}" \
        ${ONLY:+--only "$ONLY"} --csv "$out/pytorch.csv"
else
    rows=${ONLY:-$("$BENCH" --list | awk '{ print $1 }' | paste -sd,)}
    rm -f "$out/rikai.csv" "$out/pytorch.csv" "$out/rikai.log"
    # Appends a one-row CSV to the round's file, its header only once.
    append() { if [ -s "$2" ]; then tail -n +2 "$1" >>"$2"; else cat "$1" >"$2"; fi; }
    for round in $(seq "$rounds"); do
        for row in ${rows//,/ }; do
            echo "== round $round/$rounds: $row"
            "$BENCH" --device "$backends" --only "$row" "${timing[@]}" --csv "$out/row-rikai.csv" |
                tee -a "$out/rikai.log" | grep -E ' on [a-z0-9]+: '
            "$PYTHON" scripts/bench_pytorch.py run --device "$torch_device" "${torch_threads[@]}" "${timing[@]}" \
                --only "$row" --csv "$out/row-pytorch.csv" | grep -E ' on [a-z0-9]+: '
            append "$out/row-rikai.csv" "$out/rikai.csv"
            append "$out/row-pytorch.csv" "$out/pytorch.csv"
        done
    done
    rm -f "$out/row-rikai.csv" "$out/row-pytorch.csv"
fi
# The machine's peak is the fastest fp32 product either library measured: PyTorch's CPU wheel
# calls MKL, which on an AMD EPYC with AVX-512 ran at under half the speed of flex's gemm (197
# against 413 GFLOP/s), and a percentage of that would flatter every row.
peak=$(grep -h 'fp32 matmul' "$out/peak.txt" "$out/rikai.log" | awk '{ v = $(NF - 1) + 0 } v > m { m = v } END { print m }')
echo "machine peak $peak (the fastest fp32 product measured, PyTorch's or rikai's)" >>"$out/peak.txt"
echo "== side by side (ratio = rikai / PyTorch; % peak = rikai's training GFLOP/s over the machine's fp32 matmul peak, the fastest product PyTorch or rikai measured: $peak GFLOP/s; % run peak = the median over the rounds of each round's GFLOP/s over the peak its own bench run measured just before it)"
"$PYTHON" scripts/bench_pytorch.py compare "$out/rikai.csv" "$out/pytorch.csv" --peak "$peak" | tee "$out/table.txt"
echo "files in $out/"
