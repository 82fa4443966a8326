//! 3x3 stride-1 "same" convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray
//! 2016, "Fast algorithms for convolutional neural networks"), forward and backward.
//!
//! Each 2x2 tile of the output comes from a 4x4 tile of the input: both tiles and the 3x3 kernel
//! are carried into a 16-point transform domain where the convolution is one product per point,
//! and summing over the input channels makes each point one GEMM, `U[p] (O x C) · V[p] (C x tiles)`.
//! That is 16 multiplications per tile and channel pair where im2col's GEMM does 36, and the
//! transformed input is 4 values per pixel where im2col's column matrix is 9. The transforms
//! add and subtract only (the weights' halves are exact), and the result differs from the direct
//! sum by rounding alone, a few units in the last place.
//!
//! Backward, the input gradient is the same convolution of `dy` by the flipped kernels, and the
//! weight gradient is the adjoint of the forward pass: per point, `dU[p] = Σ M[p] · V[p]ᵀ` over
//! the tiles, with `M` the output gradient carried into the transform domain (`A · dy · Aᵀ`),
//! then `dw = Gᵀ · dU · G`.

mod transforms;
mod weights;

use crate::batching::{gemm_threads, per_gemm, per_thread, sum_over_runs};
use crate::conv::{Geometry, add_bias};
use crate::gemm::{Mat, matmul};
use crate::kept::{prefix, with_kept};
use crate::output::in_pieces;
use crate::vectorized;
use std::cell::Cell;
use transforms::{Split, transform_input, transform_output, transform_output_gradient};
use weights::{transform_weights, untransform_weights};

/// Points of the transform domain: a 4x4 input tile.
const POINTS: usize = 16;

/// Values between the starts of two points' matrices beyond the matrix itself. The transforms
/// read or write all 16 points of a tile at once; 16 streams a power of two apart (16 KiB for
/// ResNet-20's first stage) all fall in one set of the L1 cache, which holds 8, and the
/// transforms then ran at a tenth of their speed. One cache line apart, they spread over 16 sets.
const SKEW: usize = 16;

/// Whether `g` is a convolution this module computes: a 3x3 kernel, stride and dilation 1 and
/// one pixel of padding on every side (ResNet's and the UNet's convolutions), with at least
/// [`FEWEST_CHANNELS`] channels in and out, on images at least [`MIN_WIDTH`] wide or with at least
/// [`MIN_CHANNELS`] channels in and out. Narrower images with few channels (ResNet-20's 16x16 and
/// 8x8 stages, the UNet's 14x14 and 7x7 levels) keep im2col: their transforms are short loops
/// next to small products. At 16x16 with 32 channels im2col took 16.4 ms forward and backward on
/// one thread of a Xeon with AVX-512 where Winograd took 18.2.
pub fn applies(g: &Geometry) -> bool {
    g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.padding == [(1, 1), (1, 1)]
        && g.in_channels.min(g.out_channels) >= FEWEST_CHANNELS
        && (g.input[1] >= MIN_WIDTH || g.in_channels.min(g.out_channels) >= MIN_CHANNELS)
}

/// See [`applies`].
const MIN_WIDTH: usize = 24;

/// See [`applies`].
const MIN_CHANNELS: usize = 128;

/// Fewer channels in or out than this (the CIFAR networks' 3-channel stem, the UNet's 1-channel
/// first and last convolutions) and each point's GEMM is 1-3 deep or high, all overhead:
/// ResNet-20's stem took 4.8 ms forward and backward on one thread by im2col, 5.9 by Winograd.
const FEWEST_CHANNELS: usize = 8;

/// `y = conv(x, w) + bias`: `x` is `[N, C, H, W]`, `w` `[O, C, 3, 3]`, the bias `[O]` and `y`
/// `[N, O, H, W]`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (outputs, inputs) = (g.out_channels, g.in_channels);
    let u = transform_weights(outputs, inputs, w);
    convolve(g, x, |p| Mat::strided(&u[p * inputs..], outputs, inputs, POINTS * inputs), bias)
}

/// The input gradient of `y = conv(x, w)` given `dy`: the same convolution of `dy`, with each
/// kernel flipped and the channels' roles swapped; plus `bias` per input channel (`[C]`) when it
/// serves as a transposed convolution.
pub fn input_gradient(g: &Geometry, w: &[f32], dy: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (outputs, inputs) = (g.out_channels, g.in_channels);
    let u = transform_weights(outputs, inputs, w);
    // Flipping a kernel reverses its 3-tap filters, and `G` evaluates a reversed filter at 0 to
    // what the filter gives at infinity (and the reverse), at 1 and -1 to what it gives there: a
    // flipped kernel's point `(r, k)` is the kernel's with 0 and 3 swapped in both coordinates.
    // Swapping the channels' roles transposes each point's matrix.
    let flipped = |i: usize| match i {
        0 => 3,
        3 => 0,
        i => i,
    };
    let point = |p: usize| flipped(p / 4) * 4 + flipped(p % 4);
    let u_t = |p: usize| Mat::strided(&u[point(p) * inputs..], outputs, inputs, POINTS * inputs).t();
    convolve(&Geometry { in_channels: outputs, out_channels: inputs, ..*g }, dy, u_t, bias)
}

/// The weight gradient of `y = conv(x, w)` given `dy` (`[N, O, H, W]`): `[O, C, 3, 3]`.
pub fn weight_gradient(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let ([h, w], inputs, outputs) = (g.input, g.in_channels, g.out_channels);
    let tiles = h.div_ceil(2) * w.div_ceil(2);
    let (image_len, out_len) = (inputs * h * w, outputs * h * w);
    assert_eq!(x.len(), g.batch * image_len, "input does not match {g:?}");
    assert_eq!(dy.len(), g.batch * out_len, "output gradient does not match {g:?}");
    let (per_run, per_group) = (per_thread(g.batch), per_gemm(g.batch, tiles));
    let runs: Vec<_> = x.chunks(per_run * image_len).zip(dy.chunks(per_run * out_len)).collect();
    let du = sum_over_runs(runs, POINTS * outputs * inputs, |(x, dy), du| {
        with_kept(&SCRATCH, |scratch| {
            for (x, dy) in x.chunks(per_group * image_len).zip(dy.chunks(per_group * out_len)) {
                let columns = x.len() / image_len * tiles;
                let (v_stride, m_stride) = scratch.size(columns, inputs, outputs);
                let Scratch { v, m, split, corners } = &mut *scratch;
                vectorized(
                    #[inline(always)]
                    || {
                        transform_images(x, [h, w], split, v, (columns, v_stride));
                        for (n, image) in dy.chunks(out_len).enumerate() {
                            for (o, plane) in image.chunks(h * w).enumerate() {
                                let at = (o * columns + n * tiles, m_stride);
                                transform_output_gradient(plane, [h, w], corners, m, at);
                            }
                        }
                    },
                );
                for (p, du) in du.chunks_mut(outputs * inputs).enumerate() {
                    matmul(
                        Mat::new(&m[p * m_stride..][..outputs * columns], outputs, columns),
                        Mat::new(&v[p * v_stride..][..inputs * columns], inputs, columns).t(),
                        du,
                        true,
                        1,
                    );
                }
            }
        })
    });
    untransform_weights(outputs, inputs, &du)
}

/// One task's buffers: the transformed input `v`, the products (or the transformed output
/// gradient) `m`, and the transforms' own scratch.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    split: Split,
    corners: Vec<f32>,
}

impl Scratch {
    /// Makes `v` and `m` large enough for `columns` tile columns of `inputs` and `outputs`
    /// channels and returns the distances between their points. Every entry a task reads it has
    /// written, but for the skews.
    fn size(&mut self, columns: usize, inputs: usize, outputs: usize) -> (usize, usize) {
        let strides = (inputs * columns + SKEW, outputs * columns + SKEW);
        prefix(&mut self.v, POINTS * strides.0);
        prefix(&mut self.m, POINTS * strides.1);
        strides
    }
}

thread_local! {
    /// Each thread's [`Scratch`]: 16 MiB at ResNet-18's last stage (512 channels, 64 images a task).
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Writes `V` of every plane of the images `x` (`[n, C, H, W]`) with the layout [`convolve`]'s
/// GEMMs read: point `p` of channel `c`'s tile `t` in image `n` at
/// `v[p·stride + c·columns + n·tiles + t]`.
#[inline(always)]
fn transform_images(
    x: &[f32],
    [h, w]: [usize; 2],
    split: &mut Split,
    v: &mut [f32],
    (columns, stride): (usize, usize),
) {
    let tiles = h.div_ceil(2) * w.div_ceil(2);
    let image_len = x.len() * tiles / columns;
    for (n, image) in x.chunks(image_len).enumerate() {
        for (c, plane) in image.chunks(h * w).enumerate() {
            transform_input(plane, [h, w], split, v, (c * columns + n * tiles, stride));
        }
    }
}

/// The convolution of `x` by the transformed weights whose point `p` is the `O x C` matrix
/// `u(p)`, plus `bias` (`[O]`).
fn convolve<'u>(g: &Geometry, x: &[f32], u: impl Fn(usize) -> Mat<'u> + Sync, bias: Option<&[f32]>) -> Vec<f32> {
    let ([h, w], inputs, outputs) = (g.input, g.in_channels, g.out_channels);
    let tiles = h.div_ceil(2) * w.div_ceil(2);
    let (image_len, out_len) = (inputs * h * w, outputs * h * w);
    assert_eq!(x.len(), g.batch * image_len, "input does not match {g:?}");
    assert!(
        (0..POINTS).all(|p| (u(p).rows(), u(p).cols()) == (outputs, inputs)),
        "transformed weights do not match {g:?}"
    );
    let per_task = per_gemm(g.batch, tiles);
    let gemm_threads = gemm_threads(g.batch.div_ceil(per_task));
    in_pieces(
        g.batch * out_len,
        per_task * out_len,
        || (),
        |(), i, y| {
            with_kept(&SCRATCH, |scratch| {
                let x = &x[i * per_task * image_len..][..y.len() / out_len * image_len];
                let columns = x.len() / image_len * tiles;
                let (v_stride, m_stride) = scratch.size(columns, inputs, outputs);
                let Scratch { v, m, split, corners } = scratch;
                // Inlined into `vectorized`'s AVX2 context: a closure this large otherwise stays a call.
                vectorized(
                    #[inline(always)]
                    || transform_images(x, [h, w], split, v, (columns, v_stride)),
                );
                for p in 0..POINTS {
                    matmul(
                        u(p),
                        Mat::new(&v[p * v_stride..][..inputs * columns], inputs, columns),
                        &mut m[p * m_stride..][..outputs * columns],
                        false,
                        gemm_threads,
                    );
                }
                vectorized(
                    #[inline(always)]
                    || {
                        for (n, image) in y.chunks_mut(out_len).enumerate() {
                            for (o, plane) in image.chunks_mut(h * w).enumerate() {
                                transform_output(&m[..], (o * columns + n * tiles, m_stride), plane, [h, w], corners);
                            }
                        }
                    },
                );
                add_bias(y, bias, h * w);
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct sum, in `f64`: `y[n][o][r][q] = Σ x[n][c][r + i - 1][q + j - 1] · w[o][c][i][j]`.
    fn direct(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let ([h, wd], (c_in, c_out)) = (g.input, (g.in_channels, g.out_channels));
        let mut y = vec![0.0; g.batch * c_out * h * wd];
        for n in 0..g.batch {
            for o in 0..c_out {
                for r in 0..h {
                    for q in 0..wd {
                        let mut sum = 0.0;
                        for c in 0..c_in {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (ir, iq) = ((r + i).wrapping_sub(1), (q + j).wrapping_sub(1));
                                    if ir < h && iq < wd {
                                        let x = f64::from(x[((n * c_in + c) * h + ir) * wd + iq]);
                                        sum += x * f64::from(w[((o * c_in + c) * 3 + i) * 3 + j]);
                                    }
                                }
                            }
                        }
                        y[((n * c_out + o) * h + r) * wd + q] = sum;
                    }
                }
            }
        }
        y
    }

    fn geometry(batch: usize, in_channels: usize, out_channels: usize, input: [usize; 2]) -> Geometry {
        Geometry {
            batch,
            in_channels,
            input,
            out_channels,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [(1, 1), (1, 1)],
            dilation: [1, 1],
        }
    }

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (k, (&got, &want)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(got) - want).abs() < 2e-6 * scale, "{what}[{k}] = {got}, not {want}");
        }
    }

    #[test]
    fn forward_matches_the_direct_sum_on_even_odd_and_tiny_images() {
        for (batch, c, o, input) in
            [(3, 16, 16, [8, 8]), (2, 5, 7, [7, 9]), (1, 3, 2, [1, 1]), (2, 2, 3, [2, 5]), (5, 4, 4, [3, 3])]
        {
            let g = geometry(batch, c, o, input);
            let x = values(batch * c * input[0] * input[1], 1);
            let w = values(o * c * 9, 2);
            assert_close(&forward(&g, &x, &w, None), &direct(&g, &x, &w), &format!("{g:?}"));
        }
    }

    #[test]
    fn input_gradient_is_the_adjoint_of_the_forward() {
        // <conv(x), dy> = <x, input_gradient(dy)> for any x and dy.
        for (batch, c, o, input) in [(2, 6, 4, [6, 6]), (3, 3, 5, [5, 7]), (1, 2, 2, [1, 2])] {
            let g = geometry(batch, c, o, input);
            let (x, w) = (values(batch * c * input[0] * input[1], 3), values(o * c * 9, 4));
            let dy = values(batch * o * input[0] * input[1], 5);
            let dx = input_gradient(&g, &w, &dy, None);
            let forward: f64 = direct(&g, &x, &w).iter().zip(&dy).map(|(y, &d)| y * f64::from(d)).sum();
            let adjoint: f64 = x.iter().zip(&dx).map(|(&x, &d)| f64::from(x) * f64::from(d)).sum();
            assert!((forward - adjoint).abs() < 1e-5 * forward.abs().max(1.0), "{g:?}: {forward} vs {adjoint}");
        }
    }

    #[test]
    fn weight_gradient_matches_the_direct_sum() {
        // dw[o][c][i][j] = Σ dy[n][o][r][q] · x[n][c][r + i - 1][q + j - 1], which is the
        // derivative of Σ dy · conv(x, w) by w: conv of x by the one-hot kernel (o, c, i, j).
        for (batch, c, o, input) in [(3, 4, 5, [8, 8]), (2, 3, 2, [5, 7]), (1, 2, 3, [1, 2]), (7, 2, 2, [3, 3])] {
            let g = geometry(batch, c, o, input);
            let (x, dy) = (values(batch * c * input[0] * input[1], 6), values(batch * o * input[0] * input[1], 7));
            let want: Vec<f64> = (0..o * c * 9)
                .map(|k| {
                    let mut one_hot = vec![0.0; o * c * 9];
                    one_hot[k] = 1.0;
                    direct(&g, &x, &one_hot).iter().zip(&dy).map(|(y, &d)| y * f64::from(d)).sum()
                })
                .collect();
            assert_close(&weight_gradient(&g, &x, &dy), &want, &format!("{g:?}"));
        }
    }
}
