//! 2-D convolution by im2col and GEMM, forward and backward.
//!
//! Each image's column matrix (`[C·KH·KW, HO·WO]`, 590 KB for ResNet-20's first stage) stays in
//! cache while its GEMMs run (Chellapilla, Puri & Simard 2006, "High performance convolutional
//! neural networks for document processing"); small images are unfolded side by side, a group
//! to a GEMM. The weight gradient is `dY · colsᵀ` summed over images, the input gradient
//! `Wᵀ · dY` folded back onto the image by col2im. Convolutions of few channels at stride 1 (as
//! LeNet-5's) take direct kernels for the forward pass and the weight gradient instead, and
//! 3x3 convolutions of many channels Winograd's.

mod dense;
mod direct;
mod unfold;

use crate::batching::{gemm_threads, per_gemm, per_thread, sum_over_runs};
use crate::gemm::{Mat, matmul};
use crate::kept::{prefix, with_kept};
use crate::output::in_pieces;
use crate::winograd;
use std::cell::Cell;
use std::ops::Range;
use unfold::Taps;

/// The most values a group's column matrix holds (4 MiB): a group of images never makes one
/// larger than this, unless a single image does.
const MAX_GROUP_VALUES: usize = 1 << 20;

thread_local! {
    /// Each thread's column matrix, gradients regrouped by channel, and products of several images.
    static BUFFERS: Cell<[Vec<f32>; 3]> = Cell::default();
}

/// Shapes and hyper-parameters of one convolution (NCHW, one group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride per spatial dimension.
    pub stride: [usize; 2],
    /// Zero padding `(before, after)` per spatial dimension.
    pub padding: [(usize, usize); 2],
    /// Dilation per spatial dimension.
    pub dilation: [usize; 2],
}

impl Geometry {
    /// Whether the kernel fits inside the padded input and the strides are positive: the
    /// geometries [`Geometry::output`] and the kernels accept.
    pub fn is_valid(&self) -> bool {
        (0..2).all(|d| {
            let span = self.dilation[d] * (self.kernel[d].max(1) - 1) + 1;
            let (before, after) = self.padding[d];
            self.stride[d] > 0 && self.kernel[d] > 0 && self.input[d] + before + after >= span
        })
    }

    /// Output height and width.
    pub fn output(&self) -> [usize; 2] {
        std::array::from_fn(|d| {
            let span = self.dilation[d] * (self.kernel[d] - 1) + 1;
            let (before, after) = self.padding[d];
            (self.input[d] + before + after - span) / self.stride[d] + 1
        })
    }

    /// Values in one input image.
    fn image_len(&self) -> usize {
        self.in_channels * self.input[0] * self.input[1]
    }

    /// Rows of the column matrix: one per weight of an output channel.
    fn patch_len(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// Output positions of one image: the column matrix's columns.
    fn positions(&self) -> usize {
        let [ho, wo] = self.output();
        ho * wo
    }

    /// Images unfolded side by side into one column matrix.
    fn per_gemm(&self) -> usize {
        let values = self.patch_len() * self.positions();
        per_gemm(self.batch, self.positions()).min((MAX_GROUP_VALUES / values.max(1)).max(1))
    }

    /// Unfolds `images` side by side into `cols`, `[patch_len, images·positions]`, and returns it
    /// (`taps` from [`Geometry::taps`]); one image of a 1x1 convolution is its own column matrix,
    /// returned as it is.
    fn unfold<'a>(&self, images: &'a [f32], cols: &'a mut Vec<f32>, taps: &Taps) -> Mat<'a> {
        let (patch, width) = (self.patch_len(), images.len() / self.image_len() * self.positions());
        if self.is_pointwise() && images.len() == self.image_len() {
            return Mat::new(images, patch, width);
        }
        let cols = prefix(cols, patch * width);
        self.im2col(images, cols, taps);
        Mat::new(cols, patch, width)
    }

    /// Output positions `o` along dimension `d` whose input `o·stride + tap·dilation - pad` is
    /// inside the image; the others read padding.
    pub(crate) fn valid(&self, d: usize, tap: usize, out_len: usize) -> Range<usize> {
        let offset = tap * self.dilation[d];
        let (pad, stride, len) = (self.padding[d].0, self.stride[d], self.input[d]);
        let first = pad.saturating_sub(offset).div_ceil(stride);
        let end = if len + pad > offset { (len + pad - offset).div_ceil(stride) } else { 0 };
        first.min(out_len)..end.min(out_len).max(first.min(out_len))
    }

    /// The input position along dimension `d` that output position `o` reads at kernel tap
    /// `tap`, `o·stride + tap·dilation - pad`; `o` must lie in [`Geometry::valid`]'s range.
    pub(crate) fn input_at(&self, d: usize, o: usize, tap: usize) -> usize {
        o * self.stride[d] + tap * self.dilation[d] - self.padding[d].0
    }
}

/// `y = conv(x, w) + bias`: `x` is `[N, C, H, W]`, `w` is `[O, C, KH, KW]`, the bias (if any)
/// `[O]`, and the result `[N, O, HO, WO]`, all row-major.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.image_len(), "input does not match {g:?}");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), g.out_channels, "one bias per output channel of {g:?}");
    }
    if g.is_direct() || g.is_direct_many() {
        return direct::forward(g, x, w, bias);
    }
    if winograd::applies(g) {
        return winograd::forward(g, x, w, bias);
    }
    if g.is_dense() {
        return dense::forward(g, x, w, bias);
    }
    let (per, out_len) = (g.per_gemm(), g.out_channels * g.positions());
    let taps = g.taps(per);
    let weights = Mat::new(w, g.out_channels, g.patch_len());
    let threads = gemm_threads(g.batch.div_ceil(per));
    in_pieces(
        g.batch * out_len,
        per * out_len,
        || (),
        |(), i, y| {
            with_kept(&BUFFERS, |[cols, product, _]| {
                let x = &x[i * per * g.image_len()..][..y.len() / out_len * g.image_len()];
                let cols = g.unfold(x, cols, &taps);
                multiply_per_image(weights, cols, g.positions(), y, product, threads);
                add_bias(y, bias, g.positions());
            })
        },
    )
}

/// Adds `bias[c]` to every value of channel `c` of `images`, whole images of `bias.len()`
/// channels of `plane` values each: a convolution's bias, added by the thread that has just
/// written the images, while they are in its cache (a pass of its own took 1.7% of the UNet's
/// training step, and its gradient a node of its own).
pub(crate) fn add_bias(images: &mut [f32], bias: Option<&[f32]>, plane: usize) {
    let Some(bias) = bias else { return };
    crate::vectorized(
        #[inline(always)]
        || {
            for (values, &b) in images.chunks_mut(plane).zip(bias.iter().cycle()) {
                values.iter_mut().for_each(|v| *v += b);
            }
        },
    );
}

/// `W · cols` for a group of images (`cols` as [`Geometry::unfold`] gives it) into `y`, image by
/// image (`[images, O, positions]`); `scratch` holds the product of several images.
fn multiply_per_image(
    weights: Mat,
    cols: Mat,
    positions: usize,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
    threads: usize,
) {
    let images = cols.cols() / positions;
    if images == 1 {
        return matmul(weights, cols, y, false, threads);
    }
    let scratch = prefix(scratch, y.len());
    matmul(weights, cols, scratch, false, threads);
    swap_outer(scratch, y, [weights.rows(), images], positions);
}

/// The gradients `dy` (`[images, O, positions]`) of a group of images as one matrix,
/// `[O, images·positions]`, the columns matching [`Geometry::unfold`]'s: `dy` itself for one image.
fn by_channel<'a>(dy: &'a [f32], channels: usize, positions: usize, scratch: &'a mut Vec<f32>) -> Mat<'a> {
    let images = dy.len() / (channels * positions);
    if images == 1 {
        return Mat::new(dy, channels, positions);
    }
    let scratch = prefix(scratch, dy.len());
    swap_outer(dy, scratch, [images, channels], positions);
    Mat::new(scratch, channels, images * positions)
}

/// `dst[j][i] = src[i][j]` for `src` laid out `[a, b, inner]` and `dst` `[b, a, inner]`.
fn swap_outer(src: &[f32], dst: &mut [f32], [a, b]: [usize; 2], inner: usize) {
    for (i, block) in src.chunks(b * inner).enumerate() {
        for (j, run) in block.chunks(inner).enumerate() {
            dst[(j * a + i) * inner..][..inner].copy_from_slice(run);
        }
    }
}

/// Gradients of a convolution with respect to its input and its weights, given the gradient
/// `dy` of its output; each is computed only when asked for.
pub fn backward(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    want_input: bool,
    want_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    assert_eq!(x.len(), g.batch * g.image_len(), "input does not match {g:?}");
    assert_eq!(dy.len(), g.batch * g.out_channels * g.positions(), "output gradient does not match {g:?}");
    // A stride-1 input gradient is also a convolution of `dy` with the flipped kernel. As a GEMM
    // of its own column matrix (summing over O·KH·KW instead of O) it was no faster on ResNet-20
    // and LeNet-5's shapes, and slower for LeNet's few channels; Winograd's transforms and the
    // direct kernel of many channels compute it that way without one (`input_gradient`), and
    // col2im serves the rest.
    let weight_gradient =
        || if winograd::applies(g) { winograd::weight_gradient(g, x, dy) } else { weight_gradient(g, x, dy, None) };
    (want_input.then(|| input_gradient(g, w, dy, None)), want_weight.then(weight_gradient))
}

/// `y = conv_transpose(x, w) + bias`: the adjoint of the convolution `g`, whose output has
/// `x`'s shape `[N, O, HO, WO]` and whose input has `y`'s `[N, C, H, W]`; `w` is
/// `[O, C, KH, KW]`, the layout burn gives a transposed convolution's weight, and the bias `[C]`.
pub fn transposed_forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.out_channels * g.positions(), "input does not match {g:?}");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), g.in_channels, "one bias per output channel of the transposed {g:?}");
    }
    input_gradient(g, w, x, bias)
}

/// Gradients of [`transposed_forward`] with respect to `x` and `w`, given `dy`: a transposed
/// convolution's input gradient is the forward convolution of `dy`, and its weight gradient the
/// convolution's, with the roles of input and output gradient swapped.
pub fn transposed_backward(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    want_input: bool,
    want_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    assert_eq!(x.len(), g.batch * g.out_channels * g.positions(), "input does not match {g:?}");
    assert_eq!(dy.len(), g.batch * g.image_len(), "output gradient does not match {g:?}");
    match (want_input, want_weight) {
        (true, true) => {
            // Both unfold `dy` the same way: once serves both products.
            let mut dx = vec![0.0; x.len()];
            let dw = weight_gradient(g, dy, x, Some((w, &mut dx)));
            (Some(dx), Some(dw))
        }
        (true, false) => (Some(forward(g, dy, w, None)), None),
        (false, true) => (None, Some(weight_gradient(g, dy, x, None))),
        (false, false) => (None, None),
    }
}

/// The input gradient: `Wᵀ · dY` per group of images, folded back by col2im (or the direct
/// kernel's or Winograd's convolution of `dY`); plus `bias` per input channel when it serves as a
/// transposed convolution.
fn input_gradient(g: &Geometry, w: &[f32], dy: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    if let Some(adjoint) = g.adjoint().filter(Geometry::is_direct_many) {
        return direct::input_gradient(g, &adjoint, w, dy, bias);
    }
    if winograd::applies(g) {
        return winograd::input_gradient(g, w, dy, bias);
    }
    if g.is_dense() {
        return dense::input_gradient(g, w, dy, bias);
    }
    let (patch, positions, image_len) = (g.patch_len(), g.positions(), g.image_len());
    let (per, out_len) = (g.per_gemm(), g.out_channels * positions);
    let taps = g.taps(per);
    let weights = Mat::new(w, g.out_channels, patch);
    let threads = gemm_threads(g.batch.div_ceil(per));
    in_pieces(
        g.batch * image_len,
        per * image_len,
        || (),
        |(), i, dx| {
            with_kept(&BUFFERS, |[cols, grads, _]| {
                let dy = &dy[i * per * out_len..][..dx.len() / image_len * out_len];
                let grad = by_channel(dy, g.out_channels, positions, grads);
                if g.is_pointwise() && dx.len() == image_len {
                    matmul(weights.t(), grad, dx, false, threads);
                } else {
                    let cols = prefix(cols, patch * grad.cols());
                    matmul(weights.t(), grad, cols, false, threads);
                    g.col2im(cols, dx, &taps);
                }
                add_bias(dx, bias, g.input[0] * g.input[1]);
            })
        },
    )
}

/// The weight gradient, `Σ_images dY · colsᵀ`. With `forward = (w, y)`, also the forward
/// convolution `y = W · cols` of each image, from the same column matrix.
fn weight_gradient(g: &Geometry, x: &[f32], dy: &[f32], forward: Option<(&[f32], &mut [f32])>) -> Vec<f32> {
    if g.is_direct() {
        if let Some((w, y)) = forward {
            y.copy_from_slice(&direct::forward(g, x, w, None));
        }
        return direct::weight_gradient(g, x, dy);
    }
    if g.is_dense() {
        if let Some((w, y)) = forward {
            y.copy_from_slice(&dense::forward(g, x, w, None));
        }
        return dense::weight_gradient(g, x, dy);
    }
    let (patch, positions, image_len) = (g.patch_len(), g.positions(), g.image_len());
    let out_len = g.out_channels * positions;
    let (per_run, per) = (per_thread(g.batch), g.per_gemm());
    let taps = g.taps(per);
    let threads = gemm_threads(g.batch.div_ceil(per_run));
    // Each run sums `[patch, out_channels]`: that GEMM packs the small `dY` rather than the
    // column matrix (3x faster at ResNet-20's first stage). Under 64 columns (a single 7x7 or
    // 4x4 image) the column matrix is small next to the product, and `[out_channels, patch]`,
    // which runs the microkernel down the patch, was 10% faster.
    let by_channel_sums = per * positions < 64;
    let (weights, outputs): (_, Vec<Option<&mut [f32]>>) = match forward {
        Some((w, y)) => (Some(Mat::new(w, g.out_channels, patch)), y.chunks_mut(per_run * out_len).map(Some).collect()),
        None => (None, (0..g.batch.div_ceil(per_run)).map(|_| None).collect()),
    };
    let runs: Vec<_> = x.chunks(per_run * image_len).zip(dy.chunks(per_run * out_len)).zip(outputs).collect();
    let sums = sum_over_runs(runs, g.out_channels * patch, |((x, dy), mut y), sums| {
        with_kept(&BUFFERS, |[cols, grads, product]| {
            for (k, (x, dy)) in x.chunks(per * image_len).zip(dy.chunks(per * out_len)).enumerate() {
                let grad = by_channel(dy, g.out_channels, positions, grads);
                let cols = g.unfold(x, cols, &taps);
                if by_channel_sums {
                    matmul(grad, cols.t(), sums, true, threads);
                } else {
                    matmul(cols, grad.t(), sums, true, threads);
                }
                if let (Some(weights), Some(y)) = (weights, y.as_deref_mut()) {
                    let y = &mut y[k * per * out_len..][..dy.len()];
                    multiply_per_image(weights, cols, positions, y, product, threads);
                }
            }
        })
    });
    if by_channel_sums {
        return sums;
    }
    let mut dw = vec![0.0; sums.len()];
    swap_outer(&sums, &mut dw, [patch, g.out_channels], 1);
    dw
}
