//! Single-head softmax attention over the positions of a feature map (Vaswani et al. 2017,
//! "Attention is all you need"), as the DDPM UNet uses it: one image at a time, forward and
//! backward, with the images split over the threads.
//!
//! Composed of burn's operations, the UNet's attention at `[128, 3x64, 49]` took 4.8–5.9 ms
//! forward and backward (the bench's `unet-attn-fwd-bwd-burn` row; PyTorch's 5.6 ms): three
//! `narrow`s of the fused query-key-value tensor each cost a zeroed full-size gradient and a copy
//! in the backward pass, the transposes were copied before every product, and softmax is five
//! recorded operations, all on the calling thread. This kernel takes 1.6 ms. Here each image's
//! queries, keys and values stay in the convolution's channel-major layout (`[channels,
//! positions]`), the products read them transposed in place, and the attention weights are
//! computed again in the backward pass rather than kept (an image's `n x n` weights fit in cache).

use crate::gemm::{Mat, matmul};
use crate::output::in_pieces;
use crate::pointwise::exp;
use crate::vectorized;

/// The shape of one attention: `batch` images, each with `channels`-wide queries, keys and values
/// at `positions` positions, stacked as `[batch, 3 · channels, positions]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    /// Images.
    pub batch: usize,
    /// Width of each query, key and value.
    pub channels: usize,
    /// Positions attended over (height times width).
    pub positions: usize,
}

impl Heads {
    /// Values of one image's queries (as of its keys, its values and its output).
    fn per_part(&self) -> usize {
        self.channels * self.positions
    }

    /// `1 / sqrt(channels)`, which keeps the scores' spread independent of the width.
    fn scale(&self) -> f32 {
        (self.channels as f32).sqrt().recip()
    }

    fn check(&self, qkv: &[f32]) {
        assert_eq!(qkv.len(), self.batch * 3 * self.per_part(), "queries, keys and values do not match {self:?}");
    }
}

/// One image's queries, keys and values as `[channels, positions]` matrices.
fn parts<'a>(h: &Heads, qkv: &'a [f32]) -> [Mat<'a>; 3] {
    let part = h.per_part();
    [0, 1, 2].map(|i| Mat::new(&qkv[i * part..(i + 1) * part], h.channels, h.positions))
}

/// Each row of `p` (`positions x positions` scores `qᵢ · kⱼ`) replaced by the softmax of the
/// scaled scores: the attention weights of position `i` over the positions `j`. The maximum and
/// the sum run in [`LANES`] independent lanes, and the exponentials in a loop of their own: one
/// running total over a row would make every step wait for the one before, and not vectorise.
fn softmax_rows(h: &Heads, p: &mut [f32]) {
    let scale = h.scale();
    vectorized(
        #[inline(always)]
        || {
            for row in p.chunks_exact_mut(h.positions) {
                let max = lanes(row, f32::NEG_INFINITY, f32::max);
                row.iter_mut().for_each(|s| *s = exp((*s - max) * scale));
                let inverse = lanes(row, 0.0, |a, b| a + b).recip();
                row.iter_mut().for_each(|s| *s *= inverse);
            }
        },
    );
}

/// Lanes of the reductions in [`softmax_rows`].
const LANES: usize = 8;

/// `row` folded by `op` (associative and commutative) in [`LANES`] lanes from `init`.
#[inline(always)]
fn lanes(row: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(init, |a, &v| op(a, v));
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = op(*a, v);
        }
    }
    acc.iter().fold(tail, |a, &v| op(a, v))
}

/// The attention weights `p` (`[positions, positions]`) of one image.
fn weights(h: &Heads, [q, k, _]: [Mat; 3], p: &mut [f32]) {
    matmul(q.t(), k, p, false, 1);
    softmax_rows(h, p);
}

/// `out[c, i] = Σⱼ softmax_j(qᵢ · kⱼ / √channels) · v[c, j]`: `qkv` is `[batch, 3 · channels,
/// positions]` (queries, then keys, then values) and the output `[batch, channels, positions]`.
pub fn forward(h: &Heads, qkv: &[f32]) -> Vec<f32> {
    h.check(qkv);
    let (part, square) = (h.per_part(), h.positions * h.positions);
    in_pieces(
        h.batch * part,
        part,
        || vec![0.0; square],
        |p, image, out| {
            let mats = parts(h, &qkv[image * 3 * part..(image + 1) * 3 * part]);
            weights(h, mats, p);
            // out = v · pᵀ
            matmul(mats[2], Mat::new(p, h.positions, h.positions).t(), out, false, 1);
        },
    )
}

/// The gradient of [`forward`] with respect to `qkv`, given the output's gradient `dout`; the
/// same layout as `qkv`.
pub fn backward(h: &Heads, qkv: &[f32], dout: &[f32]) -> Vec<f32> {
    h.check(qkv);
    let (part, square, n) = (h.per_part(), h.positions * h.positions, h.positions);
    assert_eq!(dout.len(), h.batch * part, "output gradient does not match {h:?}");
    in_pieces(
        h.batch * 3 * part,
        3 * part,
        || (vec![0.0; square], vec![0.0; square]),
        |(p, dp), image, grads| {
            let [q, k, v] = parts(h, &qkv[image * 3 * part..(image + 1) * 3 * part]);
            let dout = Mat::new(&dout[image * part..(image + 1) * part], h.channels, n);
            weights(h, [q, k, v], p);
            let (dq, rest) = grads.split_at_mut(part);
            let (dk, dv) = rest.split_at_mut(part);
            // dv = dout · p, and dp = doutᵀ · v.
            matmul(dout, Mat::new(p, n, n), dv, false, 1);
            matmul(dout.t(), v, dp, false, 1);
            // Through the softmax: ds = p ⊙ (dp - Σⱼ p ⊙ dp), times the scale of the scores.
            let scale = h.scale();
            for (p, ds) in p.chunks_exact(n).zip(dp.chunks_exact_mut(n)) {
                let dot: f32 = p.iter().zip(ds.iter()).map(|(p, d)| p * d).sum();
                ds.iter_mut().zip(p).for_each(|(d, p)| *d = p * (*d - dot) * scale);
            }
            let ds = Mat::new(dp, n, n);
            // dq = k · dsᵀ, and dk = q · ds.
            matmul(k, ds.t(), dq, false, 1);
            matmul(q, ds, dk, false, 1);
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in f64, one image and position at a time.
    fn naive(h: &Heads, qkv: &[f32]) -> Vec<f64> {
        let (c, n) = (h.channels, h.positions);
        let mut out = vec![0.0; h.batch * c * n];
        for b in 0..h.batch {
            let at = |part: usize, ch: usize, pos: usize| f64::from(qkv[((b * 3 + part) * c + ch) * n + pos]);
            for i in 0..n {
                let scores: Vec<f64> = (0..n)
                    .map(|j| (0..c).map(|ch| at(0, ch, i) * at(1, ch, j)).sum::<f64>() / (c as f64).sqrt())
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = e.iter().sum();
                for ch in 0..c {
                    out[(b * c + ch) * n + i] = (0..n).map(|j| e[j] / total * at(2, ch, j)).sum();
                }
            }
        }
        out
    }

    fn inputs(h: &Heads) -> Vec<f32> {
        (0..h.batch * 3 * h.channels * h.positions).map(|i| ((i as f32) * 0.731).sin() * 1.5).collect()
    }

    #[test]
    fn forward_matches_the_definition() {
        let h = Heads { batch: 3, channels: 5, positions: 7 };
        let qkv = inputs(&h);
        let (got, want) = (forward(&h, &qkv), naive(&h, &qkv));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((f64::from(*g) - w).abs() < 1e-5, "{g} against {w}");
        }
    }

    #[test]
    fn backward_matches_central_differences() {
        let h = Heads { batch: 2, channels: 3, positions: 5 };
        let qkv = inputs(&h);
        // A loss that weighs every output differently: Σ out · r.
        let r: Vec<f32> = (0..h.batch * h.channels * h.positions).map(|i| ((i as f32) * 1.3).cos()).collect();
        let grads = backward(&h, &qkv, &r);
        let loss = |x: &[f32]| naive(&h, x).iter().zip(&r).map(|(o, r)| o * f64::from(*r)).sum::<f64>();
        for i in 0..qkv.len() {
            let step = 1e-3;
            let (mut up, mut down) = (qkv.clone(), qkv.clone());
            up[i] += step;
            down[i] -= step;
            let want = (loss(&up) - loss(&down)) / (2.0 * f64::from(step));
            assert!((f64::from(grads[i]) - want).abs() < 2e-3, "d/dqkv[{i}] = {} against {want}", grads[i]);
        }
    }

    #[test]
    #[should_panic(expected = "do not match")]
    fn a_wrong_length_panics() {
        forward(&Heads { batch: 2, channels: 3, positions: 5 }, &[0.0; 10]);
    }
}
