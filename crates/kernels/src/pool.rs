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
    let pairs = g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [(0, 0), (0, 0)] && g.dilation == [1, 1];
    y.par_chunks_mut(ho * wo).zip(at.par_chunks_mut(ho * wo)).zip(x.par_chunks(h * w)).for_each(|((y, at), plane)| {
        if pairs {
            return crate::vectorized(
                #[inline(always)]
                || pairs_of_rows(plane, w, y, at, wo),
            );
        }
        for (oh, rows) in rows.iter().enumerate() {
            for (ow, cols) in cols.iter().enumerate() {
                let offsets = rows.iter().flat_map(|&ih| cols.iter().map(move |&iw| ih * w + iw));
                (y[oh * wo + ow], at[oh * wo + ow]) = max_and_first(plane, offsets);
            }
        }
    });
    (y, at)
}

/// 2x2 windows at stride 2 over a plane `w` wide, as LeNet-5 pools, a row of outputs at a time,
/// with fixed offsets and selects. The general loop, with its lists of offsets, made pooling 13%
/// of LeNet-5's one-thread training step at batch 256 (`perf`); this took the `pool-fwd-bwd`
/// row from about 200 to 80–90 µs.
#[inline(always)]
fn pairs_of_rows(plane: &[f32], w: usize, y: &mut [f32], at: &mut [u32], wo: usize) {
    let outputs = y.chunks_exact_mut(wo).zip(at.chunks_exact_mut(wo));
    for (oh, ((y, at), rows)) in outputs.zip(plane.chunks_exact(2 * w)).enumerate() {
        let (top, bottom) = rows.split_at(w);
        let windows = top[..2 * wo].chunks_exact(2).zip(bottom[..2 * wo].chunks_exact(2));
        let first = (2 * oh * w) as u32;
        for (ow, ((y, at), (t, b))) in y.iter_mut().zip(at).zip(windows).enumerate() {
            // As `max_and_first`: NaN is skipped (an all-NaN window gives -inf), and ties go to
            // the first maximum in row-major order.
            let best = t[0].max(t[1]).max(b[0].max(b[1])).max(f32::NEG_INFINITY);
            let o = first + 2 * ow as u32;
            let mut arg = NO_INPUT;
            for (value, offset) in [(b[1], o + w as u32 + 1), (b[0], o + w as u32), (t[1], o + 1), (t[0], o)] {
                arg = if value == best { offset } else { arg };
            }
            (*y, *at) = (best, arg);
        }
    }
}

/// The maximum of `plane` at `offsets` and the smallest offset holding it (the first in
/// row-major order), or [`NO_INPUT`] where none does (no offsets, or only NaN).
///
/// Two passes without branches on the data: a data-dependent branch mispredicts so often on
/// real inputs that it doubled the time.
#[inline(always)]
fn max_and_first(plane: &[f32], offsets: impl Iterator<Item = usize> + Clone) -> (f32, u32) {
    let best = offsets.clone().fold(f32::NEG_INFINITY, |best, o| best.max(plane[o]));
    let arg = offsets.fold(NO_INPUT, |arg, o| arg.min(o as u32 | u32::from(plane[o] != best).wrapping_neg()));
    (best, arg)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(input: [usize; 2], kernel: usize, stride: usize) -> Geometry {
        Geometry {
            batch: 1,
            in_channels: 1,
            input,
            out_channels: 1,
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [(0, 0); 2],
            dilation: [1, 1],
        }
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_nan_is_skipped() {
        // 2x2 windows at stride 2 (the four-offset path) over a 3x4 plane: the last row is left
        // out, as the output size rounds down.
        #[rustfmt::skip]
        let x = [
            1.0, 5.0, f32::NAN, 2.0,
            5.0, 5.0, 1.0, f32::NAN,
            9.0, 9.0, 9.0, 9.0,
        ];
        let (y, at) = forward(&plane([3, 4], 2, 2), &x);
        assert_eq!((y, at), (vec![5.0, 2.0], vec![1, 3]));
        // The general path (3x3 windows) agrees on the same rules.
        let (y, at) = forward(&plane([3, 4], 3, 1), &x);
        assert_eq!((y, at), (vec![9.0, 9.0], vec![8, 9]));
        let nan = [f32::NAN; 4];
        assert_eq!(forward(&plane([2, 2], 2, 2), &nan), (vec![f32::NEG_INFINITY], vec![NO_INPUT]));
    }
}
