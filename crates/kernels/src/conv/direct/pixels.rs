//! Direct kernels with a row's output positions side by side in each vector, for any number of
//! output channels: one output row of a tile of channels at a time, all in registers.

use super::{Geometry, Gradients, Images, LANES, Padded, load};
use crate::copy_short;
use pulp::{Simd, WithSimd};
use std::array;

/// The weights (a `tile` of output channels side by side per tap, `[tiles, C, KH, KW, tile]`,
/// the channels past `O` zero) and the bias padded likewise, for rows of `vectors` vectors.
pub(super) fn weights(g: &Geometry, w: &[f32], bias: Option<&[f32]>, vectors: usize) -> (Vec<f32>, Vec<f32>) {
    let tile = forward_tile(g.out_channels, vectors);
    let taps = g.in_channels * g.kernel[0] * g.kernel[1];
    let channels = g.out_channels.div_ceil(tile) * tile;
    let mut weights = vec![0.0; channels * taps];
    for (o, filter) in w.chunks_exact(taps).enumerate() {
        for (k, &v) in filter.iter().enumerate() {
            weights[((o / tile) * taps + k) * tile + o % tile] = v;
        }
    }
    let mut padded_bias = vec![0.0; channels];
    if let Some(bias) = bias {
        padded_bias[..g.out_channels].copy_from_slice(bias);
    }
    (weights, padded_bias)
}

/// Output channels per forward tile for rows of `vectors` vectors: the candidate that pads the
/// fewest channels (the larger on a tie); the accumulators then take 6 to 12 registers.
fn forward_tile(channels: usize, vectors: usize) -> usize {
    let [large, small] = if vectors == 1 { [8, 6] } else { [6, 4] };
    let padded = |tile: usize| channels.div_ceil(tile) * tile;
    if padded(small) < padded(large) { small } else { large }
}

/// The forward kernel.
pub(super) struct Forward<'a>(pub(super) Images<'a>);

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match self.0.g.kernel[1] {
            3 => self.by_tile::<S, 3>(simd),
            5 => self.by_tile::<S, 5>(simd),
            other => unreachable!("no forward kernel {other} wide"),
        }
    }
}

impl Forward<'_> {
    #[inline(always)]
    fn by_tile<S: Simd, const KW: usize>(self, simd: S) {
        let Images { g, padded, xp, weights, bias, y } = self.0;
        let tile = forward_tile(g.out_channels, padded.vectors);
        let out_len = g.out_channels * g.positions();
        for (xp, y) in xp.chunks_exact(padded.image_len(g.in_channels)).zip(y.chunks_exact_mut(out_len)) {
            let image = Images { g, padded, xp, weights, bias, y };
            match (padded.vectors, tile) {
                (1, 8) => image.rows::<S, KW, 1, 8>(simd),
                (1, 6) => image.rows::<S, KW, 1, 6>(simd),
                (2, 6) => image.rows::<S, KW, 2, 6>(simd),
                (2, 4) => image.rows::<S, KW, 2, 4>(simd),
                other => unreachable!("no forward kernel for {other:?} (vectors, channels)"),
            }
        }
    }
}

impl Images<'_> {
    /// The output `[O, HO, WO]` of one image, `T` channels and one output row of `V` vectors at
    /// a time, all in registers, for a kernel `KW` wide.
    #[inline(always)]
    fn rows<S: Simd, const KW: usize, const V: usize, const T: usize>(self, simd: S) {
        let Images { g, padded, xp, weights, bias, y } = self;
        let ([ho, wo], kh, pitch) = (g.output(), g.kernel[0], padded.pitch);
        let taps = g.in_channels * kh * KW;
        for (t, (tile, bias)) in weights.chunks_exact(taps * T).zip(bias.chunks_exact(T)).enumerate() {
            // Per input channel and kernel row, the KW taps' T weights.
            let tile: &[[[f32; T]; KW]] = tile.as_chunks::<T>().0.as_chunks::<KW>().0;
            for r in 0..ho {
                let mut acc: [[S::f32s; V]; T] = array::from_fn(|o| [simd.splat_f32s(bias[o]); V]);
                for (k, taps) in tile.iter().enumerate() {
                    let (c, i) = (k / kh, k % kh);
                    let row = &xp[(c * padded.rows + r + i) * pitch..][..pitch];
                    for (j, ws) in taps.iter().enumerate() {
                        let xs: [S::f32s; V] = array::from_fn(|v| load::<S>(&row[v * S::F32_LANES + j..]));
                        for (acc, &w) in acc.iter_mut().zip(ws) {
                            let w = simd.splat_f32s(w);
                            for (a, &x) in acc.iter_mut().zip(&xs) {
                                *a = simd.mul_add_f32s(w, x, *a);
                            }
                        }
                    }
                }
                // Stored vector by vector: a slice over the accumulators would keep them in
                // memory, stored after every product.
                for (o, acc) in acc.into_iter().take(g.out_channels - t * T).enumerate() {
                    let row = &mut y[((t * T + o) * ho + r) * wo..][..wo];
                    for (values, a) in row.chunks_mut(S::F32_LANES).zip(acc) {
                        simd.partial_store_f32s(values, a);
                    }
                }
            }
        }
    }
}

/// Output channels of a weight-gradient tile for `channels` output channels: the candidate that
/// pads the fewest (the larger on a tie). Its `tile · KW` accumulators, the `KW` shifted input
/// vectors and an output gradient's vector fit the 32 registers.
fn gradient_tile(channels: usize) -> usize {
    if channels.div_ceil(3) * 3 < channels.div_ceil(4) * 4 { 3 } else { 4 }
}

/// Writes `dy` (`[N, O, HO, WO]`) into `dst` as `[N, O' / T, HO, T, vectors·LANES]`, `T` the
/// [`gradient_tile`]: a tile's rows side by side, each zero-padded to whole vectors, and the
/// channels padded to `O'`, a multiple of `T`, with zeros.
pub(super) fn gradient_rows(g: &Geometry, dy: &[f32], padded: &Padded, dst: &mut Vec<f32>) {
    let ([ho, wo], width) = (g.output(), padded.vectors * LANES);
    let tile = gradient_tile(g.out_channels);
    let image_len = g.out_channels.div_ceil(tile) * tile * ho * width;
    dst.clear();
    dst.resize(dy.len() / (g.out_channels * ho * wo) * image_len, 0.0);
    for (image, rows) in dy.chunks_exact(g.out_channels * ho * wo).zip(dst.chunks_exact_mut(image_len)) {
        for (o, plane) in image.chunks_exact(ho * wo).enumerate() {
            for (r, src) in plane.chunks_exact(wo).enumerate() {
                copy_short(&mut rows[(((o / tile) * ho + r) * tile + o % tile) * width..][..wo], src);
            }
        }
    }
}

/// The weight-gradient kernel, over output gradients laid out by [`gradient_rows`].
pub(super) struct WeightSums<'a>(pub(super) Gradients<'a>);

impl WithSimd for WeightSums<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match (self.0.g.kernel[1], self.0.padded.vectors, gradient_tile(self.0.g.out_channels)) {
            (3, 1, 4) => self.tiles::<S, 3, 1, 4>(simd),
            (3, 2, 4) => self.tiles::<S, 3, 2, 4>(simd),
            (3, 1, 3) => self.tiles::<S, 3, 1, 3>(simd),
            (3, 2, 3) => self.tiles::<S, 3, 2, 3>(simd),
            (5, 1, 4) => self.tiles::<S, 5, 1, 4>(simd),
            (5, 1, 3) => self.tiles::<S, 5, 1, 3>(simd),
            (5, 2, 3) => self.tiles::<S, 5, 2, 3>(simd),
            (5, 2, 4) => self.tiles::<S, 5, 2, 4>(simd),
            other => unreachable!("no weight-gradient kernel for {other:?} (width, vectors, channels)"),
        }
    }
}

impl WeightSums<'_> {
    /// For each input channel, kernel row and tile of `T` output channels, `T · KW` vectors of
    /// sums over every image and output row (of `V` vectors), whose lanes are added up at the end.
    #[inline(always)]
    fn tiles<S: Simd, const KW: usize, const V: usize, const T: usize>(self, simd: S) {
        let Gradients { g, padded, xp, grads: dyp, sums } = self.0;
        let ([ho, _], kh, lanes, pitch) = (g.output(), g.kernel[0], S::F32_LANES, padded.pitch);
        let (c_n, o_n, width) = (g.in_channels, g.out_channels, V * lanes);
        let (image_in, image_out) = (padded.image_len(c_n), o_n.div_ceil(T) * T * ho * width);
        for c in 0..c_n {
            for i in 0..kh {
                for o0 in (0..o_n).step_by(T) {
                    let mut acc = [[simd.splat_f32s(0.0); KW]; T];
                    for (input, grads) in xp.chunks_exact(image_in).zip(dyp.chunks_exact(image_out)) {
                        let rows = &input[(c * padded.rows + i) * pitch..][..ho * pitch];
                        let grads = &grads[o0 * ho * width..][..ho * T * width];
                        for (row, grads) in rows.chunks_exact(pitch).zip(grads.chunks_exact(T * width)) {
                            for v in 0..V {
                                let xs: [S::f32s; KW] = array::from_fn(|j| load::<S>(&row[v * lanes + j..]));
                                for (o, acc) in acc.iter_mut().enumerate() {
                                    let d = load::<S>(&grads[o * width + v * lanes..]);
                                    for (a, &x) in acc.iter_mut().zip(&xs) {
                                        *a = simd.mul_add_f32s(d, x, *a);
                                    }
                                }
                            }
                        }
                    }
                    for (o, acc) in acc.into_iter().enumerate().take(o_n - o0) {
                        for (j, lanes) in acc.into_iter().enumerate() {
                            sums[(((o0 + o) * c_n + c) * kh + i) * KW + j] += simd.reduce_sum_f32s(lanes);
                        }
                    }
                }
            }
        }
    }
}
