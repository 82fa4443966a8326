//! The residual blocks of He et al. 2016 and the switches that turn them into the variants the
//! theory experiments compare.

use burn::module::{Flag, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Distribution, Tensor};
use kernels::pointwise::Pointwise;
use serde::{Deserialize, Serialize};

/// How a block's input reaches its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shortcut {
    /// No shortcut at all: the paper's "plain" network of the same depth.
    None,
    /// Parameter-free identity; where the shape changes, the input is subsampled with stride 2
    /// and padded with zero channels (the paper's option A, used for its CIFAR networks).
    Identity,
    /// Identity where shapes match, a strided 1x1 convolution with batch norm where they do not
    /// (the paper's option B, used for its ImageNet networks and by torchvision).
    Projection,
}

/// One convolution and its (optional) batch norm; without batch norm the convolution has a bias.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: Option<BatchNorm>,
}

impl ConvBn {
    pub(crate) fn new(
        [inputs, outputs]: [usize; 2],
        kernel: usize,
        stride: usize,
        batch_norm: bool,
        device: &Device,
    ) -> Self {
        let pad = kernel / 2;
        let conv = Conv2dConfig::new([inputs, outputs], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(!batch_norm)
            .init(device);
        ConvBn { conv, bn: batch_norm.then(|| BatchNormConfig::new(outputs).init(device)) }
    }

    /// `[batch, inputs, h, w]` -> `[batch, outputs, h / stride, w / stride]`, before any activation.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = kernels::conv(&self.conv, x);
        match &self.bn {
            Some(bn) => kernels::batch_norm(bn, x),
            None => x,
        }
    }

    /// `relu(self.forward(x))`, with the batch norm and the ReLU one operation.
    pub(crate) fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        let x = kernels::conv(&self.conv, x);
        match &self.bn {
            Some(bn) => kernels::batch_norm_then(bn, x, Pointwise::Relu),
            None => kernels::relu(x),
        }
    }
}

/// The path from a block's input to its output when the shape changes.
// One per downsampling block, never in a collection: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Downsample {
    /// Option A: stride-2 subsampling, then `extra` zero channels appended.
    ZeroPad(ZeroPad),
    /// Option B: a strided 1x1 convolution and batch norm.
    Projection(ConvBn),
}

/// Option A's parameter-free shortcut.
#[derive(Module, Debug)]
pub struct ZeroPad {
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    extra: usize,
}

impl Downsample {
    fn new(
        shortcut: Shortcut,
        [inputs, outputs]: [usize; 2],
        stride: usize,
        batch_norm: bool,
        device: &Device,
    ) -> Self {
        match shortcut {
            Shortcut::Identity if outputs >= inputs => Downsample::ZeroPad(ZeroPad { stride, extra: outputs - inputs }),
            _ => Downsample::Projection(ConvBn::new([inputs, outputs], 1, stride, batch_norm, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Downsample::Projection(p) => p.forward(x),
            Downsample::ZeroPad(z) => {
                let x = if z.stride > 1 {
                    // A 1x1 max pool with stride s keeps every s-th pixel: x[:, :, ::s, ::s].
                    kernels::max_pool2d(x, MaxPoolOptions::new([1, 1]).with_stride([z.stride, z.stride]))
                } else {
                    x
                };
                if z.extra == 0 {
                    return x;
                }
                let [b, _, h, w] = x.dims();
                let zeros = Tensor::zeros([b, z.extra, h, w], &x.device());
                Tensor::cat(vec![x, zeros], 1)
            }
        }
    }
}

/// What a block adds its residual to: nothing (plain), its input, or its downsampled input.
#[derive(Module, Debug)]
pub struct Skip {
    downsample: Option<Downsample>,
    #[module(skip)]
    enabled: bool,
}

impl Skip {
    fn new(shortcut: Shortcut, channels: [usize; 2], stride: usize, batch_norm: bool, device: &Device) -> Self {
        let reshapes = stride != 1 || channels[0] != channels[1];
        Skip {
            downsample: (shortcut != Shortcut::None && reshapes)
                .then(|| Downsample::new(shortcut, channels, stride, batch_norm, device)),
            enabled: shortcut != Shortcut::None,
        }
    }

    /// `relu(residual + shortcut(input))`, or `relu(residual)` for a plain network.
    fn join(&self, residual: Tensor<4>, input: Tensor<4>, drop: &Option<StochasticDepth>) -> Tensor<4> {
        if !self.enabled {
            return kernels::relu(residual);
        }
        let residual = match drop {
            Some(d) => d.forward(residual),
            None => residual,
        };
        let shortcut = match &self.downsample {
            Some(d) => d.forward(input),
            None => input,
        };
        kernels::relu(residual + shortcut)
    }
}

/// Stochastic depth (Huang et al. 2016, "Deep networks with stochastic depth"): during training
/// each example skips the residual branch with probability `1 - survival`; at inference the
/// branch is scaled by `survival`, its expected contribution. Masks are drawn per example (as
/// torchvision's "row" mode) so no random number has to be read back from the device.
#[derive(Module, Debug)]
pub struct StochasticDepth {
    #[module(skip)]
    survival: f64,
    /// Whether to behave as during training; cleared by `Module::valid`.
    training: Param<Flag>,
}

impl StochasticDepth {
    pub(crate) fn new(drop_prob: f64) -> Option<Self> {
        (drop_prob > 0.0).then(|| StochasticDepth { survival: 1.0 - drop_prob, training: Param::from_bool(true) })
    }

    /// `[batch, c, h, w]` -> same shape.
    pub fn forward(&self, branch: Tensor<4>) -> Tensor<4> {
        if !self.training.is_enabled() || !branch.device().is_autodiff() {
            return branch * self.survival;
        }
        let [b, ..] = branch.dims();
        let keep = Tensor::<4>::random([b, 1, 1, 1], Distribution::Bernoulli(self.survival), &branch.device());
        branch * keep
    }
}

/// The two 3x3 convolutions of ResNet-18/34 and the CIFAR networks.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub(crate) conv1: ConvBn,
    pub(crate) conv2: ConvBn,
    skip: Skip,
    /// With a shortcut span of 1, the shortcut around the second convolution.
    inner_skip: Option<Skip>,
    drop: Option<StochasticDepth>,
}

/// The 1x1-3x3-1x1 block of ResNet-50 and deeper, widening its output by [`Bottleneck::EXPANSION`].
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    skip: Skip,
    drop: Option<StochasticDepth>,
}

/// Settings shared by every block of a network.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockOptions {
    pub shortcut: Shortcut,
    pub skip_span: usize,
    pub batch_norm: bool,
}

impl BasicBlock {
    pub(crate) fn new(
        [inputs, width]: [usize; 2],
        stride: usize,
        opts: BlockOptions,
        drop_prob: f64,
        device: &Device,
    ) -> Self {
        let bn = opts.batch_norm;
        BasicBlock {
            conv1: ConvBn::new([inputs, width], 3, stride, bn, device),
            conv2: ConvBn::new([width, width], 3, 1, bn, device),
            skip: Skip::new(opts.shortcut, [inputs, width], stride, bn, device),
            inner_skip: (opts.skip_span == 1).then(|| Skip::new(opts.shortcut, [width, width], 1, bn, device)),
            drop: StochasticDepth::new(drop_prob),
        }
    }

    /// `[batch, inputs, h, w]` -> `[batch, width, h / stride, w / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.inner_skip {
            // Span 2 (the paper): the shortcut bridges both convolutions.
            None => {
                let y = self.conv2.forward(self.conv1.forward_relu(x.clone()));
                self.skip.join(y, x, &self.drop)
            }
            // Span 1: every convolution has its own shortcut.
            Some(inner) => {
                let h = self.skip.join(self.conv1.forward(x.clone()), x, &self.drop);
                inner.join(self.conv2.forward(h.clone()), h, &self.drop)
            }
        }
    }
}

impl Bottleneck {
    /// Output channels per unit of bottleneck width.
    pub const EXPANSION: usize = 4;

    pub(crate) fn new(
        [inputs, width]: [usize; 2],
        stride: usize,
        opts: BlockOptions,
        drop_prob: f64,
        device: &Device,
    ) -> Self {
        let (bn, outputs) = (opts.batch_norm, width * Self::EXPANSION);
        Bottleneck {
            conv1: ConvBn::new([inputs, width], 1, 1, bn, device),
            // The stride sits on the 3x3 convolution, as in torchvision ("ResNet v1.5").
            conv2: ConvBn::new([width, width], 3, stride, bn, device),
            conv3: ConvBn::new([width, outputs], 1, 1, bn, device),
            skip: Skip::new(opts.shortcut, [inputs, outputs], stride, bn, device),
            drop: StochasticDepth::new(drop_prob),
        }
    }

    /// `[batch, inputs, h, w]` -> `[batch, 4 * width, h / stride, w / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv1.forward_relu(x.clone());
        let y = self.conv2.forward_relu(y);
        self.skip.join(self.conv3.forward(y), x, &self.drop)
    }
}

/// Either kind of block, so a stage is one list.
#[derive(Module, Debug)]
pub enum Block {
    /// Two 3x3 convolutions.
    Basic(BasicBlock),
    /// 1x1, 3x3, 1x1 convolutions.
    Bottleneck(Bottleneck),
}

impl Block {
    /// `[batch, inputs, h, w]` -> `[batch, outputs, h / stride, w / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Block::Basic(b) => b.forward(x),
            Block::Bottleneck(b) => b.forward(x),
        }
    }
}
