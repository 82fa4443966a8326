//! 2-D max pooling, forward with the winners' positions and backward by scattering onto them.
//!
//! Each `[H, W]` plane of the batch is pooled alone, as a one-channel [`Geometry`]: the same
//! output size and padding rules as the convolution's.

use crate::conv::Geometry;
use crate::output::in_pieces;
use rayon::prelude::*;

/// Marks an output whose window lies entirely in the padding: it has no input to pass a gradient
/// to.
const NO_INPUT: u32 = u32::MAX;

/// The maxima of every window and, per output, the offset of its maximum in its input plane
/// (the first one, on ties). `g` describes one plane (`in_channels` and `out_channels` 1) and its
/// `batch` is the number of planes, batch times channels.
pub fn forward(g: &Geometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let [h, w] = g.input;
    let [ho, wo] = g.output();
    assert_eq!(x.len(), g.batch * h * w, "input does not match {g:?}");
    let mut y = vec![0.0; g.batch * ho * wo];
    let mut at = vec![NO_INPUT; y.len()];
    // The input rows (columns) each output row (column) reads, padding left out: the same for
    // every plane, so worked out once.
    let taps = |d: usize, out_len: usize, len: usize| -> Vec<Vec<usize>> {
        (0..out_len)
            .map(|o| {
                (0..g.kernel[d])
                    .filter_map(|k| (o * g.stride[d] + k * g.dilation[d]).checked_sub(g.padding[d].0))
                    .filter(|&i| i < len)
                    .collect()
            })
            .collect()
    };
    let (rows, cols) = (taps(0, ho, h), taps(1, wo, w));
    y.par_chunks_mut(ho * wo).zip(at.par_chunks_mut(ho * wo)).zip(x.par_chunks(h * w)).for_each(|((y, at), plane)| {
        for (oh, rows) in rows.iter().enumerate() {
            for (ow, cols) in cols.iter().enumerate() {
                // Two passes without branches on the data (a data-dependent branch mispredicts
                // so often on real inputs that it doubled the time): the maximum, then the
                // smallest offset holding it, which is the first in row-major order.
                let mut best = f32::NEG_INFINITY;
                for &ih in rows {
                    for &iw in cols {
                        best = best.max(plane[ih * w + iw]);
                    }
                }
                let mut arg = NO_INPUT;
                for &ih in rows {
                    for &iw in cols {
                        let offset = ih * w + iw;
                        arg = arg.min(offset as u32 | u32::from(plane[offset] != best).wrapping_neg());
                    }
                }
                y[oh * wo + ow] = best;
                at[oh * wo + ow] = arg;
            }
        }
    });
    (y, at)
}

/// The input gradient: each output's gradient added onto its maximum's position.
pub fn backward(g: &Geometry, at: &[u32], dy: &[f32]) -> Vec<f32> {
    let [h, w] = g.input;
    let [ho, wo] = g.output();
    assert_eq!(dy.len(), g.batch * ho * wo, "output gradient does not match {g:?}");
    assert_eq!(at.len(), dy.len(), "{} positions for {} outputs", at.len(), dy.len());
    in_pieces(
        g.batch * h * w,
        h * w,
        || (),
        |_, plane, dx| {
            let outputs = plane * ho * wo..(plane + 1) * ho * wo;
            for (&offset, &grad) in at[outputs.clone()].iter().zip(&dy[outputs]) {
                if offset != NO_INPUT {
                    dx[offset as usize] += grad;
                }
            }
        },
    )
}
