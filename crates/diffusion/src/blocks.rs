//! The UNet's building blocks, after Ho et al.'s implementation (itself a PixelCNN++ / Wide
//! ResNet UNet): residual blocks with group norm that take the time embedding, self-attention
//! over the pixels of a feature map, and resolution changes.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Dropout, DropoutConfig, GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use kernels::pointwise::Pointwise;

/// A 3x3 convolution keeping the size.
pub(crate) fn conv3(from: usize, to: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([from, to], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

/// A convolution whose output starts at 0, so a fresh residual branch is the identity: the
/// reference implementation's `zero_module`, which makes deep UNets train from the start.
pub(crate) fn zero_conv(from: usize, to: usize, kernel: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([from, to], [kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_initializer(Initializer::Zeros)
        .init(device)
}

/// The transformer's sinusoidal position encoding of the (float) time steps `t`.
///
/// # Shapes
/// - `t`: `[batch]`
/// - output: `[batch, dim]` (sines, then cosines, of `t` times frequencies 1 to 1/10000)
pub fn timestep_embedding(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half).map(|k| (-(10_000f64.ln()) * k as f64 / half as f64).exp() as f32).collect();
    let freqs: Tensor<2> = Tensor::<1>::from_data(TensorData::new(freqs, [half]), &t.device()).unsqueeze_dim(0);
    let args = t.unsqueeze_dim::<2>(1) * freqs;
    Tensor::cat(vec![args.clone().sin(), args.cos()], 1)
}

/// A residual block: two 3x3 convolutions with group norm and SiLU, the time embedding added
/// between them, and a 1x1 projection on the shortcut when the width changes.
#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    norm2: GroupNorm,
    dropout: Dropout,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    /// A block from `from` to `to` channels taking a `time_dim` embedding.
    pub fn new(from: usize, to: usize, time_dim: usize, groups: usize, dropout: f64, device: &Device) -> Self {
        ResBlock {
            norm1: GroupNormConfig::new(groups, from).init(device),
            conv1: conv3(from, to, device),
            time: LinearConfig::new(time_dim, to).init(device),
            norm2: GroupNormConfig::new(groups, to).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            conv2: zero_conv(to, to, 3, device),
            skip: (from != to).then(|| Conv2dConfig::new([from, to], [1, 1]).init(device)),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, from, h, w]`, `time`: `[batch, time_dim]`
    /// - output: `[batch, to, h, w]`
    pub fn forward(&self, x: Tensor<4>, time: Tensor<2>) -> Tensor<4> {
        let h = kernels::conv(&self.conv1, kernels::group_norm_then(&self.norm1, x.clone(), Pointwise::Silu));
        let h = kernels::add_sample_bias(h, self.time.forward(kernels::silu(time)));
        let h =
            kernels::conv(&self.conv2, self.dropout.forward(kernels::group_norm_then(&self.norm2, h, Pointwise::Silu)));
        let shortcut = match &self.skip {
            Some(conv) => kernels::conv(conv, x),
            None => x,
        };
        h + shortcut
    }
}

/// Single-head self-attention over the pixels of a feature map, as a residual branch.
#[derive(Module, Debug)]
pub struct Attention {
    norm: GroupNorm,
    qkv: Conv2d,
    proj: Conv2d,
}

impl Attention {
    /// Attention over `channels`-wide feature maps.
    pub fn new(channels: usize, groups: usize, device: &Device) -> Self {
        Attention {
            norm: GroupNormConfig::new(groups, channels).init(device),
            qkv: Conv2dConfig::new([channels, 3 * channels], [1, 1]).init(device),
            proj: zero_conv(channels, channels, 1, device),
        }
    }

    /// # Shapes
    /// - `x`, output: `[batch, channels, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let qkv: Tensor<3> =
            kernels::conv(&self.qkv, kernels::group_norm(&self.norm, x.clone())).reshape([b, 3 * c, h * w]);
        let out: Tensor<4> = kernels::attention(qkv).reshape([b, c, h, w]);
        x + kernels::conv(&self.proj, out)
    }
}

/// Halves the resolution with a strided 3x3 convolution (odd sides round up: 7 -> 4).
pub(crate) fn downsample(channels: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels, channels], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// Nearest-neighbour upsampling to `size`, followed (by the caller) by a 3x3 convolution.
pub(crate) fn upsample(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    interpolate(x, InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size))
}
