//! 2-D convolution by im2col and GEMM, one image per task, forward and backward.
//!
//! Each image's column matrix (`[C·KH·KW, HO·WO]`, 590 KB for ResNet-20's first stage) stays in
//! cache while its GEMMs run (Chellapilla, Puri & Simard 2006, "High performance convolutional
//! neural networks for document processing"). The weight gradient is `dY · colsᵀ` summed over
//! images, the input gradient `Wᵀ · dY` folded back onto the image by col2im.

use crate::gemm::{Mat, matmul};
use crate::winograd;
use rayon::prelude::*;
use std::borrow::Cow;
use std::ops::Range;

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

    /// Threads each GEMM may use: one while there are enough images to keep every thread busy,
    /// all of them for a batch smaller than that (a single image at inference).
    fn gemm_threads(&self) -> usize {
        if self.batch >= rayon::current_num_threads() { 1 } else { 0 }
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

    /// Calls `f(row, c, i, j, rows, cols)` for every column-matrix row `row`: channel `c`, kernel
    /// tap `(i, j)`, and the output rows and columns whose input lies inside the image.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, Range<usize>, Range<usize>)) {
        let [ho, wo] = self.output();
        let [kh, kw] = self.kernel;
        for c in 0..self.in_channels {
            for i in 0..kh {
                let rows = self.valid(0, i, ho);
                for j in 0..kw {
                    f((c * kh + i) * kw + j, c, i, j, rows.clone(), self.valid(1, j, wo));
                }
            }
        }
    }

    /// Calls `f(row, at, oh, j, valid)` for every output row `oh` of every column-matrix row `row`
    /// (kernel column `j`) that reads the image: `at` is the offset of the image row it reads,
    /// `valid` the output columns inside the image; the others read padding.
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, Range<usize>)) {
        let [h, w] = self.input;
        self.for_each_tap(|row, c, i, j, rows, cols| {
            for oh in rows {
                let ih = oh * self.stride[0] + i * self.dilation[0] - self.padding[0].0;
                f(row, (c * h + ih) * w, oh, j, cols.clone());
            }
        });
    }

    /// The input column that output column `ow` reads at kernel column `j` (inside `valid`).
    fn input_column(&self, ow: usize, j: usize) -> usize {
        ow * self.stride[1] + j * self.dilation[1] - self.padding[1].0
    }

    /// Whether each column-matrix row is a shifted copy of one stride phase of its channel:
    /// dilation 1, sides divisible by the strides, and an output as wide as a phase ("same"
    /// padding across, any padding down), as in every 3x3 convolution of ResNet and the UNet and
    /// the kernel-4 stride-2 layers of DCGAN. The phase `(a, b)` of a channel holds its pixels
    /// `(s·r + a, s·q + b)` (the whole channel at stride 1); output position `q` then reads phase
    /// position `q + offset`, except in the columns that wrap around a row's end, which read padding.
    fn shifts_rows(&self) -> bool {
        let ([h, w], [sh, sw]) = (self.input, self.stride);
        self.dilation == [1, 1] && h % sh == 0 && w % sw == 0 && self.output()[1] == w / sw
    }

    /// For each column-matrix row of a [`Geometry::shifts_rows`] convolution: `f(row, dst, src,
    /// wrapped)`, where `dst` is the row's run of output positions that read inside the image
    /// vertically (as a range of the row), `src` the positions they read in the image split into
    /// phases ([`Geometry::phases`]; the same length, possibly starting before the phase or ending
    /// after it by less than a row), and `wrapped` the output columns that read padding.
    fn for_each_shift(&self, mut f: impl FnMut(usize, Range<usize>, Range<isize>, [Range<usize>; 2])) {
        let [sh, sw] = self.stride.map(|s| s as isize);
        let [hp, wp] = [self.input[0] as isize / sh, self.input[1] as isize / sw];
        let wo = self.output()[1];
        let [top, left] = [self.padding[0].0 as isize, self.padding[1].0 as isize];
        self.for_each_tap(|row, c, i, j, rows, valid| {
            // Tap (i, j) reads pixel (s·o + i - top) of each dimension: phase (i - top) mod s, at
            // o plus the quotient.
            let (di, dj) = (i as isize - top, j as isize - left);
            let phase = (c as isize * sh + di.rem_euclid(sh)) * sw + dj.rem_euclid(sw);
            let offset = di.div_euclid(sh) * wp + dj.div_euclid(sw);
            let start = (phase * hp + rows.start as isize) * wp + offset;
            let dst = rows.start * wo..rows.end * wo;
            f(row, dst.clone(), start..start + dst.len() as isize, [0..valid.start, valid.end..wo]);
        });
    }

    /// The image with each channel split into its stride phases, `[C, SH, SW, H/SH, W/SW]`: the
    /// image itself at stride 1.
    fn phases<'a>(&self, image: &'a [f32]) -> Cow<'a, [f32]> {
        if self.stride == [1, 1] {
            return Cow::Borrowed(image);
        }
        let mut phases = vec![0.0; image.len()];
        self.for_each_phase_run(|at, step, run| {
            for (d, s) in phases[run].iter_mut().zip(image[at..].iter().step_by(step)) {
                *d = *s;
            }
        });
        Cow::Owned(phases)
    }

    /// Calls `f(at, step, run)` for each row of each phase: `run` is its range in the phases, and
    /// it holds the image's values from `at` on, `step` apart.
    fn for_each_phase_run(&self, mut f: impl FnMut(usize, usize, Range<usize>)) {
        let ([h, w], [sh, sw]) = (self.input, self.stride);
        let [hp, wp] = [h / sh, w / sw];
        for c in 0..self.in_channels {
            for r in 0..h {
                for b in 0..sw {
                    let phase = (c * sh + r % sh) * sw + b;
                    let start = (phase * hp + r / sh) * wp;
                    f((c * h + r) * w + b, sw, start..start + wp);
                }
            }
        }
    }

    /// Unfolds one image into its column matrix `[patch_len, positions]`.
    fn im2col(&self, image: &[f32], cols: &mut [f32]) {
        if self.shifts_rows() {
            // One copy per row: its vertical padding zeroed, the rest copied from the shifted
            // phase, and the columns that wrapped around zeroed.
            let (positions, wo, phases) = (self.positions(), self.output()[1], self.phases(image));
            self.for_each_shift(|row, dst, src, wrapped| {
                let row = &mut cols[row * positions..][..positions];
                row[..dst.start].fill(0.0);
                row[dst.end..].fill(0.0);
                let (dst, src) = clip(dst, src, phases.len());
                row[dst].copy_from_slice(&phases[src]);
                zero_columns(row, wo, &wrapped);
            });
            return;
        }
        // Padding is rare next to the interior, so zero everything once and copy the interior.
        cols.fill(0.0);
        let (positions, wo, w) = (self.positions(), self.output()[1], self.input[1]);
        let stride = self.stride[1];
        self.for_each_row(|row, at, oh, j, valid| {
            let src = &image[at..at + w];
            let dst = &mut cols[row * positions + oh * wo..][..wo];
            let first = self.input_column(valid.start, j);
            if stride == 1 {
                dst[valid.clone()].copy_from_slice(&src[first..first + valid.len()]);
            } else {
                for (d, s) in dst[valid].iter_mut().zip(src[first..].iter().step_by(stride)) {
                    *d = *s;
                }
            }
        });
    }

    /// Adds a column matrix back onto the image it was unfolded from (the adjoint of `im2col`);
    /// `cols` is scratch, and its entries that read padding are overwritten.
    fn col2im(&self, cols: &mut [f32], image: &mut [f32]) {
        if self.shifts_rows() {
            // The entries that read padding get no gradient: zeroed, so that each row can be
            // added onto its shifted phase in one run. Strided, the sums go to zeroed phases,
            // whose interleaving then writes every pixel of the image.
            let (positions, wo) = (self.positions(), self.output()[1]);
            let strided = self.stride != [1, 1];
            let mut scratch = if strided { vec![0.0; image.len()] } else { Vec::new() };
            let phases: &mut [f32] = if strided {
                &mut scratch
            } else {
                image.fill(0.0);
                image
            };
            self.for_each_shift(|row, dst, src, wrapped| {
                let row = &mut cols[row * positions..][..positions];
                zero_columns(row, wo, &wrapped);
                let (dst, src) = clip(dst, src, phases.len());
                for (d, s) in phases[src].iter_mut().zip(&row[dst]) {
                    *d += *s;
                }
            });
            if strided {
                self.for_each_phase_run(|at, step, run| {
                    for (d, s) in image[at..].iter_mut().step_by(step).zip(&scratch[run]) {
                        *d = *s;
                    }
                });
            }
            return;
        }
        image.fill(0.0);
        let (positions, wo, w) = (self.positions(), self.output()[1], self.input[1]);
        let stride = self.stride[1];
        self.for_each_row(|row, at, oh, j, valid| {
            let src = &cols[row * positions + oh * wo..][..wo];
            let first = self.input_column(valid.start, j);
            let dst = &mut image[at..at + w];
            if stride == 1 {
                for (d, s) in dst[first..first + valid.len()].iter_mut().zip(&src[valid]) {
                    *d += *s;
                }
            } else {
                for (d, s) in dst[first..].iter_mut().step_by(stride).zip(&src[valid]) {
                    *d += *s;
                }
            }
        });
    }
}

/// Zeroes `columns` of every line of `width` values in `row`.
fn zero_columns(row: &mut [f32], width: usize, columns: &[Range<usize>]) {
    // Column by column: a kernel wraps only a few columns, and a fill per line of a narrow image
    // (8 values at ResNet-20's third stage) costs a call each.
    for column in columns.iter().flat_map(Clone::clone) {
        row[column..].iter_mut().step_by(width).for_each(|v| *v = 0.0);
    }
}

/// `dst` and `src` (equal lengths) cut to where `src` lies in `0..len`: the ends cut off are
/// wrapped columns, zeroed separately.
fn clip(dst: Range<usize>, src: Range<isize>, len: usize) -> (Range<usize>, Range<usize>) {
    let start = src.start.clamp(0, len as isize);
    let end = src.end.clamp(start, len as isize);
    let skip = ((start - src.start) as usize).min(dst.len());
    let keep = ((end - src.start) as usize).clamp(skip, dst.len());
    (dst.start + skip..dst.start + keep, start as usize..start as usize + (keep - skip))
}

/// `y = conv(x, w)` without bias: `x` is `[N, C, H, W]`, `w` is `[O, C, KH, KW]`, and the result
/// `[N, O, HO, WO]`, all row-major.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (patch, positions) = (g.patch_len(), g.positions());
    assert_eq!(x.len(), g.batch * g.image_len(), "input does not match {g:?}");
    if winograd::applies(g) {
        return winograd::forward(g, x, w);
    }
    let weights = Mat::new(w, g.out_channels, patch);
    let threads = g.gemm_threads();
    let mut y = vec![0.0; g.batch * g.out_channels * positions];
    y.par_chunks_mut(g.out_channels * positions).zip(x.par_chunks(g.image_len())).for_each_init(
        || vec![0.0; patch * positions],
        |cols, (out, image)| {
            g.im2col(image, cols);
            matmul(weights, Mat::new(cols, patch, positions), out, false, threads);
        },
    );
    y
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
    // A stride-1 input gradient can also be computed as a convolution of `dy` with the flipped
    // kernel (a GEMM summing over O·KH·KW instead of O); measured on ResNet-20 and LeNet-5's
    // shapes it was no faster, and slower for LeNet's few channels, so col2im serves all.
    let weight_gradient =
        || if winograd::applies(g) { winograd::weight_gradient(g, x, dy) } else { weight_gradient(g, x, dy, None) };
    (want_input.then(|| input_gradient(g, w, dy)), want_weight.then(weight_gradient))
}

/// `y = conv_transpose(x, w)` without bias: the adjoint of the convolution `g`, whose output
/// has `x`'s shape `[N, O, HO, WO]` and whose input has `y`'s `[N, C, H, W]`; `w` is
/// `[O, C, KH, KW]`, the layout burn gives a transposed convolution's weight.
pub fn transposed_forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.out_channels * g.positions(), "input does not match {g:?}");
    input_gradient(g, w, x)
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
        (true, false) => (Some(forward(g, dy, w)), None),
        (false, true) => (None, Some(weight_gradient(g, dy, x, None))),
        (false, false) => (None, None),
    }
}

/// The input gradient: `Wᵀ · dY` per image, folded back by col2im.
fn input_gradient(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    if winograd::applies(g) {
        return winograd::input_gradient(g, w, dy);
    }
    let (patch, positions, image_len) = (g.patch_len(), g.positions(), g.image_len());
    let weights = Mat::new(w, g.out_channels, patch);
    let threads = g.gemm_threads();
    let mut dx = vec![0.0; g.batch * image_len];
    dx.par_chunks_mut(image_len).zip(dy.par_chunks(g.out_channels * positions)).for_each_init(
        || vec![0.0; patch * positions],
        |cols, (image, grad)| {
            matmul(weights.t(), Mat::new(grad, g.out_channels, positions), cols, false, threads);
            g.col2im(cols, image);
        },
    );
    dx
}

/// The weight gradient, `Σ_images dY · colsᵀ`. With `forward = (w, y)`, also the forward
/// convolution `y = W · cols` of each image, from the same column matrix.
fn weight_gradient(g: &Geometry, x: &[f32], dy: &[f32], forward: Option<(&[f32], &mut [f32])>) -> Vec<f32> {
    let (patch, positions, image_len) = (g.patch_len(), g.positions(), g.image_len());
    let out_len = g.out_channels * positions;
    let threads = g.gemm_threads();
    // Images go to threads in contiguous runs, one per thread, each summing its own gradient.
    let per_run = g.batch.div_ceil(rayon::current_num_threads()).max(1);
    let runs = g.batch.div_ceil(per_run);
    // Each run sums `[patch, out_channels]`: that GEMM packs the small `dY` rather than the
    // column matrix (3x faster at ResNet-20's first stage). Under 64 positions (DCGAN's 7x7,
    // ResNet-18's 4x4) the column matrix is small next to the product, and `[out_channels,
    // patch]`, which runs the microkernel down the patch, was 10% faster.
    let by_channel = positions < 64;
    let (weights, outputs): (_, Vec<Option<&mut [f32]>>) = match forward {
        Some((w, y)) => (Some(Mat::new(w, g.out_channels, patch)), y.chunks_mut(per_run * out_len).map(Some).collect()),
        None => (None, (0..runs).map(|_| None).collect()),
    };
    let partial_sums: Vec<Vec<f32>> = outputs
        .into_par_iter()
        .enumerate()
        .map(|(run, mut outputs)| {
            let mut cols = vec![0.0; patch * positions];
            let mut sums = vec![0.0; g.out_channels * patch];
            for n in run * per_run..((run + 1) * per_run).min(g.batch) {
                let grad = Mat::new(&dy[n * out_len..(n + 1) * out_len], g.out_channels, positions);
                g.im2col(&x[n * image_len..(n + 1) * image_len], &mut cols);
                let cols = Mat::new(&cols, patch, positions);
                if by_channel {
                    matmul(grad, cols.t(), &mut sums, true, threads);
                } else {
                    matmul(cols, grad.t(), &mut sums, true, threads);
                }
                if let (Some(weights), Some(y)) = (weights, outputs.as_deref_mut()) {
                    matmul(weights, cols, &mut y[(n - run * per_run) * out_len..][..out_len], false, threads);
                }
            }
            sums
        })
        .collect();
    // The runs' sums are added in run order, never in the order threads finish, so that the
    // same seed gives the same weights on every run.
    let mut dw = vec![0.0; g.out_channels * patch];
    for sums in &partial_sums {
        if by_channel {
            dw.iter_mut().zip(sums).for_each(|(d, s)| *d += *s);
        } else {
            for (q, row) in sums.chunks(g.out_channels).enumerate() {
                for (o, v) in row.iter().enumerate() {
                    dw[o * patch + q] += *v;
                }
            }
        }
    }
    dw
}
