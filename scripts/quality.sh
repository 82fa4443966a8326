#!/usr/bin/env bash
# Quality benchmark of a generator (not a test): train the LeNet-5 judge and the generator with
# their default configs on the embedded MNIST, then print the LeNet-FID report and write a
# sample grid (and, for DCGAN, latent walks).
#
#   scripts/quality.sh                      # DCGAN, runs in runs/quality/
#   scripts/quality.sh dcgan 60             # with another number of epochs
#   SAMPLES=2000 scripts/quality.sh diffusion   # DDIM-50 on 2,000 samples
#   SAMPLES=256 SAMPLER=ddpm scripts/quality.sh diffusion
#
# A run that already finished is scored, not retrained; a killed one is resumed.
set -euo pipefail
cd "$(dirname "$0")/.."

model="${1:-dcgan}"
epochs="${2:-}"
out=runs/quality
cargo build --release -p train -p infer >&2
train=target/release/train
infer=target/release/infer

judge="$out/lenet-judge"
[[ -f "$judge/results.json" ]] || "$train" lenet --output "$judge"

run="$out/$model${epochs:+-e$epochs}"
if [[ ! -f "$run/results.json" ]]; then
  if [[ -d "$run/checkpoints" ]]; then
    "$train" "$model" --resume "$run" ${epochs:+--epochs "$epochs"}
  else
    "$train" "$model" --output "$run" ${epochs:+--epochs "$epochs"}
  fi
fi

sampling=()
[[ "$model" == diffusion ]] && sampling=(--sampler "${SAMPLER:-ddim}" --steps "${STEPS:-50}")
"$infer" "$model" --checkpoint "$run" --evaluate --classifier "$judge" --samples "${SAMPLES:-10000}" "${sampling[@]}" \
  | tee "$run/quality${SAMPLER:+-$SAMPLER}.txt"
"$infer" "$model" --checkpoint "$run" --samples 64 --seed 7 "${sampling[@]}" --out "$run/grid.png"
[[ "$model" == dcgan ]] && "$infer" "$model" --checkpoint "$run" --interpolate 10 --rows 4 --seed 7 --out "$run/walk.png"
python3 - "$run/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"training: {r['epochs']} epochs, {r['train_seconds']:.0f} s, {r['train_images_per_sec']:.0f} images/s")
PY
