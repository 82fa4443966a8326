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

/// The maxima of every window and, per output, the offset of its maximum in its input plane:
/// the first in row-major order on ties, NaN skipped, and [`NO_INPUT`] where the window holds
/// no number (only padding or NaN; its maximum is then -inf). `g` describes one plane
/// (`in_channels` and `out_channels` 1) and its `batch` is the number of planes, batch times
/// channels.
pub fn forward(g: &Geometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let [h, w] = g.input;
    let [ho, wo] = g.output();
    assert_eq!(x.len(), g.batch * h * w, "input does not match {g:?}");
    let mut y = vec![0.0; g.batch * ho * wo];
    let mut at = vec![NO_INPUT; y.len()];
    let pairs = g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [(0, 0), (0, 0)] && g.dilation == [1, 1];
    let planes = y.par_chunks_mut(ho * wo).zip(at.par_chunks_mut(ho * wo)).zip(x.par_chunks(h * w));
    planes.for_each_init(Columns::default, |columns, ((y, at), plane)| {
        if pairs {
            crate::vectorized(
                #[inline(always)]
                || pairs_of_rows(plane, w, y, at, wo),
            )
        } else {
            columns.pool(g, plane, y, at);
        }
    });
    (y, at)
}

/// Scratch of the general path, for one output row: per input column, its maximum over the
/// window's rows and the offset of the first (topmost) pixel holding it.
#[derive(Default)]
struct Columns {
    best: Vec<f32>,
    first: Vec<u32>,
}

impl Columns {
    /// Windows of any shape over one plane, a row of outputs at a time: first every input
    /// column's maximum over the window's rows, then each window's maximum over its columns,
    /// each pass one loop over a whole row per kernel tap, without branches on the data. A loop
    /// over each window's offsets made AlexNet's 3x3 pooling 7% of its one-thread training step
    /// (`perf`); this took the `alexnet-pool-fwd-bwd` row from 18.5 to 13.2 ms (PyTorch: 44 ms).
    #[inline(always)]
    fn pool(&mut self, g: &Geometry, plane: &[f32], y: &mut [f32], at: &mut [u32]) {
        let Columns { best, first } = self;
        let ([ho, wo], [w, kw]) = (g.output(), [g.input[1], g.kernel[1]]);
        for (oh, (y, at)) in y.chunks_exact_mut(wo).zip(at.chunks_exact_mut(wo)).enumerate() {
            // The input rows the window reads, top to bottom.
            let rows = (0..g.kernel[0]).filter(|&i| g.valid(0, i, ho).contains(&oh)).map(|i| g.input_at(0, oh, i));
            best.clear();
            best.resize(w, f32::NEG_INFINITY);
            for ih in rows.clone() {
                for (b, &v) in best.iter_mut().zip(&plane[ih * w..][..w]) {
                    *b = b.max(v);
                }
            }
            first.clear();
            first.resize(w, NO_INPUT);
            // Bottom row first, so that the topmost pixel holding the maximum is the one left.
            for ih in rows.rev() {
                let offsets = (ih * w) as u32..;
                for (((f, &b), &v), o) in first.iter_mut().zip(&*best).zip(&plane[ih * w..][..w]).zip(offsets) {
                    *f = if v == b { o } else { *f };
                }
            }
            y.fill(f32::NEG_INFINITY);
            at.fill(NO_INPUT);
            // Taps that read only padding are left out: their first input column may lie past
            // the row.
            let columns = || (0..kw).map(|j| (j, g.valid(1, j, wo))).filter(|(_, valid)| !valid.is_empty());
            for (j, valid) in columns() {
                let read = best[g.input_at(1, valid.start, j)..].iter().step_by(g.stride[1]);
                for (y, &b) in y[valid].iter_mut().zip(read) {
                    *y = y.max(b);
                }
            }
            // The smallest offset among the columns holding the window's maximum: the offset
            // is row-major, so the topmost row first, then the leftmost column.
            for (j, valid) in columns() {
                let start = g.input_at(1, valid.start, j);
                // Two strided reads zipped: a strided read of a zip steps one value at a time.
                let read = best[start..].iter().step_by(g.stride[1]).zip(first[start..].iter().step_by(g.stride[1]));
                for ((at, &y), (&b, &f)) in at[valid.clone()].iter_mut().zip(&y[valid.clone()]).zip(read) {
                    *at = (*at).min(f | u32::from(b != y).wrapping_neg());
                }
            }
        }
    }
}

/// 2x2 windows at stride 2 over a plane `w` wide, as LeNet-5 pools, a row of outputs at a time,
/// with fixed offsets and selects. A loop over each window's offsets made pooling 13% of
/// LeNet-5's one-thread training step at batch 256 (`perf`); this took the `pool-fwd-bwd` row
/// from about 200 to 80–90 µs.
#[inline(always)]
fn pairs_of_rows(plane: &[f32], w: usize, y: &mut [f32], at: &mut [u32], wo: usize) {
    let outputs = y.chunks_exact_mut(wo).zip(at.chunks_exact_mut(wo));
    for (oh, ((y, at), rows)) in outputs.zip(plane.chunks_exact(2 * w)).enumerate() {
        let (top, bottom) = rows.split_at(w);
        let windows = top[..2 * wo].chunks_exact(2).zip(bottom[..2 * wo].chunks_exact(2));
        let first = (2 * oh * w) as u32;
        for (ow, ((y, at), (t, b))) in y.iter_mut().zip(at).zip(windows).enumerate() {
            // As `forward` promises: NaN is skipped (an all-NaN window gives -inf), and ties go
            // to the first maximum in row-major order.
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
        assert_eq!(forward(&plane([2, 2], 2, 1), &nan), (vec![f32::NEG_INFINITY], vec![NO_INPUT]));
        // The general path takes each column's maximum first: a tie between an earlier column
        // of a lower row and a later column of an upper row still goes to the upper row.
        #[rustfmt::skip]
        let x = [
            0.0, 0.0, 7.0,
            7.0, 0.0, 0.0,
            0.0, 0.0, 0.0,
        ];
        assert_eq!(forward(&plane([3, 3], 3, 1), &x), (vec![7.0], vec![2]));
    }

    #[test]
    fn padding_is_no_input_and_negative_infinity_is_a_maximum() {
        // 2x2 windows at stride 2 with two pixels of padding on a 1x1 plane: the first window
        // reads only padding, the last one the plane's single -inf.
        let g = Geometry { padding: [(2, 2); 2], ..plane([1, 1], 2, 2) };
        let (y, at) = forward(&g, &[f32::NEG_INFINITY]);
        assert_eq!(y, vec![f32::NEG_INFINITY; 4]);
        assert_eq!(at, vec![NO_INPUT, NO_INPUT, NO_INPUT, 0]);
    }
}
