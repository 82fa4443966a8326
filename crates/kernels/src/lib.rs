//! CPU kernels that burn's pure-Rust backend (burn-flex 0.22) lacks or runs slowly.
//!
//! burn-flex implements no convolution backward pass of its own: burn's generic fallback builds
//! the input gradient from a transposed convolution and the weight gradient from a convolution
//! that treats the batch as channels, together 3-4x slower than the forward pass (see README,
//! "Benchmark"). Batch and group normalisation, SiLU and leaky ReLU are compositions of a dozen
//! (or four to eight) tensor operations there, each a pass over the activation. [`conv2d`] and
//! [`conv_transpose2d`] route convolutions on the flex device through [`mod@conv`]'s im2col+GEMM
//! kernels with a direct backward pass (small images grouped into wide GEMMs, kernels that cover
//! the whole input as one fully connected product, and the larger 3x3 "same" ones, forward and
//! backward, through Winograd's F(2x2, 3x3), in `winograd`; the bias added and summed in the same
//! operation), [`max_pool2d`] through [`mod@pool`]'s loops, [`batch_norm`] and [`group_norm`]
//! through [`mod@norm`]'s two-pass kernels (which also add [`add_sample_bias`]'s biases, and
//! fuse the activation of [`batch_norm_then`] and [`group_norm_then`]), [`relu`],
//! [`silu`] and [`leaky_relu`] through [`mod@pointwise`], and the UNet's softmax [`fn@attention`]
//! through [`mod@attention`]; each is registered with burn's autodiff as a backend extension.
//! Every other device, grouped convolutions, `ceil_mode` pooling and non-`f32` tensors keep burn's
//! own operations, so model code stays the same on every backend. Models call these functions on
//! burn's layers and options in place of the layers' `forward` (and burn's activation functions).

pub mod attention;
mod batching;
pub mod conv;
#[cfg(feature = "flex")]
mod extension;
mod gemm;
mod kept;
pub mod norm;
mod output;
pub mod pointwise;
pub mod pool;
mod winograd;

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, GroupNorm, PaddingConfig2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{Tensor, activation, module};
use conv::Geometry;

/// Runs `f` compiled for the widest vector instructions this processor has (AVX2 on x86-64
/// where present, chosen at run time): the workspace targets baseline x86-64, whose SSE2 is four
/// lanes wide. Rust never fuses a product and a sum into an FMA on its own, so every path gives the
/// same bits.
#[inline(always)]
fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// `dst.copy_from_slice(src)` in fixed steps of 8 values, which compile to vector moves: short
/// rows (8–32 values in Winograd's transforms, 10 in LeNet's im2col), for which `copy_from_slice`
/// calls `memcpy`.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy between slices of different lengths");
    let n = dst.len();
    if n < 8 {
        dst.copy_from_slice(src);
        return;
    }
    for (d, s) in dst.as_chunks_mut::<8>().0.iter_mut().zip(src.as_chunks::<8>().0) {
        *d = *s;
    }
    // The last 8 values again, overlapping, rather than a loop the compiler makes a call of.
    let last: &mut [f32; 8] = (&mut dst[n - 8..]).try_into().expect("8 values");
    *last = src[n - 8..].try_into().expect("8 values");
}

/// `layer.forward(x)`, through [`conv2d`]: the same result, faster on flex.
pub fn conv(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        // `Same` depends on the input size; burn's own forward works it out.
        PaddingConfig2d::Same => return layer.forward(x),
    };
    let options = ConvOptions::new_with_padding(layer.stride, padding, layer.dilation, layer.groups);
    conv2d(x, layer.weight.val(), layer.bias.as_ref().map(|bias| bias.val()), options)
}

/// `layer.forward(x)`, through [`conv_transpose2d`].
pub fn conv_transpose(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let options =
        ConvTransposeOptions::new(layer.stride, layer.padding, layer.padding_out, layer.dilation, layer.groups);
    conv_transpose2d(x, layer.weight.val(), layer.bias.as_ref().map(|bias| bias.val()), options)
}

/// 2-D convolution, as `burn::tensor::module::conv2d`.
///
/// - `x`: `[batch, in_channels, height, width]`
/// - `weight`: `[out_channels, in_channels / groups, kernel_h, kernel_w]`
/// - `bias`: `[out_channels]`
/// - returns `[batch, out_channels, out_h, out_w]`
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(geometry) = conv_geometry(x.dims(), weight.dims(), &options)
        && extension::applies(&x)
        && extension::applies(&weight)
    {
        return with_bias(x, weight, bias, extension::Conv { geometry, transposed: false });
    }
    module::conv2d(x, weight, bias, options)
}

/// 2-D transposed convolution, as `burn::tensor::module::conv_transpose2d`.
///
/// - `x`: `[batch, in_channels, height, width]`
/// - `weight`: `[in_channels, out_channels / groups, kernel_h, kernel_w]`
/// - `bias`: `[out_channels]`
/// - returns `[batch, out_channels, out_h, out_w]`, `out = (in - 1)·stride - 2·padding +
///   dilation·(kernel - 1) + padding_out + 1`
pub fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(geometry) = transposed_geometry(x.dims(), weight.dims(), &options)
        && extension::applies(&x)
        && extension::applies(&weight)
    {
        return with_bias(x, weight, bias, extension::Conv { geometry, transposed: true });
    }
    module::conv_transpose2d(x, weight, bias, options)
}

/// `layer.forward(x)` for a `[batch, channels, ...]` input: on flex through [`mod@norm`]'s
/// kernels, in training with the layer's running statistics updated as burn updates them
/// (biased batch variance, `momentum` weighting the new batch).
pub fn batch_norm<const D: usize>(layer: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    batch_norm_activated(layer, x, None)
}

/// `then(layer.forward(x))`, as [`batch_norm`]: in training on flex one operation, which writes
/// only the activated values and recomputes the normalised ones in its backward pass.
pub fn batch_norm_then<const D: usize>(layer: &BatchNorm, x: Tensor<D>, then: pointwise::Pointwise) -> Tensor<D> {
    batch_norm_activated(layer, x, Some(then))
}

/// [`batch_norm`] followed by `then` if any: fused on flex, burn's layer elsewhere.
fn batch_norm_activated<const D: usize>(
    layer: &BatchNorm,
    x: Tensor<D>,
    then: Option<pointwise::Pointwise>,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = fused_batch_norm(layer, x.clone(), then) {
        return y;
    }
    activate_if(layer.forward(x), then)
}

/// Batch normalisation, followed by `then`, through [`mod@norm`]'s kernels where they apply.
#[cfg(feature = "flex")]
fn fused_batch_norm<const D: usize>(
    layer: &BatchNorm,
    x: Tensor<D>,
    then: Option<pointwise::Pointwise>,
) -> Option<Tensor<D>> {
    if D < 2 || !extension::applies(&x) {
        return None;
    }
    let device = x.device();
    if !device.is_autodiff() {
        let mean = layer.running_mean.value().to_device(&device);
        let variance = layer.running_var.value().to_device(&device);
        let scale = layer.gamma.val().div(variance.add_scalar(layer.epsilon).sqrt());
        return Some(activate_if(extension::normalize(x, mean, scale, layer.beta.val()), then));
    }
    // On the autodiff device with training disabled (a frozen layer), burn's own forward.
    if !layer.training.is_enabled() {
        return None;
    }
    let options = extension::NormOptions { over: norm::Statistics::PerChannel, epsilon: layer.epsilon, then };
    let (y, mean, variance) = extension::fused_norm(x, layer.gamma.val(), layer.beta.val(), options);
    let momentum = layer.momentum;
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running.to_device(&device).mul_scalar(1.0 - momentum).add(batch.mul_scalar(momentum)).detach()
    };
    layer.running_mean.update(blend(layer.running_mean.value_sync(), mean));
    layer.running_var.update(blend(layer.running_var.value_sync(), variance));
    Some(y)
}

/// `layer.forward(x)` for a `[batch, channels, ...]` input (rank 3 or more): on flex through
/// [`mod@norm`]'s kernels.
pub fn group_norm<const D: usize>(layer: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    group_norm_activated(layer, x, None)
}

/// `then(layer.forward(x))`, as [`group_norm`]: on flex one operation, which writes only the
/// activated values and recomputes the normalised ones in its backward pass.
pub fn group_norm_then<const D: usize>(layer: &GroupNorm, x: Tensor<D>, then: pointwise::Pointwise) -> Tensor<D> {
    group_norm_activated(layer, x, Some(then))
}

/// [`group_norm`] followed by `then` if any: fused on flex, burn's layer elsewhere.
fn group_norm_activated<const D: usize>(
    layer: &GroupNorm,
    x: Tensor<D>,
    then: Option<pointwise::Pointwise>,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = fused_group_norm(layer, x.clone(), then) {
        return y;
    }
    activate_if(layer.forward(x), then)
}

/// Group normalisation followed by `then` through [`mod@norm`]'s kernels, where they apply.
#[cfg(feature = "flex")]
fn fused_group_norm<const D: usize>(
    layer: &GroupNorm,
    x: Tensor<D>,
    then: Option<pointwise::Pointwise>,
) -> Option<Tensor<D>> {
    let groups = layer.num_groups;
    if D < 3 || !extension::applies(&x) || groups == 0 || !layer.num_channels.is_multiple_of(groups) {
        return None;
    }
    let (device, channels) = (x.device(), layer.num_channels);
    let gamma = layer.gamma.as_ref().map(|g| g.val()).unwrap_or_else(|| Tensor::ones([channels], &device));
    let beta = layer.beta.as_ref().map(|b| b.val()).unwrap_or_else(|| Tensor::zeros([channels], &device));
    let options = extension::NormOptions { over: norm::Statistics::PerGroup(groups), epsilon: layer.epsilon, then };
    Some(extension::fused_norm(x, gamma, beta, options).0)
}

/// The activation `f` of `x`: [`relu`], [`silu`] or [`leaky_relu`].
pub fn activate<const D: usize>(x: Tensor<D>, f: pointwise::Pointwise) -> Tensor<D> {
    match f {
        pointwise::Pointwise::Relu => relu(x),
        pointwise::Pointwise::Silu => silu(x),
        pointwise::Pointwise::LeakyRelu(slope) => leaky_relu(x, slope.into()),
    }
}

/// [`activate`] with `f`, or `x` itself without one.
fn activate_if<const D: usize>(x: Tensor<D>, f: Option<pointwise::Pointwise>) -> Tensor<D> {
    match f {
        Some(f) => activate(x, f),
        None => x,
    }
}

/// `burn::tensor::activation::relu(x)`: one pass each way on flex, split over the threads.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if extension::applies(&x) {
        return extension::activation(x, pointwise::Pointwise::Relu);
    }
    activation::relu(x)
}

/// `x + bias` with one bias per sample and channel, added at every position: `x` is
/// `[batch, channels, height, width]` and `bias` `[batch, channels]` (the UNet's time embedding).
/// One pass on the threads on flex, and its gradient one more.
pub fn add_sample_bias(x: Tensor<4>, bias: Tensor<2>) -> Tensor<4> {
    let [batch, channels, _, _] = x.dims();
    #[cfg(feature = "flex")]
    if extension::applies(&x) && extension::applies(&bias) && bias.dims() == [batch, channels] {
        return extension::add_bias(x, bias);
    }
    x + bias.reshape([batch, channels, 1, 1])
}

/// Single-head softmax attention over positions, in the channel-major layout a 1x1
/// convolution gives: `qkv` is `[batch, 3 · channels, positions]` (queries, then keys, then
/// values) and the output `[batch, channels, positions]`, `out[c, i] = Σⱼ softmax_j(qᵢ · kⱼ /
/// √channels) · v[c, j]`. One pass per image on the threads on flex (see [`mod@attention`]);
/// burn's operations elsewhere.
pub fn attention(qkv: Tensor<3>) -> Tensor<3> {
    let stacked = qkv.dims()[1];
    assert!(stacked.is_multiple_of(3), "attention takes queries, keys and values stacked: {stacked} channels");
    #[cfg(feature = "flex")]
    if extension::applies(&qkv) {
        let [batch, _, positions] = qkv.dims();
        return extension::attention(qkv, attention::Heads { batch, channels: stacked / 3, positions });
    }
    composed_attention(qkv)
}

/// [`fn@attention`] composed of burn's operations (`narrow`, `matmul`, `softmax`): what devices other
/// than flex run, and the reference the kernel is tested and timed against.
pub fn composed_attention(qkv: Tensor<3>) -> Tensor<3> {
    let channels = qkv.dims()[1] / 3;
    let q = qkv.clone().narrow(1, 0, channels).swap_dims(1, 2); // [batch, positions, channels]
    let k = qkv.clone().narrow(1, channels, channels); // [batch, channels, positions]
    let v = qkv.narrow(1, 2 * channels, channels).swap_dims(1, 2);
    let weights = activation::softmax(q.matmul(k).div_scalar((channels as f64).sqrt()), 2);
    weights.matmul(v).swap_dims(1, 2)
}

/// `burn::tensor::activation::silu(x)`: one pass each way on flex.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if extension::applies(&x) {
        return extension::activation(x, pointwise::Pointwise::Silu);
    }
    activation::silu(x)
}

/// `burn::tensor::activation::leaky_relu(x, slope)`: one pass each way on flex.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if extension::applies(&x) {
        return extension::activation(x, pointwise::Pointwise::LeakyRelu(slope as f32));
    }
    activation::leaky_relu(x, slope)
}

/// 2-D max pooling, as `burn::tensor::module::max_pool2d`: `[batch, channels, height, width]` to
/// `[batch, channels, out_h, out_w]`.
pub fn max_pool2d(x: Tensor<4>, options: MaxPoolOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(plane) = pool_geometry(x.dims(), &options)
        && extension::applies(&x)
    {
        return extension::max_pool(x, plane);
    }
    module::max_pool2d(x, options)
}

/// One plane's pooling as a one-channel geometry over `batch · channels` planes, or `None` for
/// what the kernels leave to burn (`ceil_mode`, windows that can lie wholly in the padding).
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
fn pool_geometry(x: [usize; 4], options: &MaxPoolOptions<2>) -> Option<Geometry> {
    let [n, c, h, w] = x;
    let plane = Geometry {
        batch: n * c,
        in_channels: 1,
        input: [h, w],
        out_channels: 1,
        kernel: options.kernel_size,
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
    };
    let padding_fits = (0..2).all(|d| options.padding[d].0.max(options.padding[d].1) < options.kernel_size[d]);
    (!options.ceil_mode && padding_fits && plane.is_valid()).then_some(plane)
}

/// The kernels' geometry of a convolution, or `None` for one they leave to burn (groups,
/// mismatched channels, a kernel larger than the padded input: burn also reports the errors).
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
fn conv_geometry(x: [usize; 4], w: [usize; 4], options: &ConvOptions<2>) -> Option<Geometry> {
    let ([n, c, h, wd], [o, wc, kh, kw]) = (x, w);
    let geometry = Geometry {
        batch: n,
        in_channels: c,
        input: [h, wd],
        out_channels: o,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
    };
    (options.groups == 1 && c == wc && geometry.is_valid()).then_some(geometry)
}

/// The geometry of the convolution a transposed convolution is the adjoint of (from its output
/// back to its input), or `None` where the kernels leave it to burn.
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
fn transposed_geometry(x: [usize; 4], w: [usize; 4], options: &ConvTransposeOptions<2>) -> Option<Geometry> {
    let ([n, c, h, wd], [wc, o, kh, kw]) = (x, w);
    let out = |d: usize, len: usize, k: usize| {
        let full = (len.checked_sub(1)?) * options.stride[d] + options.dilation[d] * (k.checked_sub(1)?);
        (full + options.padding_out[d] + 1).checked_sub(2 * options.padding[d])
    };
    let geometry = Geometry {
        batch: n,
        in_channels: o,
        input: [out(0, h, kh)?, out(1, wd, kw)?],
        out_channels: c,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding.map(|p| (p, p)),
        dilation: options.dilation,
    };
    // `padding_out` at or past the stride has no adjoint convolution of this shape.
    let fits = geometry.is_valid() && geometry.output() == [h, wd];
    (options.groups == 1 && c == wc && fits).then_some(geometry)
}

/// The kernels' convolution `conv` of `x` by `weight`, plus a per-channel bias: added inside
/// the kernel on flex, by burn elsewhere.
#[cfg(feature = "flex")]
fn with_bias(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, conv: extension::Conv) -> Tensor<4> {
    match bias {
        Some(bias) if extension::applies(&bias) => extension::run_with_bias(x, weight, bias, conv),
        Some(bias) => {
            let channels = bias.dims()[0];
            extension::run(x, weight, conv) + bias.reshape([1, channels, 1, 1])
        }
        None => extension::run(x, weight, conv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_convolutions_take_the_kernels() {
        let conv = |stride, pad, groups| ConvOptions::new([stride; 2], [pad; 2], [1, 1], groups);
        let resnet = conv_geometry([128, 16, 32, 32], [32, 16, 3, 3], &conv(2, 1, 1)).unwrap();
        assert_eq!(resnet.output(), [16, 16]);
        assert!(conv_geometry([2, 4, 6, 6], [6, 2, 3, 3], &conv(1, 0, 2)).is_none(), "groups");
        assert!(conv_geometry([2, 3, 6, 6], [6, 4, 3, 3], &conv(1, 0, 1)).is_none(), "channels");
        assert!(conv_geometry([2, 3, 2, 2], [6, 3, 5, 5], &conv(1, 1, 1)).is_none(), "kernel too large");

        // DCGAN's generator: 4x4 kernels, stride 2, padding 1, doubling 8x8 to 16x16.
        let up = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let g = transposed_geometry([128, 64, 8, 8], [64, 32, 4, 4], &up).unwrap();
        assert_eq!((g.input, g.in_channels, g.out_channels, g.output()), ([16, 16], 32, 64, [8, 8]));
        let project = ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1);
        assert_eq!(transposed_geometry([128, 100, 1, 1], [100, 64, 4, 4], &project).unwrap().input, [4, 4]);
        let too_much = ConvTransposeOptions::new([2, 2], [1, 1], [2, 2], [1, 1], 1);
        assert!(transposed_geometry([1, 4, 8, 8], [4, 2, 4, 4], &too_much).is_none(), "padding_out >= stride");

        // LeNet-5's 2x2 max pooling: 64 images x 6 channels of 28x28 planes.
        let pool = pool_geometry([64, 6, 28, 28], &MaxPoolOptions::new([2, 2])).unwrap();
        assert_eq!((pool.batch, pool.output()), (384, [14, 14]));
        assert!(pool_geometry([1, 1, 7, 7], &MaxPoolOptions::new([2, 2]).with_ceil_mode(true)).is_none());
    }
}
