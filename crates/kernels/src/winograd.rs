//! 3x3 stride-1 "same" convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray
//! 2016, "Fast algorithms for convolutional neural networks"), forward and to the input.
//!
//! Each 2x2 tile of the output comes from a 4x4 tile of the input: both tiles and the 3x3 kernel
//! are carried into a 16-point transform domain where the convolution is one product per point,
//! and summing over the input channels makes each point one GEMM, `U[p] (O x C) · V[p] (C x tiles)`.
//! That is 16 multiplications per tile and channel pair where im2col's GEMM does 36, and the
//! transformed input is 4 values per pixel where im2col's column matrix is 9. The transforms
//! add and subtract only (the weights' halves are exact), and the result differs from the direct
//! sum by rounding alone, a few units in the last place. The weight gradient stays with
//! [`crate::conv`]'s im2col.

use crate::conv::Geometry;
use crate::gemm::{Mat, matmul};
use crate::vectorized;
use rayon::prelude::*;

/// Points of the transform domain: a 4x4 input tile.
const POINTS: usize = 16;

/// Values between the starts of two points' matrices beyond the matrix itself. The transforms
/// read or write all 16 points of a tile at once; 16 streams a power of two apart (16 KiB for
/// ResNet-20's first stage) all fall in one set of the L1 cache, which holds 8, and the
/// transforms then ran at a tenth of their speed. One cache line apart, they spread over 16 sets.
const SKEW: usize = 16;

/// Tile columns each task's GEMMs should have at least: narrower products spend more on
/// packing than on arithmetic, so small images are grouped.
const MIN_COLUMNS: usize = 256;

/// Whether `g` is a convolution this module computes: a 3x3 kernel, stride and dilation 1 and
/// one pixel of padding on every side (ResNet's and the UNet's convolutions), on images at least
/// [`MIN_WIDTH`] wide or with at least [`MIN_CHANNELS`] channels in and out. Narrower images with
/// few channels (ResNet-20's 8x8 stage, the UNet's 14x14 and 7x7 levels) keep im2col: their
/// transforms are short loops next to small products, and the whole training step was no faster.
pub fn applies(g: &Geometry) -> bool {
    g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.padding == [(1, 1), (1, 1)]
        && (g.input[1] >= MIN_WIDTH || g.in_channels.min(g.out_channels) >= MIN_CHANNELS)
}

/// See [`applies`].
const MIN_WIDTH: usize = 16;

/// See [`applies`].
const MIN_CHANNELS: usize = 128;

/// `y = conv(x, w)`: `x` is `[N, C, H, W]`, `w` `[O, C, 3, 3]` and `y` `[N, O, H, W]`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (outputs, inputs) = (g.out_channels, g.in_channels);
    let u = transform_weights(outputs, inputs, |o, c, i, j| w[((o * inputs + c) * 3 + i) * 3 + j]);
    convolve(g, x, &u)
}

/// The input gradient of `y = conv(x, w)` given `dy`: the same convolution of `dy`, with each
/// kernel flipped and the channels' roles swapped.
pub fn input_gradient(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (outputs, inputs) = (g.out_channels, g.in_channels);
    let u = transform_weights(inputs, outputs, |c, o, i, j| w[((o * inputs + c) * 3 + 2 - i) * 3 + 2 - j]);
    convolve(&Geometry { in_channels: outputs, out_channels: inputs, ..*g }, dy, &u)
}

/// `U[p][o][c] = (G · w[o][c] · Gᵀ)[p]` for every output channel `o` and input channel `c`, with
/// `weight(o, c, i, j)` the kernel's tap `(i, j)` and `G` the 4x3 matrix that evaluates a
/// 3-tap filter at 0, 1, -1 and infinity.
fn transform_weights(outputs: usize, inputs: usize, weight: impl Fn(usize, usize, usize, usize) -> f32) -> Vec<f32> {
    let g_times = |[a, b, c]: [f32; 3]| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    let mut u = vec![0.0; POINTS * outputs * inputs];
    for o in 0..outputs {
        for c in 0..inputs {
            let columns: [[f32; 4]; 3] = std::array::from_fn(|j| g_times(std::array::from_fn(|i| weight(o, c, i, j))));
            for r in 0..4 {
                for (k, v) in g_times(std::array::from_fn(|j| columns[j][r])).into_iter().enumerate() {
                    u[((r * 4 + k) * outputs + o) * inputs + c] = v;
                }
            }
        }
    }
    u
}

/// The convolution of `x` by the transformed weights `u` (`[16, O, C]`).
fn convolve(g: &Geometry, x: &[f32], u: &[f32]) -> Vec<f32> {
    let ([h, w], inputs, outputs) = (g.input, g.in_channels, g.out_channels);
    let tiles = h.div_ceil(2) * w.div_ceil(2);
    let (image_len, out_len) = (inputs * h * w, outputs * h * w);
    assert_eq!(x.len(), g.batch * image_len, "input does not match {g:?}");
    assert_eq!(u.len(), POINTS * outputs * inputs, "transformed weights do not match {g:?}");
    let threads = rayon::current_num_threads();
    let per_task = MIN_COLUMNS.div_ceil(tiles).clamp(1, g.batch.div_ceil(threads).max(1));
    let gemm_threads = if g.batch.div_ceil(per_task) >= threads { 1 } else { 0 };
    let mut y = vec![0.0; g.batch * out_len];
    y.par_chunks_mut(per_task * out_len).zip(x.par_chunks(per_task * image_len)).for_each_init(
        || (Vec::new(), Vec::new(), Split::default(), Vec::new()),
        |(v, m, split, corners), (y, x)| {
            let columns = x.len() / image_len * tiles;
            let (v_stride, m_stride) = (inputs * columns + SKEW, outputs * columns + SKEW);
            // Every entry but the skews is written before it is read.
            v.resize(POINTS * v_stride, 0.0);
            m.resize(POINTS * m_stride, 0.0);
            // Inlined into `vectorized`'s AVX2 context: a closure this large otherwise stays a call.
            vectorized(
                #[inline(always)]
                || {
                    for (n, image) in x.chunks(image_len).enumerate() {
                        for (c, plane) in image.chunks(h * w).enumerate() {
                            transform_input(plane, [h, w], split, &mut v[..], (c * columns + n * tiles, v_stride));
                        }
                    }
                },
            );
            for p in 0..POINTS {
                matmul(
                    Mat::new(&u[p * outputs * inputs..][..outputs * inputs], outputs, inputs),
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
        },
    );
    y
}

/// A plane, zero-padded by one pixel, as eight `[th + 1, tw]` arrays (`th`, `tw`: tile rows and
/// columns): for each parity of the padded row and each of the four columns a tile reads,
/// `split[parity][column][k][q]` is padded pixel `(2k + parity, 2q + column)`. Tile `(ti, q)` then
/// reads row `i` of its 4x4 window from arrays `i % 2` at position `(ti + i / 2, q)`: for a fixed
/// `i`, every tile's values lie in one contiguous run, so each step of the transform is one loop
/// over all the plane's tiles, long enough to vectorise.
#[derive(Default)]
struct Split(Vec<f32>);

/// How `Bᵀ` combines a tile's four rows `d`: row `a` is `d[i] + sign · d[j]`.
const B_T: [(usize, usize, f32); 4] = [(0, 2, -1.0), (1, 2, 1.0), (2, 1, -1.0), (1, 3, -1.0)];

/// Writes `V = Bᵀ · d · B` of every 4x4 tile `d` of `plane` (`[H, W]`, zero outside): point `p` of
/// tile `t` to `v[start + p·stride + t]`, tiles in row-major order.
#[inline(always)]
fn transform_input(
    plane: &[f32],
    [h, w]: [usize; 2],
    split: &mut Split,
    v: &mut [f32],
    (start, stride): (usize, usize),
) {
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let (tiles, len) = (th * tw, (th + 1) * tw);
    split.0.resize(8 * len, 0.0);
    for padded_row in 0..2 * th + 2 {
        let (parity, k) = (padded_row % 2, padded_row / 2);
        let row = padded_row.checked_sub(1).filter(|&r| r < h).map(|r| &plane[r * w..][..w]);
        for column in 0..4 {
            let dst = &mut split.0[(parity * 4 + column) * len + k * tw..][..tw];
            // Value q is the row's pixel 2q + column - 1: none for q = 0 in the first column.
            let skip = usize::from(column == 0);
            let copied = match row {
                Some(row) => {
                    let src = row.get(2 * skip + column - 1..).unwrap_or(&[]);
                    let n = src.len().div_ceil(2).min(tw - skip);
                    every_other(&mut dst[skip..skip + n], src);
                    n
                }
                None => 0,
            };
            dst[..skip].fill(0.0);
            dst[skip + copied..].fill(0.0);
        }
    }
    let tile_row = |i: usize, column: usize| &split.0[((i % 2) * 4 + column) * len + (i / 2) * tw..][..tiles];
    let mut points = v[start..].chunks_mut(stride);
    let mut points: [&mut [f32]; POINTS] = std::array::from_fn(|_| &mut points.next().expect("16 points")[..tiles]);
    for (a, &(i, j, sign)) in B_T.iter().enumerate() {
        let [p0, p1, p2, p3] = &mut points[4 * a..4 * a + 4] else { unreachable!() };
        let rows = |column| (tile_row(i, column), tile_row(j, column));
        input_row(sign, [rows(0), rows(1), rows(2), rows(3)], [p0, p1, p2, p3]);
    }
}

/// One row `a` of `V` for every tile: the row of `Bᵀ · d` is `d_i + sign · d_j` (`rows[c]` holding
/// column `c` of rows `i` and `j`), then `B` across gives u0 - u2, u1 + u2, u2 - u1, u1 - u3. A
/// function of its own so that its outputs are known not to overlap its inputs.
#[inline(always)]
fn input_row(sign: f32, rows: [(&[f32], &[f32]); 4], [p0, p1, p2, p3]: [&mut [f32]; 4]) {
    let [(a0, b0), (a1, b1), (a2, b2), (a3, b3)] = rows;
    let n = p0.len();
    let (p1, p2, p3) = (&mut p1[..n], &mut p2[..n], &mut p3[..n]);
    let (a0, a1, a2, a3, b0, b1, b2, b3) =
        (&a0[..n], &a1[..n], &a2[..n], &a3[..n], &b0[..n], &b1[..n], &b2[..n], &b3[..n]);
    for t in 0..n {
        let (u0, u1) = (a0[t] + sign * b0[t], a1[t] + sign * b1[t]);
        let (u2, u3) = (a2[t] + sign * b2[t], a3[t] + sign * b3[t]);
        p0[t] = u0 - u2;
        p1[t] = u1 + u2;
        p2[t] = u2 - u1;
        p3[t] = u1 - u3;
    }
}

/// Writes `Aᵀ · m · A`, each tile's 2x2 outputs, into `plane` (`[H, W]`), with point `p` of tile
/// `t` at `m[start + p·stride + t]`; the tiles' parts past an odd side are dropped. `corners` is
/// scratch.
#[inline(always)]
fn transform_output(
    m: &[f32],
    (start, stride): (usize, usize),
    plane: &mut [f32],
    [h, w]: [usize; 2],
    corners: &mut Vec<f32>,
) {
    let tw = w.div_ceil(2);
    let tiles = h.div_ceil(2) * tw;
    let mut points = m[start..].chunks(stride);
    let p: [&[f32]; POINTS] = std::array::from_fn(|_| &points.next().expect("16 points")[..tiles]);
    corners.resize(4 * tiles, 0.0);
    let (top, bottom) = corners.split_at_mut(2 * tiles);
    let ((y00, y01), (y10, y11)) = (top.split_at_mut(tiles), bottom.split_at_mut(tiles));
    output_tiles(p, [y00, y01, y10, y11]);
    for (ti, rows) in plane.chunks_mut(2 * w).enumerate() {
        let (top, bottom) = rows.split_at_mut(w.min(rows.len()));
        let at = ti * tw;
        for (row, (left, right)) in [(top, (&*y00, &*y01)), (bottom, (&*y10, &*y11))] {
            interleave(row, &left[at..at + tw], &right[at..at + tw]);
        }
    }
}

/// Values per step of the loops below: fixed-size steps, which the compiler turns into vector
/// shuffles; a plain loop over a row (16 values at ResNet's first stage) stayed scalar, too short
/// for its unrolled vector body.
const LANES: usize = 8;

/// `dst[q] = src[2q]`.
#[inline(always)]
fn every_other(dst: &mut [f32], src: &[f32]) {
    let full = (dst.len() / LANES).min(src.len() / (2 * LANES));
    for (d, s) in dst.chunks_exact_mut(LANES).zip(src.chunks_exact(2 * LANES)).take(full) {
        for i in 0..LANES {
            d[i] = s[2 * i];
        }
    }
    for (d, s) in dst[full * LANES..].iter_mut().zip(src[full * 2 * LANES..].iter().step_by(2)) {
        *d = *s;
    }
}

/// `row[2q] = even[q]` and `row[2q + 1] = odd[q]`, as far as `row` goes.
#[inline(always)]
fn interleave(row: &mut [f32], even: &[f32], odd: &[f32]) {
    let full = (row.len() / (2 * LANES)).min(even.len() / LANES).min(odd.len() / LANES);
    let chunks = row.chunks_exact_mut(2 * LANES).zip(even.chunks_exact(LANES).zip(odd.chunks_exact(LANES)));
    for (r, (e, o)) in chunks.take(full) {
        for i in 0..LANES {
            r[2 * i] = e[i];
            r[2 * i + 1] = o[i];
        }
    }
    let (e, o) = (&even[full * LANES..], &odd[full * LANES..]);
    for (pair, (&e, &o)) in row[full * 2 * LANES..].chunks_mut(2).zip(e.iter().zip(o)) {
        pair[0] = e;
        if let Some(second) = pair.get_mut(1) {
            *second = o;
        }
    }
}

/// `Aᵀ · m · A` for every tile: `p[k]` holds point `k` of each tile, and the four outputs its
/// corners (top left, top right, bottom left, bottom right).
#[inline(always)]
fn output_tiles(p: [&[f32]; POINTS], [y00, y01, y10, y11]: [&mut [f32]; 4]) {
    let n = y00.len();
    let (y01, y10, y11) = (&mut y01[..n], &mut y10[..n], &mut y11[..n]);
    let p: [&[f32]; POINTS] = p.map(|p| &p[..n]);
    for t in 0..n {
        // Aᵀ down the columns: rows m0 + m1 + m2 and m1 - m2 - m3; then A across.
        let top: [f32; 4] = std::array::from_fn(|k| p[k][t] + p[4 + k][t] + p[8 + k][t]);
        let bottom: [f32; 4] = std::array::from_fn(|k| p[4 + k][t] - p[8 + k][t] - p[12 + k][t]);
        y00[t] = top[0] + top[1] + top[2];
        y01[t] = top[1] - top[2] - top[3];
        y10[t] = bottom[0] + bottom[1] + bottom[2];
        y11[t] = bottom[1] - bottom[2] - bottom[3];
    }
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
            assert_close(&forward(&g, &x, &w), &direct(&g, &x, &w), &format!("{g:?}"));
        }
    }

    #[test]
    fn input_gradient_is_the_adjoint_of_the_forward() {
        // <conv(x), dy> = <x, input_gradient(dy)> for any x and dy.
        for (batch, c, o, input) in [(2, 6, 4, [6, 6]), (3, 3, 5, [5, 7]), (1, 2, 2, [1, 2])] {
            let g = geometry(batch, c, o, input);
            let (x, w) = (values(batch * c * input[0] * input[1], 3), values(o * c * 9, 4));
            let dy = values(batch * o * input[0] * input[1], 5);
            let dx = input_gradient(&g, &w, &dy);
            let forward: f64 = direct(&g, &x, &w).iter().zip(&dy).map(|(y, &d)| y * f64::from(d)).sum();
            let adjoint: f64 = x.iter().zip(&dx).map(|(&x, &d)| f64::from(x) * f64::from(d)).sum();
            assert!((forward - adjoint).abs() < 1e-5 * forward.abs().max(1.0), "{g:?}: {forward} vs {adjoint}");
        }
    }
}
