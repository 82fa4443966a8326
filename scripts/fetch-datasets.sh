#!/usr/bin/env bash
# Install the datasets that come from system packages: the full Fashion-MNIST, from Debian's
# dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist/, where rikai finds them).
set -euo pipefail
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "fashion-mnist: already installed in /usr/share/datasets/fashion-mnist"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "no apt-get here: use 'cargo run --release -p train -- lenet --dataset fashion-mnist --download' instead" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq dataset-fashion-mnist
dpkg -L dataset-fashion-mnist | grep -- '-ubyte'
