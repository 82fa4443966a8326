//! Direct kernels with one output position's channels in each vector, for whole vectors of
//! output channels (LeNet-5's conv2: 16, with AVX-512): no lane idles past a row's end, as 6 of
//! 16 did on conv2's 10-wide rows with the positions side by side. The forward kernel also serves
//! many channels (the UNet's and ResNet-20's 3x3 convolutions, a vector of output channels at a
//! time), and the weight-gradient kernel exactly one vector's worth.

use super::{Gradients, Images, LANES, load};
use crate::conv::Geometry;
use pulp::{Simd, WithSimd};

/// The narrowest output row the forward kernel takes (the least of [`tile_width`]'s candidates).
pub(super) const NARROWEST: usize = 8;

/// The most values of a tile of the forward kernel: 16 positions of a vector's channels.
const MOST_TILE_VALUES: usize = 16 * LANES;

/// The weights as `[O / lanes, C, KH, KW, lanes]` (each tap's output channels of one block of a
/// vector's worth side by side) and the bias.
pub(super) fn weights(g: &Geometry, w: &[f32], bias: Option<&[f32]>) -> (Vec<f32>, Vec<f32>) {
    let (taps, o_n) = (g.in_channels * g.kernel[0] * g.kernel[1], g.out_channels);
    let mut weights = vec![0.0; taps * o_n];
    for (o, filter) in w.chunks_exact(taps).enumerate() {
        let (block, lane) = (o / LANES, o % LANES);
        for (k, &v) in filter.iter().enumerate() {
            weights[(block * taps + k) * LANES + lane] = v;
        }
    }
    (weights, bias.map_or_else(|| vec![0.0; o_n], <[f32]>::to_vec))
}

/// Output positions per forward tile for rows `width` wide: the candidate that computes the
/// fewest positions per row (a row's last tile overlaps the one before it rather than run past
/// the row's end), the wider on a tie.
fn tile_width(width: usize) -> usize {
    let candidates = [16, 14, 12, 10, NARROWEST].into_iter().filter(|&r| r <= width);
    candidates.min_by_key(|&r| width.div_ceil(r) * r).expect("rows at least NARROWEST wide")
}

/// The forward kernel, over the weights [`weights`] arranged.
pub(super) struct Forward<'a>(pub(super) Images<'a>);

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match (self.0.g.kernel[1], tile_width(self.0.g.output()[1])) {
            (3, 8) => self.tiles::<S, 3, 8>(simd),
            (3, 10) => self.tiles::<S, 3, 10>(simd),
            (3, 12) => self.tiles::<S, 3, 12>(simd),
            (3, 14) => self.tiles::<S, 3, 14>(simd),
            (3, 16) => self.tiles::<S, 3, 16>(simd),
            (5, 8) => self.tiles::<S, 5, 8>(simd),
            (5, 10) => self.tiles::<S, 5, 10>(simd),
            (5, 12) => self.tiles::<S, 5, 12>(simd),
            (5, 14) => self.tiles::<S, 5, 14>(simd),
            (5, 16) => self.tiles::<S, 5, 16>(simd),
            other => unreachable!("no forward kernel for {other:?} (width, positions)"),
        }
    }
}

impl Forward<'_> {
    /// Each image's output, a vector of channels and `R` positions of a row at a time, summed in
    /// `R` registers over every tap (a weight vector each, times each position's input value).
    #[inline(always)]
    fn tiles<S: Simd, const K: usize, const R: usize>(self, simd: S) {
        let Images { g, padded, xp, weights, bias, y } = self.0;
        let ([ho, wo], kh, lanes, pitch) = (g.output(), g.kernel[0], S::F32_LANES, padded.pitch);
        let block_len = g.in_channels * kh * K * lanes;
        let starts = (0..wo.div_ceil(R)).map(|t| (t * R).min(wo - R));
        let mut tile = [0.0; MOST_TILE_VALUES];
        let images = xp.chunks_exact(padded.image_len(g.in_channels)).zip(y.chunks_exact_mut(g.out_channels * ho * wo));
        for (xp, y) in images {
            let blocks = weights.chunks_exact(block_len).zip(bias.chunks_exact(lanes));
            for ((weights, bias), y) in blocks.zip(y.chunks_exact_mut(lanes * ho * wo)) {
                let bias = load::<S>(bias);
                for r in 0..ho {
                    for x0 in starts.clone() {
                        let mut acc = [bias; R];
                        for (k, taps) in weights.chunks_exact(K * lanes).enumerate() {
                            let (c, i) = (k / kh, k % kh);
                            let row = &xp[(c * padded.rows + r + i) * pitch + x0..][..R + K - 1];
                            for j in 0..K {
                                let w = load::<S>(&taps[j * lanes..]);
                                for (p, a) in acc.iter_mut().enumerate() {
                                    *a = simd.mul_add_f32s(simd.splat_f32s(row[p + j]), w, *a);
                                }
                            }
                        }
                        // Through a buffer: a slice over the accumulators would keep them in memory.
                        for (values, a) in tile.chunks_exact_mut(lanes).zip(acc) {
                            simd.partial_store_f32s(values, a);
                        }
                        for o in 0..lanes {
                            let dst = &mut y[(o * ho + r) * wo + x0..][..R];
                            for (p, d) in dst.iter_mut().enumerate() {
                                *d = tile[p * lanes + o];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Writes `dy` (`[N, O, HO, WO]`) into `dst` as `[N, HO, WO, O]`: each position's channels side
/// by side.
pub(super) fn gradient_rows(g: &Geometry, dy: &[f32], dst: &mut Vec<f32>) {
    let (o_n, positions) = (g.out_channels, g.positions());
    dst.clear();
    dst.resize(dy.len(), 0.0);
    for (image, out) in dy.chunks_exact(o_n * positions).zip(dst.chunks_exact_mut(o_n * positions)) {
        // Written in order, read from every channel's plane at once: scattered writes, a cache
        // line per value, took a third of ResNet-20's stem forward and backward.
        for (p, out) in out.chunks_exact_mut(o_n).enumerate() {
            for (d, plane) in out.iter_mut().zip(image.chunks_exact(positions)) {
                *d = plane[p];
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
        match self.0.g.kernel[1] {
            3 => self.taps::<S, 3>(simd),
            5 => self.taps::<S, 5>(simd),
            other => unreachable!("no weight-gradient kernel {other} wide"),
        }
    }
}

impl WeightSums<'_> {
    /// For each input channel, its `K·K` taps' gradients for every output channel in `K·K`
    /// registers, summed over every image and position: an output gradient's vector times the
    /// input value each tap reads.
    #[inline(always)]
    fn taps<S: Simd, const K: usize>(self, simd: S) {
        let Gradients { g, padded, xp, grads, sums } = self.0;
        let ([ho, wo], lanes, pitch, c_n) = (g.output(), S::F32_LANES, padded.pitch, g.in_channels);
        let mut channels = [0.0; MOST_TILE_VALUES];
        for c in 0..c_n {
            let mut acc = [[simd.splat_f32s(0.0); K]; K];
            for (input, grads) in xp.chunks_exact(padded.image_len(c_n)).zip(grads.chunks_exact(lanes * ho * wo)) {
                let plane = &input[c * padded.rows * pitch..][..padded.rows * pitch];
                for r in 0..ho {
                    for x in 0..wo {
                        let d = load::<S>(&grads[(r * wo + x) * lanes..]);
                        for (i, acc) in acc.iter_mut().enumerate() {
                            let row = &plane[(r + i) * pitch + x..][..K];
                            for (a, &v) in acc.iter_mut().zip(row) {
                                *a = simd.mul_add_f32s(simd.splat_f32s(v), d, *a);
                            }
                        }
                    }
                }
            }
            for (i, acc) in acc.into_iter().enumerate() {
                for (j, a) in acc.into_iter().enumerate() {
                    simd.partial_store_f32s(&mut channels[..lanes], a);
                    for (o, &v) in channels[..lanes].iter().enumerate() {
                        sums[((o * c_n + c) * K + i) * K + j] += v;
                    }
                }
            }
        }
    }
}
