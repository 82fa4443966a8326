//! Output buffers written on the threads that compute them.
//!
//! `vec![0.0; n]` before a parallel loop zeroes the whole buffer on the calling thread while the
//! other threads wait: the allocator reuses freed memory, so the zeroes are a `memset` of every
//! output value, cold in cache. In ResNet-20's training step on two threads that serial `memset`
//! took 6% of the wall time. Element-wise kernels here write each value once, straight into the
//! allocation ([`from_pieces`], [`pairs_from_pieces`]): zeroing each piece first, even on its own
//! thread, took a quarter to a third of an element-wise pass's time (`perf` of a ReLU of a
//! [128, 16, 32, 32] activation put 25–34% in `memset`). Outputs that a GEMM writes ([`in_pieces`]) are
//! zeroed piece by piece by the thread about to write them, side by side with the other threads.

use crate::vectorized;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `len` values built in pieces of `piece` values (the last one shorter if `piece` does not
/// divide `len`): piece `i` is zeroed and handed to `write(state, i, values)` on whichever thread
/// takes it, `state` coming from `init` as in rayon's `for_each_init`.
pub(crate) fn in_pieces<S>(
    len: usize,
    piece: usize,
    init: impl Fn() -> S + Sync + Send,
    write: impl Fn(&mut S, usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    values.spare_capacity_mut()[..len].par_chunks_mut(piece.max(1)).enumerate().for_each_init(
        init,
        |state, (i, piece)| {
            for v in piece.iter_mut() {
                v.write(0.0);
            }
            // SAFETY: every value of the piece was just written, and `MaybeUninit<f32>` has
            // `f32`'s layout.
            #[allow(unsafe_code)]
            let piece = unsafe { &mut *(piece as *mut [MaybeUninit<f32>] as *mut [f32]) };
            write(state, i, piece);
        },
    );
    filled(values, len)
}

/// `len` values built in pieces of `piece` values: piece `i` holds what `values(i)` yields, which
/// must be exactly the piece's length (it panics otherwise), written on whichever thread takes it.
pub(crate) fn from_pieces<I: Iterator<Item = f32>>(
    len: usize,
    piece: usize,
    values: impl Fn(usize) -> I + Sync + Send,
) -> Vec<f32> {
    written_in_pieces(len, piece, |i, out| out.extend(out.remaining(), values(i))).0
}

/// The unwritten rest of one piece of an output, filled front to back by [`Cursor::extend`].
pub(crate) struct Cursor<'a> {
    slots: &'a mut [MaybeUninit<f32>],
    written: usize,
}

impl Cursor<'_> {
    /// Values of the piece not written yet.
    pub(crate) fn remaining(&self) -> usize {
        self.slots.len() - self.written
    }

    /// Writes the next `count` values from `values`, which must yield at least that many (it
    /// panics otherwise, and when fewer than `count` slots remain).
    #[inline(always)]
    pub(crate) fn extend(&mut self, count: usize, values: impl Iterator<Item = f32>) {
        let slots = self.slots[self.written..][..count].iter_mut();
        write_all(
            slots.zip(values).map(|(slot, v)| {
                slot.write(v);
            }),
            count,
        );
        self.written += count;
    }
}

/// `len` values built in pieces of `piece` values: `write(i, cursor)` must fill piece `i`
/// through the cursor (it panics otherwise), on whichever thread takes it. Each piece's return
/// value comes back in piece order, for what a piece computes on the side (a set's statistics).
pub(crate) fn written_in_pieces<T: Send>(
    len: usize,
    piece: usize,
    write: impl Fn(usize, &mut Cursor) -> T + Sync + Send,
) -> (Vec<f32>, Vec<T>) {
    let mut out = Vec::with_capacity(len);
    let results = out.spare_capacity_mut()[..len]
        .par_chunks_mut(piece.max(1))
        .enumerate()
        .map(|(i, slots)| {
            let mut cursor = Cursor { slots, written: 0 };
            let result = write(i, &mut cursor);
            assert_eq!(cursor.remaining(), 0, "piece {i} left {} values unwritten", cursor.remaining());
            result
        })
        .collect();
    (filled(out, len), results)
}

/// Two outputs of `len` values built side by side as [`from_pieces`] builds one, from pairs.
pub(crate) fn pairs_from_pieces<I: Iterator<Item = (f32, f32)>>(
    len: usize,
    piece: usize,
    values: impl Fn(usize) -> I + Sync + Send,
) -> (Vec<f32>, Vec<f32>) {
    let (mut a, mut b) = (Vec::with_capacity(len), Vec::with_capacity(len));
    let piece = piece.max(1);
    let pieces =
        a.spare_capacity_mut()[..len].par_chunks_mut(piece).zip(b.spare_capacity_mut()[..len].par_chunks_mut(piece));
    pieces.enumerate().for_each(|(i, (a, b))| {
        let len = a.len();
        let slots = a.iter_mut().zip(b.iter_mut());
        write_all(
            slots.zip(values(i)).map(|((a, b), (u, v))| {
                a.write(u);
                b.write(v);
            }),
            len,
        );
    });
    (filled(a, len), filled(b, len))
}

/// Runs `writes` (one per value of a piece of `len`) with AVX2 where present, and panics unless
/// there were `len` of them.
#[inline(always)]
fn write_all(writes: impl Iterator<Item = ()>, len: usize) {
    let written = vectorized(
        #[inline(always)]
        || writes.count(),
    );
    assert_eq!(written, len, "a piece of {len} values got {written}");
}

/// `values` with its first `len` values, which the caller initialised through
/// `spare_capacity_mut`, made its length.
fn filled(mut values: Vec<f32>, len: usize) -> Vec<f32> {
    assert!(values.capacity() >= len, "{len} values in a capacity of {}", values.capacity());
    // SAFETY: callers pass a vector whose first `len` spare values they initialised, all of them:
    // every piece was written (`write_all` panics on a short one, `written_in_pieces` on a piece
    // whose cursor did not reach its end), and rayon's `for_each` and `collect` return only after
    // every piece, unwinding past this call if one panicked.
    #[allow(unsafe_code)]
    unsafe {
        values.set_len(len);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_is_zeroed_then_written_once() {
        // Pieces that do not divide the length, and a state per task.
        let values = in_pieces(
            1003,
            10,
            || 0usize,
            |calls, i, piece| {
                *calls += 1;
                assert!(piece.iter().all(|&v| v == 0.0), "piece {i} not zeroed");
                assert_eq!(piece.len(), if i == 100 { 3 } else { 10 });
                for (k, v) in piece.iter_mut().enumerate() {
                    *v = (i * 10 + k) as f32;
                }
            },
        );
        assert_eq!(values, (0..1003).map(|v| v as f32).collect::<Vec<_>>());
        assert!(in_pieces(0, 4, || (), |_, _, _| panic!("no pieces")).is_empty());
    }

    #[test]
    fn pieces_are_written_from_their_values() {
        let want: Vec<f32> = (0..1003).map(|v| v as f32).collect();
        assert_eq!(from_pieces(1003, 10, |i| want[i * 10..].iter().take(10).copied()), want);
        let (a, b) = pairs_from_pieces(1003, 10, |i| want[i * 10..].iter().take(10).map(|&v| (v, -v)));
        assert_eq!((a, b), (want.clone(), want.iter().map(|v| -v).collect()));
    }

    #[test]
    fn cursors_fill_pieces_in_parts_and_return_a_value_each() {
        let (values, sums) = written_in_pieces(25, 10, |i, out| {
            let start = i * 10;
            out.extend(3, (start..).map(|v| v as f32));
            out.extend(out.remaining(), (start + 3..).map(|v| v as f32));
            start
        });
        assert_eq!(values, (0..25).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(sums, [0, 10, 20]);
    }

    #[test]
    #[should_panic(expected = "piece 0 left 2 values unwritten")]
    fn a_piece_left_part_unwritten_panics() {
        written_in_pieces(10, 5, |_, out| out.extend(3, std::iter::repeat(1.0)));
    }

    #[test]
    #[should_panic(expected = "a piece of 10 values got 9")]
    fn a_short_piece_panics() {
        from_pieces(20, 10, |_| std::iter::repeat_n(1.0, 9));
    }
}
