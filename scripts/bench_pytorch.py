#!/usr/bin/env python3
"""PyTorch twins of rikai's `bench` rows, timed the same way, and the side-by-side table.

    bench_pytorch.py run --device cpu --csv pytorch.csv      # measure the rows in PyTorch
    bench_pytorch.py peak --device cpu                        # fp32 matmul GFLOP/s of this machine
    bench_pytorch.py compare rikai.csv pytorch.csv --peak 150 # one table, both implementations
    bench_pytorch.py ops --csv pytorch-ops.csv                # single operations (bench --ops twins)
    bench_pytorch.py compare-ops rikai-ops.csv pytorch-ops.csv

Each network is written to match rikai's layer for layer; `run` refuses to time a row whose
parameter count differs from the one rikai reports (crates/train/src/bench/workloads.rs).
Timing: warm-up steps, then `--windows` windows of about `--window-secs` each ending in a device
sync; the median window's images per second is reported. FLOPs per image come from
torch.utils.flop_counter (matrix products and convolutions, forward and backward).
"""

import argparse
import csv
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name, family, batch, (C, H, W), optimizer, learned parameters in rikai
ROWS = [
    ("lenet5-b64", "lenet", 64, (1, 28, 28), "adam", 61_706),
    ("lenet5-b256", "lenet", 256, (1, 28, 28), "adam", 61_706),
    ("resnet18-cifar", "resnet18", 128, (3, 32, 32), "sgd-momentum", 11_173_962),
    ("resnet20", "resnet20", 128, (3, 32, 32), "sgd-momentum", 269_722),
    ("alexnet-small", "alexnet", 128, (3, 32, 32), "sgd-momentum", 7_706_442),
    ("dcgan", "dcgan", 128, (1, 28, 28), "adam", 759_681 + 138_689),
    ("ddpm-unet", "unet", 128, (1, 28, 28), "adam", 989_217),
]


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


def conv_bn(cin, cout, k, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, option_a):
        super().__init__()
        self.conv1, self.conv2 = conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, 1)
        self.reshape = stride != 1 or cin != cout
        self.option_a, self.stride, self.extra = option_a, stride, cout - cin
        self.proj = conv_bn(cin, cout, 1, stride) if self.reshape and not option_a else None

    def shortcut(self, x):
        if not self.reshape:
            return x
        if self.proj is not None:
            return self.proj(x)
        x = x[:, :, :: self.stride, :: self.stride]  # option A: subsample, pad channels with zeros
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-18 with a 3x3 stem (projection shortcuts) or the paper's CIFAR ResNet-6n+2 (option A)."""

    def __init__(self, stages, base, option_a):
        super().__init__()
        self.stem = conv_bn(3, base, 3, 1)
        blocks, cin = [], base
        for i, n in enumerate(stages):
            for j in range(n):
                cout = base << i
                blocks.append(BasicBlock(cin, cout, 2 if i > 0 and j == 0 else 1, option_a))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class AlexNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        pool = nn.MaxPool2d(3, 2, padding=1)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), pool,
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), pool,
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), pool,
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 16, 1024), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 4).flatten(1))


def dcgan_28():
    """Radford et al.'s DCGAN at 28x28 as rikai builds it: 7x7 base, one doubling per layer."""
    g = nn.Sequential(
        nn.Unflatten(1, (100, 1, 1)),
        nn.ConvTranspose2d(100, 128, 7, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip
    d = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 7), nn.Flatten(0),
    )  # fmt: skip
    return g, d


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups=8):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(groups, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, t):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(F.silu(t))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class Attention(nn.Module):
    def __init__(self, c, groups=8):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(groups, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3 * c, h * w).chunk(3, dim=1)
        weights = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=2)
        return x + self.proj((weights @ v.transpose(1, 2)).transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    """rikai's DDPM UNet (crates/diffusion/src/unet.rs): base 16, mults 1-2-4, 2 blocks, attention at the bottom."""

    def __init__(self, channels=1, base=16, mults=(1, 2, 4), blocks=2):
        super().__init__()
        self.base, self.blocks, tdim = base, blocks, 4 * base
        widths, levels = [m * base for m in mults], len(mults)
        self.time1, self.time2 = nn.Linear(base, tdim), nn.Linear(tdim, tdim)
        self.conv_in = nn.Conv2d(channels, base, 3, padding=1)
        skips, width = [base], base
        self.down, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for level, out in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(width, out, tdim))
                self.down_attn.append(Attention(out) if level == levels - 1 else nn.Identity())
                width = out
                skips.append(width)
            if level + 1 < levels:
                self.downsample.append(nn.Conv2d(width, width, 3, 2, 1))
                skips.append(width)
        self.mid1, self.mid_attn, self.mid2 = ResBlock(width, width, tdim), Attention(width), ResBlock(width, width, tdim)
        self.up, self.up_attn, self.upsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(levels)):
            out = widths[level]
            for _ in range(blocks + 1):
                self.up.append(ResBlock(width + skips.pop(), out, tdim))
                self.up_attn.append(Attention(out) if level == levels - 1 else nn.Identity())
                width = out
            if level > 0:
                self.upsample.append(nn.Conv2d(width, width, 3, padding=1))
        self.norm_out, self.conv_out = nn.GroupNorm(8, width), nn.Conv2d(width, channels, 3, padding=1)
        self.levels = levels

    def embed(self, t):
        half = self.base // 2
        freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
        args = t[:, None] * freqs[None]
        return torch.cat([args.sin(), args.cos()], dim=1)

    def forward(self, x, t):
        time = self.time2(F.silu(self.time1(self.embed(t))))
        h = self.conv_in(x)
        skips, i = [h], 0
        for level in range(self.levels):
            for _ in range(self.blocks):
                h = self.down_attn[i](self.down[i](h, time))
                skips.append(h)
                i += 1
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, time)), time)
        i = 0
        for level in range(self.levels):
            for _ in range(self.blocks + 1):
                h = self.up_attn[i](self.up[i](torch.cat([h, skips.pop()], dim=1), time))
                i += 1
            if level < len(self.upsample) and skips:
                h = self.upsample[level](F.interpolate(h, size=skips[-1].shape[2:], mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def params(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def workload(family, batch, shape, optimizer, device):
    """(modules, train_step, infer_step) for one row; the batches stay on the device."""
    gen = torch.Generator(device="cpu").manual_seed(42)
    rand = lambda *s: torch.randn(*s, generator=gen).to(device)  # noqa: E731
    x = rand(batch, *shape)
    if family == "dcgan":
        g, d = (m.to(device) for m in dcgan_28())
        opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real, z = x.tanh(), rand(batch, 100)
        ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
        bce = F.binary_cross_entropy_with_logits

        def train():
            fake = g(z)
            opt_d.zero_grad(set_to_none=True)
            (bce(d(real), ones) + bce(d(fake.detach()), zeros)).backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            bce(d(fake), ones).backward()
            opt_g.step()

        def infer():
            with torch.inference_mode():
                g.eval()
                g(z)
                g.train()

        return (g, d), train, infer
    if family == "unet":
        net = UNet(shape[0]).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        t = torch.tensor([i * 7919 % 1000 for i in range(batch)], dtype=torch.float32, device=device)
        noise = rand(batch, *shape)

        def train():
            opt.zero_grad(set_to_none=True)
            F.mse_loss(net(x, t), noise).backward()
            opt.step()

        def infer():
            with torch.inference_mode():
                net(x, t)

        return (net,), train, infer
    net = {
        "lenet": LeNet5,
        "resnet18": lambda: CifarResNet([2, 2, 2, 2], 64, option_a=False),
        "resnet20": lambda: CifarResNet([3, 3, 3], 16, option_a=True),
        "alexnet": AlexNetSmall,
    }[family]().to(device)
    if optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    targets = (torch.arange(batch) % 10).to(device)

    def train():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), targets).backward()
        opt.step()

    def infer():
        with torch.inference_mode():
            net.eval()
            net(x)
            net.train()

    return (net,), train, infer


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(step, device, images, warmup, windows, window_secs):
    fastest = math.inf
    for _ in range(max(warmup, 1)):
        started = time.perf_counter()
        step()
        sync(device)
        fastest = min(fastest, time.perf_counter() - started)
    steps = max(1, round(window_secs / fastest))
    rates = []
    for _ in range(windows):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        rates.append(steps * images / (time.perf_counter() - started))
    return statistics.median(rates)


def flops_per_image(step, batch):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / batch


def cmd_run(args):
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"pytorch {torch.__version__} on {args.device}, {torch.get_num_threads()} threads", flush=True)
    rows = [r for r in ROWS if not args.only or r[0] in args.only.split(",")]
    with open(args.csv, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["impl", "backend", "model", "batch", "input", "optimizer", "params",
                      "train_images_per_s", "infer_images_per_s", "train_flops_per_image", "infer_flops_per_image"])  # fmt: skip
        for name, family, batch, shape, optimizer, expected in ROWS:
            if (name, family, batch, shape, optimizer, expected) not in rows:
                continue
            torch.manual_seed(42)
            modules, train, infer = workload(family, batch, shape, optimizer, device)
            n = params(*modules)
            if n != expected:
                sys.exit(f"{name}: PyTorch twin has {n} parameters, rikai's has {expected}; fix the twin")
            train_flops, infer_flops = flops_per_image(train, batch), flops_per_image(infer, batch)
            t = throughput(train, device, batch, args.warmup, args.windows, args.window_secs)
            i = throughput(infer, device, batch, args.warmup, args.windows, args.window_secs)
            print(f"{name} on {args.device}: {n} parameters, train {t:.0f} img/s, infer {i:.0f} img/s", flush=True)
            out.writerow(["pytorch", args.device, name, batch, "x".join(map(str, shape)), optimizer, n,
                          f"{t:.1f}", f"{i:.1f}", f"{train_flops:.0f}", f"{infer_flops:.0f}"])  # fmt: skip
            f.flush()  # a run cut short keeps the rows it finished


def cmd_peak(args):
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    best = 0.0
    for n in (1024, 2048, 4096):
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        rate = throughput(lambda: a @ b, device, 1, 2, 5, 1.0)
        gflops = rate * 2 * n**3 / 1e9
        print(f"fp32 matmul {n}x{n}x{n}: {gflops:.1f} GFLOP/s", flush=True)
        best = max(best, gflops)
    print(f"peak {best:.1f}")


def op(name, device):
    """The twins of crates/train/src/bench/ops.rs: one operation at one shape."""
    g = dict(device=device, requires_grad=True)

    def conv(x, w, pad, grads, stride=1):
        """grads: "none" (forward only), "both", "input" or "weight"."""
        x = torch.randn(*x, device=device, requires_grad=grads in ("both", "input"))
        w = torch.randn(*w, device=device, requires_grad=grads in ("both", "weight"))
        if grads == "none":
            return lambda: F.conv2d(x, w, stride=stride, padding=pad)
        return lambda: F.conv2d(x, w, stride=stride, padding=pad).sum().backward()

    if name == "conv1-fwd":
        return conv((64, 1, 28, 28), (6, 1, 5, 5), 2, "none")
    if name == "conv1-fwd-bwd":
        return conv((64, 1, 28, 28), (6, 1, 5, 5), 2, "both")
    if name == "conv2-fwd":
        return conv((64, 6, 14, 14), (16, 6, 5, 5), 0, "none")
    if name == "conv2-fwd-bwd":
        return conv((64, 6, 14, 14), (16, 6, 5, 5), 0, "both")
    resnet = ((128, 16, 32, 32), (16, 16, 3, 3), 1)
    if name == "resnet-conv-fwd":
        return conv(*resnet, "none")
    if name == "resnet-conv-fwd-bwd":
        return conv(*resnet, "both")
    if name == "resnet-conv-fwd-bwd-input":
        return conv(*resnet, "input")
    if name == "resnet-conv-fwd-bwd-weight":
        return conv(*resnet, "weight")
    if name == "resnet-conv3-fwd-bwd":
        return conv((128, 64, 8, 8), (64, 64, 3, 3), 1, "both")
    if name == "resnet-conv2-fwd-bwd":
        return conv((128, 32, 16, 16), (32, 32, 3, 3), 1, "both")
    if name == "resnet-down2-fwd-bwd":
        return conv((128, 16, 32, 32), (32, 16, 3, 3), 1, "both", stride=2)
    if name == "resnet-down3-fwd-bwd":
        return conv((128, 32, 16, 16), (64, 32, 3, 3), 1, "both", stride=2)
    if name == "resnet-stem-fwd-bwd":
        return conv((128, 3, 32, 32), (16, 3, 3, 3), 1, "weight")
    if name == "resnet-bn-fwd-bwd":
        bn = torch.nn.BatchNorm2d(16).to(device)
        x = torch.randn(128, 16, 32, 32, **g)
        return lambda: bn(x).sum().backward()
    if name == "unet-gn-fwd-bwd":
        gn = torch.nn.GroupNorm(8, 16).to(device)
        x = torch.randn(128, 16, 28, 28, **g)
        return lambda: gn(x).sum().backward()
    if name == "unet-gn-silu-fwd-bwd":
        gn = torch.nn.GroupNorm(8, 16).to(device)
        x = torch.randn(128, 16, 28, 28, **g)
        return lambda: F.silu(gn(x)).sum().backward()
    if name == "unet-silu-fwd-bwd":
        x = torch.randn(128, 16, 28, 28, **g)
        return lambda: F.silu(x).sum().backward()
    if name == "unet-attn-fwd-bwd":
        qkv = torch.randn(128, 3 * 64, 49, **g)

        def attention():
            q, k, v = qkv.chunk(3, dim=1)
            weights = torch.softmax(q.transpose(1, 2) @ k / 8.0, dim=2)
            (weights @ v.transpose(1, 2)).transpose(1, 2).sum().backward()

        return attention
    if name == "dcgan-convt-fwd-bwd":
        x, w = torch.randn(128, 128, 7, 7, **g), torch.randn(128, 64, 4, 4, **g)
        return lambda: F.conv_transpose2d(x, w, stride=2, padding=1).sum().backward()
    if name == "pool-fwd-bwd":
        x = torch.randn(64, 6, 28, 28, **g)
        return lambda: F.max_pool2d(x, 2).sum().backward()
    if name == "alexnet-pool-fwd-bwd":
        x = torch.randn(128, 64, 32, 32, **g)
        return lambda: F.max_pool2d(x, 3, 2, padding=1).sum().backward()
    if name == "relu-fwd-bwd":
        x = torch.randn(64, 6, 28, 28, **g)
        return lambda: F.relu(x).sum().backward()
    if name == "linear-fwd-bwd":
        x, w, b = torch.randn(64, 400, device=device), torch.randn(400, 120, **g), torch.randn(1, 120, **g)
        return lambda: (x @ w + b).sum().backward()
    if name == "matmul-256":
        a, b = torch.randn(256, 256, device=device), torch.randn(256, 256, device=device)
        return lambda: a @ b
    raise ValueError(name)


OPS = ["conv1-fwd", "conv1-fwd-bwd", "conv2-fwd", "conv2-fwd-bwd", "pool-fwd-bwd", "alexnet-pool-fwd-bwd", "relu-fwd-bwd",
       "linear-fwd-bwd", "resnet-conv-fwd", "resnet-conv-fwd-bwd", "resnet-conv-fwd-bwd-input",
       "resnet-conv-fwd-bwd-weight", "resnet-conv3-fwd-bwd", "resnet-conv2-fwd-bwd", "resnet-down2-fwd-bwd",
       "resnet-down3-fwd-bwd", "resnet-stem-fwd-bwd", "resnet-bn-fwd-bwd", "unet-gn-fwd-bwd", "unet-gn-silu-fwd-bwd", "unet-silu-fwd-bwd", "unet-attn-fwd-bwd", "dcgan-convt-fwd-bwd", "matmul-256"]  # fmt: skip


def cmd_ops(args):
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"pytorch {torch.__version__} on {args.device}, {torch.get_num_threads()} threads", flush=True)
    with open(args.csv, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["impl", "backend", "op", "microseconds"])
        for name in OPS:
            torch.manual_seed(42)
            micros = 1e6 / throughput(op(name, device), device, 1, args.warmup, args.windows, args.window_secs)
            print(f"{name:<27} {micros:>10.1f} us", flush=True)
            out.writerow(["pytorch", args.device, name, f"{micros:.2f}"])


def cmd_compare_ops(args):
    ours, theirs = read_rows(args.rikai), {r["op"]: float(r["microseconds"]) for r in read_rows(args.pytorch)}
    print(f"{'op':<27} {'backend':>8} {'rikai us':>10} {'pytorch us':>11} {'rikai/pytorch':>14}")
    for r in ours:
        # A `-burn` row is burn's own convolution, set against the same PyTorch operation.
        them = theirs.get(r["op"], theirs.get(r["op"].removesuffix("-burn")))
        if them is not None:
            us = float(r["microseconds"])
            print(f"{r['op']:<27} {r['backend']:>8} {us:>10.1f} {them:>11.1f} {us / them:>14.2f}")


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cmd_compare(args):
    # With several rounds (bench-vs-pytorch.sh's ROUNDS), each model has a row per round in both
    # files, in round order: the k-th rikai row pairs with the k-th PyTorch row, measured back to
    # back, and the ratio shown is the median of the rounds' ratios, its range beside it.
    ours, theirs = read_rows(args.rikai), read_rows(args.pytorch)
    flops = {r["model"]: float(r["train_flops_per_image"]) for r in theirs}
    header = (f"{'model':<16} {'params':>10} {'rikai':>7} {'train img/s':>12} {'pytorch':>12} {'ratio':>6}"
              f" {'infer img/s':>12} {'pytorch':>12} {'ratio':>6} {'GFLOP/s':>8} {'pytorch':>8} {'% peak':>7}"
              f" {'% run peak':>10}")  # fmt: skip
    rounds = max((sum(t["model"] == r["model"] for t in theirs) for r in theirs), default=1)
    print(header + (f" {'train ratio range':>18} ({rounds} rounds)" if rounds > 1 else ""))
    keys = list(dict.fromkeys((r["model"], r["backend"]) for r in ours))
    for model, backend in keys:
        mine = [r for r in ours if (r["model"], r["backend"]) == (model, backend)]
        them = [t for t in theirs if t["model"] == model]
        if not them:
            continue
        for r in mine:
            if r["params"] != them[0]["params"]:
                sys.exit(f"{model}: {r['params']} parameters in rikai, {them[0]['params']} in PyTorch")
        column = lambda rows, key: [float(r[key]) if r[key] else math.nan for r in rows]  # noqa: E731
        train_ours, train_them = column(mine, "train_images_per_s"), column(them, "train_images_per_s")
        infer_ours, infer_them = column(mine, "infer_images_per_s"), column(them, "infer_images_per_s")
        train_ratios = [a / b for a, b in zip(train_ours, train_them)]
        infer_ratios = [a / b for a, b in zip(infer_ours, infer_them)]
        t_ours, t_them = statistics.median(train_ours), statistics.median(train_them)
        i_ours, i_them = statistics.median(infer_ours), statistics.median(infer_them)
        g_ours, g_them = t_ours * flops[model] / 1e9, t_them * flops[model] / 1e9
        peak = f"{100 * g_ours / args.peak:6.1f}%" if args.peak else "      -"
        # Each round's GFLOP/s over the matmul peak its own bench run measured just before it
        # (older CSV files lack the column): the machine's speed at that moment.
        run_peaks = column(mine, "matmul_gflops") if "matmul_gflops" in mine[0] else []
        shares = [100 * t * flops[model] / 1e9 / p for t, p in zip(train_ours, run_peaks)]
        run_peak = f"{statistics.median(shares):9.1f}%" if shares else f"{'-':>10}"
        spread = f" {min(train_ratios):>8.2f} – {max(train_ratios):<7.2f}" if rounds > 1 else ""
        print(f"{model:<16} {int(mine[0]['params']):>10} {backend:>7} {t_ours:>12.0f} {t_them:>12.0f}"
              f" {statistics.median(train_ratios):>6.2f} {i_ours:>12.0f} {i_them:>12.0f}"
              f" {statistics.median(infer_ratios):>6.2f} {g_ours:>8.1f} {g_them:>8.1f} {peak} {run_peak}{spread}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="time the rows in PyTorch")
    run.add_argument("--device", default="cpu")
    run.add_argument("--csv", default="pytorch.csv")
    run.add_argument("--only", default="", help="comma-separated row names")
    run.add_argument("--threads", type=int, default=0, help="torch threads (default: PyTorch's choice)")
    run.add_argument("--warmup", type=int, default=3)
    run.add_argument("--windows", type=int, default=5)
    run.add_argument("--window-secs", type=float, default=2.0)
    peak = sub.add_parser("peak", help="fp32 matmul GFLOP/s")
    peak.add_argument("--device", default="cpu")
    peak.add_argument("--threads", type=int, default=0)
    compare = sub.add_parser("compare", help="side-by-side table of two CSV files")
    compare.add_argument("rikai")
    compare.add_argument("pytorch")
    compare.add_argument("--peak", type=float, default=0.0, help="fp32 matmul GFLOP/s of the machine")
    ops = sub.add_parser("ops", help="time single operations (twins of `bench --ops`)")
    ops.add_argument("--device", default="cpu")
    ops.add_argument("--csv", default="pytorch-ops.csv")
    ops.add_argument("--threads", type=int, default=0)
    ops.add_argument("--warmup", type=int, default=3)
    ops.add_argument("--windows", type=int, default=5)
    ops.add_argument("--window-secs", type=float, default=1.0)
    compare_ops = sub.add_parser("compare-ops", help="side-by-side table of two op CSV files")
    compare_ops.add_argument("rikai")
    compare_ops.add_argument("pytorch")
    args = parser.parse_args()
    {"run": cmd_run, "peak": cmd_peak, "compare": cmd_compare, "ops": cmd_ops, "compare-ops": cmd_compare_ops}[args.cmd](args)


if __name__ == "__main__":
    main()
