//! Single operations of the benchmark's models at their real shapes, timed alone: where a
//! whole-step gap against PyTorch comes from, and the smallest reproduction of it to report
//! upstream. `scripts/bench_pytorch.py ops` times the same list. Convolutions and pooling run as
//! the models run them, through `kernels`; the `-burn` rows time burn's own operation at the same
//! shape, the reproduction of what is slow in burn-flex.

use burn::nn::{BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig};
use burn::tensor::activation::{relu, silu};
use burn::tensor::module;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{Device, Distribution, Tensor};
use kernels::pointwise::Pointwise;

/// One operation at one shape.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    /// Name in tables and CSV (the same in the PyTorch script).
    pub name: &'static str,
    /// What it is, with its shapes.
    pub what: &'static str,
}

/// The operations, in the order LeNet-5 and ResNet-20 use them.
pub const OPS: [Op; 37] = [
    Op { name: "conv1-fwd", what: "LeNet conv1: [64,1,28,28] * [6,1,5,5], pad 2" },
    Op { name: "conv1-fwd-bwd", what: "the same, forward and backward (weight and input gradients)" },
    Op { name: "conv2-fwd", what: "LeNet conv2: [64,6,14,14] * [16,6,5,5]" },
    Op { name: "conv2-fwd-bwd", what: "the same, forward and backward" },
    Op { name: "pool-fwd-bwd", what: "2x2 max pool of [64,6,28,28], forward and backward" },
    Op { name: "pool-fwd-bwd-burn", what: "the same with burn's max_pool2d" },
    Op {
        name: "alexnet-pool-fwd-bwd",
        what: "AlexNet: 3x3 max pool, stride 2, pad 1, of [128,64,32,32], forward and backward",
    },
    Op { name: "alexnet-pool-fwd-bwd-burn", what: "the same with burn's max_pool2d" },
    Op { name: "relu-fwd-bwd", what: "ReLU of [64,6,28,28], forward and backward" },
    Op { name: "relu-fwd-bwd-burn", what: "the same with burn's relu" },
    Op { name: "linear-fwd-bwd", what: "LeNet fc1: [64,400] x [400,120] + bias, forward and backward" },
    Op { name: "resnet-conv-fwd", what: "ResNet-20 stage 1: [128,16,32,32] * [16,16,3,3], pad 1" },
    Op { name: "resnet-conv-fwd-bwd", what: "the same, forward and backward" },
    Op { name: "resnet-conv-fwd-bwd-input", what: "the same, backward to the input only (weights fixed)" },
    Op { name: "resnet-conv-fwd-bwd-weight", what: "the same, backward to the weights only (input fixed)" },
    Op {
        name: "resnet-conv3-fwd-bwd",
        what: "ResNet-20 stage 3: [128,64,8,8] * [64,64,3,3], pad 1, forward and backward",
    },
    Op {
        name: "resnet-conv2-fwd-bwd",
        what: "ResNet-20 stage 2: [128,32,16,16] * [32,32,3,3], pad 1, forward and backward",
    },
    Op {
        name: "resnet-down2-fwd-bwd",
        what: "ResNet-20 into stage 2: [128,16,32,32] * [32,16,3,3], stride 2, pad 1, forward and backward",
    },
    Op {
        name: "resnet-down3-fwd-bwd",
        what: "ResNet-20 into stage 3: [128,32,16,16] * [64,32,3,3], stride 2, pad 1, forward and backward",
    },
    Op {
        name: "resnet-stem-fwd-bwd",
        what: "ResNet-20 stem: [128,3,32,32] * [16,3,3,3], pad 1, forward and backward (weight gradient only)",
    },
    Op { name: "resnet-bn-fwd-bwd", what: "batch norm (training) of [128,16,32,32], forward and backward" },
    Op { name: "resnet-bn-fwd-bwd-burn", what: "the same with burn's BatchNorm::forward" },
    Op { name: "unet-gn-fwd-bwd", what: "DDPM UNet: group norm (8 groups) of [128,16,28,28], forward and backward" },
    Op { name: "unet-gn-fwd-bwd-burn", what: "the same with burn's GroupNorm::forward" },
    Op { name: "unet-silu-fwd-bwd", what: "DDPM UNet: SiLU of [128,16,28,28], forward and backward" },
    Op { name: "unet-silu-fwd-bwd-burn", what: "the same with burn's silu" },
    Op {
        name: "unet-gn-silu-fwd-bwd",
        what: "DDPM UNet: group norm (8 groups) then SiLU of [128,16,28,28], fused, forward and backward",
    },
    Op { name: "unet-gn-silu-fwd-bwd-burn", what: "the same with burn's GroupNorm::forward and silu" },
    Op {
        name: "unet-conv-fwd-bwd",
        what: "DDPM UNet: [128,16,28,28] * [16,16,3,3] + bias, pad 1, forward and backward (all three gradients)",
    },
    Op { name: "unet-conv-fwd-bwd-burn", what: "the same with burn's conv2d" },
    Op {
        name: "unet-attn-fwd-bwd",
        what: "DDPM UNet: softmax attention of [128,3x64,49] queries, keys and values, forward and backward",
    },
    Op { name: "unet-attn-fwd-bwd-burn", what: "the same composed of burn's narrow, matmul and softmax" },
    Op { name: "resnet-conv-fwd-burn", what: "ResNet-20 stage 1 forward with burn's conv2d" },
    Op { name: "resnet-conv-fwd-bwd-burn", what: "the same, forward and backward" },
    Op {
        name: "dcgan-convt-fwd-bwd",
        what: "DCGAN generator: [128,128,7,7] transposed * [128,64,4,4], stride 2, pad 1",
    },
    Op { name: "dcgan-convt-fwd-bwd-burn", what: "the same with burn's conv_transpose2d" },
    Op { name: "matmul-256", what: "[256,256] x [256,256]" },
];

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Which gradients a convolution's backward pass computes.
#[derive(Clone, Copy)]
enum Grads {
    /// Forward only, without autodiff.
    None,
    /// Input and weights.
    Both,
    /// The input's only.
    Input,
    /// The weights' only.
    Weight,
}

/// A convolution: the models' (`kernels::conv2d`) or burn's own.
type ConvFn = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>;

fn conv(x: [usize; 4], w: [usize; 4], pad: usize, grads: Grads, device: &Device) -> Box<dyn FnMut()> {
    conv_with(kernels::conv2d, x, w, [1, pad], grads, device)
}

/// [`conv`] with a stride.
fn strided_conv(x: [usize; 4], w: [usize; 4], [stride, pad]: [usize; 2], device: &Device) -> Box<dyn FnMut()> {
    conv_with(kernels::conv2d, x, w, [stride, pad], Grads::Both, device)
}

fn conv_with(
    conv2d: ConvFn,
    x: [usize; 4],
    w: [usize; 4],
    [stride, pad]: [usize; 2],
    grads: Grads,
    device: &Device,
) -> Box<dyn FnMut()> {
    let options = ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1);
    if let Grads::None = grads {
        let (x, w) = (normal(x, device), normal(w, device));
        return Box::new(move || drop(conv2d(x.clone(), w.clone(), None, options.clone())));
    }
    let ad = device.clone().autodiff();
    let (x, w) = (normal(x, &ad), normal(w, &ad));
    let x = if matches!(grads, Grads::Both | Grads::Input) { x.require_grad() } else { x };
    let w = if matches!(grads, Grads::Both | Grads::Weight) { w.require_grad() } else { w };
    Box::new(move || drop(conv2d(x.clone(), w.clone(), None, options.clone()).sum().backward()))
}

/// The UNet's 3x3 convolution at 28x28 with its bias, forward and backward: the models' or burn's own.
fn unet_conv(burn_own: bool, device: &Device) -> Box<dyn FnMut()> {
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let (x, w) = (normal([128, 16, 28, 28], device).require_grad(), normal([16, 16, 3, 3], device).require_grad());
    let b = normal([16], device).require_grad();
    let conv2d: ConvFn = if burn_own { module::conv2d } else { kernels::conv2d };
    Box::new(move || drop(conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone()).sum().backward()))
}

/// DCGAN's 7x7 to 14x14 upsampling, forward and backward: the models' or burn's own.
fn dcgan_convt(burn_own: bool, device: &Device) -> Box<dyn FnMut()> {
    let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    let (x, w) = (normal([128, 128, 7, 7], device).require_grad(), normal([128, 64, 4, 4], device).require_grad());
    let convt = if burn_own { module::conv_transpose2d } else { kernels::conv_transpose2d };
    Box::new(move || drop(convt(x.clone(), w.clone(), None, options.clone()).sum().backward()))
}

/// A closure that runs `op` once on `device` (its inputs made once, outside the timing).
pub fn build(op: &Op, device: &Device) -> Box<dyn FnMut()> {
    let ad = device.clone().autodiff();
    match op.name {
        "conv1-fwd" => conv([64, 1, 28, 28], [6, 1, 5, 5], 2, Grads::None, device),
        "conv1-fwd-bwd" => conv([64, 1, 28, 28], [6, 1, 5, 5], 2, Grads::Both, device),
        "conv2-fwd" => conv([64, 6, 14, 14], [16, 6, 5, 5], 0, Grads::None, device),
        "conv2-fwd-bwd" => conv([64, 6, 14, 14], [16, 6, 5, 5], 0, Grads::Both, device),
        "resnet-conv-fwd" => conv([128, 16, 32, 32], [16, 16, 3, 3], 1, Grads::None, device),
        "resnet-conv-fwd-bwd" => conv([128, 16, 32, 32], [16, 16, 3, 3], 1, Grads::Both, device),
        "resnet-conv-fwd-bwd-input" => conv([128, 16, 32, 32], [16, 16, 3, 3], 1, Grads::Input, device),
        "resnet-conv-fwd-bwd-weight" => conv([128, 16, 32, 32], [16, 16, 3, 3], 1, Grads::Weight, device),
        "resnet-conv3-fwd-bwd" => conv([128, 64, 8, 8], [64, 64, 3, 3], 1, Grads::Both, device),
        "resnet-conv2-fwd-bwd" => conv([128, 32, 16, 16], [32, 32, 3, 3], 1, Grads::Both, device),
        "resnet-down2-fwd-bwd" => strided_conv([128, 16, 32, 32], [32, 16, 3, 3], [2, 1], device),
        "resnet-down3-fwd-bwd" => strided_conv([128, 32, 16, 16], [64, 32, 3, 3], [2, 1], device),
        "resnet-stem-fwd-bwd" => conv([128, 3, 32, 32], [16, 3, 3, 3], 1, Grads::Weight, device),
        "resnet-bn-fwd-bwd" | "resnet-bn-fwd-bwd-burn" => {
            let bn = BatchNormConfig::new(16).init(&ad);
            let x = normal([128, 16, 32, 32], &ad).require_grad();
            let norm = if op.name.ends_with("-burn") { BatchNorm::forward } else { kernels::batch_norm };
            Box::new(move || drop(norm(&bn, x.clone()).sum().backward()))
        }
        "unet-gn-fwd-bwd" | "unet-gn-fwd-bwd-burn" => {
            let gn = GroupNormConfig::new(8, 16).init(&ad);
            let x = normal([128, 16, 28, 28], &ad).require_grad();
            let norm = if op.name.ends_with("-burn") { GroupNorm::forward } else { kernels::group_norm };
            Box::new(move || drop(norm(&gn, x.clone()).sum().backward()))
        }
        "unet-gn-silu-fwd-bwd" | "unet-gn-silu-fwd-bwd-burn" => {
            let gn = GroupNormConfig::new(8, 16).init(&ad);
            let x = normal([128, 16, 28, 28], &ad).require_grad();
            let f = if op.name.ends_with("-burn") {
                |gn: &GroupNorm, x| silu(gn.forward(x))
            } else {
                |gn: &GroupNorm, x| kernels::group_norm_then(gn, x, Pointwise::Silu)
            };
            Box::new(move || drop(f(&gn, x.clone()).sum().backward()))
        }
        "unet-silu-fwd-bwd" | "unet-silu-fwd-bwd-burn" => {
            let x = normal([128, 16, 28, 28], &ad).require_grad();
            let f = if op.name.ends_with("-burn") { silu } else { kernels::silu };
            Box::new(move || drop(f(x.clone()).sum().backward()))
        }
        "unet-attn-fwd-bwd" | "unet-attn-fwd-bwd-burn" => {
            let qkv = normal([128, 3 * 64, 49], &ad).require_grad();
            let f = if op.name.ends_with("-burn") { kernels::composed_attention } else { kernels::attention };
            Box::new(move || drop(f(qkv.clone()).sum().backward()))
        }
        "resnet-conv-fwd-burn" => {
            conv_with(module::conv2d, [128, 16, 32, 32], [16, 16, 3, 3], [1, 1], Grads::None, device)
        }
        "resnet-conv-fwd-bwd-burn" => {
            conv_with(module::conv2d, [128, 16, 32, 32], [16, 16, 3, 3], [1, 1], Grads::Both, device)
        }
        "unet-conv-fwd-bwd" => unet_conv(false, &ad),
        "unet-conv-fwd-bwd-burn" => unet_conv(true, &ad),
        "dcgan-convt-fwd-bwd" => dcgan_convt(false, &ad),
        "dcgan-convt-fwd-bwd-burn" => dcgan_convt(true, &ad),
        "pool-fwd-bwd" | "pool-fwd-bwd-burn" => {
            let x = normal([64, 6, 28, 28], &ad).require_grad();
            let pool = if op.name.ends_with("-burn") { module::max_pool2d } else { kernels::max_pool2d };
            Box::new(move || drop(pool(x.clone(), MaxPoolOptions::new([2, 2])).sum().backward()))
        }
        "alexnet-pool-fwd-bwd" | "alexnet-pool-fwd-bwd-burn" => {
            let x = normal([128, 64, 32, 32], &ad).require_grad();
            let pool = if op.name.ends_with("-burn") { module::max_pool2d } else { kernels::max_pool2d };
            let options = MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]);
            Box::new(move || drop(pool(x.clone(), options.clone()).sum().backward()))
        }
        "relu-fwd-bwd" | "relu-fwd-bwd-burn" => {
            let x = normal([64, 6, 28, 28], &ad).require_grad();
            let f = if op.name.ends_with("-burn") { relu } else { kernels::relu };
            Box::new(move || drop(f(x.clone()).sum().backward()))
        }
        "linear-fwd-bwd" => {
            let (x, w, b) =
                (normal([64, 400], &ad), normal([400, 120], &ad).require_grad(), normal([1, 120], &ad).require_grad());
            Box::new(move || drop((x.clone().matmul(w.clone()) + b.clone()).sum().backward()))
        }
        "matmul-256" => {
            let (a, b): (Tensor<2>, Tensor<2>) = (normal([256, 256], device), normal([256, 256], device));
            Box::new(move || drop(a.clone().matmul(b.clone())))
        }
        other => unreachable!("OPS lists {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_runs() {
        let device = Device::flex();
        for op in &OPS {
            let mut step = build(op, &device);
            step();
        }
    }
}
