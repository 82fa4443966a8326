#!/usr/bin/env bash
# Accuracy benchmark (not a test): train each model on full Fashion-MNIST with its default
# config plus the overrides below, evaluate on the 10,000 test images, print one table.
#
#   scripts/accuracy.sh                 # every row
#   scripts/accuracy.sh resnet20        # rows whose name contains "resnet20"
#   EPOCHS_SCALE=0.5 scripts/accuracy.sh  # shorter runs
#
# Needs the Debian package dataset-fashion-mnist (scripts/fetch-datasets.sh). Runs go to
# runs/accuracy/<row>; a row whose run already finished is reported, not retrained.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | model | epochs | extra flags
ROWS=(
  "lenet5|lenet|10|--crop-padding 1"
  "alexnet-small|alexnet|5|--crop-padding 2 --hflip true"
  "resnet20|resnet|6|--crop-padding 2 --hflip true"
)
filter="${1:-}"
scale="${EPOCHS_SCALE:-1}"
out=runs/accuracy

[[ -n "${TRAIN_BIN:-}" ]] || cargo build --release -p train >&2
train=${TRAIN_BIN:-target/release/train}
mkdir -p "$out"
table="$out/table.md"
printf '| model | dataset | epochs | test acc | best-valid test acc | train time | img/s | wall |\n|---|---|---|---|---|---|---|---|\n' > "$table"

for row in "${ROWS[@]}"; do
  IFS='|' read -r name model epochs flags <<< "$row"
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  epochs=$(python3 -c "print(max(1, round($epochs * $scale)))")
  run="$out/$name-fashion-e$epochs"
  if [[ ! -f "$run/results.json" ]]; then
    start=$(date +%s)
    if [[ -d "$run/checkpoints" ]]; then
      "$train" "$model" --resume "$run" --epochs "$epochs"
    else
      # shellcheck disable=SC2086
      "$train" "$model" --dataset fashion-mnist --epochs "$epochs" $flags --output "$run"
    fi
    echo $(( $(date +%s) - start )) > "$run/wall_seconds"
  fi
  python3 - "$run" "$name" "$epochs" >> "$table" <<'PY'
import json, sys, pathlib
run, name, epochs = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
r = json.loads((run / "results.json").read_text())
wall = (run / "wall_seconds").read_text().strip() if (run / "wall_seconds").exists() else "?"
best = r.get("best_test_accuracy")
best = f"{100 * best:.2f}%" if best is not None else "(final)"
print(f"| {name} | fashion-mnist | {epochs} | {100 * r['test_accuracy']:.2f}% | {best} | "
      f"{r['train_seconds'] / 60:.1f} min | {r['train_images_per_sec']:.0f} | {int(wall) / 60:.1f} min |")
PY
done
echo
cat "$table"
