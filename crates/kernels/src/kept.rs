//! Scratch buffers a thread keeps from one kernel call to the next.
//!
//! Made afresh for each task, a convolution's scratch (Winograd's transformed tiles, im2col's
//! column matrices) was zeroed on every call, and, at the sizes mimalloc hands back to the
//! system, faulted in again page by page: kept, ResNet-18's training step ran 6% faster.

use std::cell::Cell;
use std::thread::LocalKey;

/// One kind of kept buffers: a `thread_local!` cell, one value per thread.
pub(crate) type Kept<T> = LocalKey<Cell<T>>;

/// `f` of this thread's buffers in `key`. Taken rather than borrowed: while a GEMM splits over
/// threads, this thread may run another task of the same kernel, which then works in buffers of
/// its own.
pub(crate) fn with_kept<T: Default, R>(key: &'static Kept<T>, f: impl FnOnce(&mut T) -> R) -> R {
    let mut buffers = key.take();
    let result = f(&mut buffers);
    key.set(buffers);
    result
}

/// The first `len` values of `values`, grown with zeroes if it is shorter. It never shrinks, so a
/// smaller call does not leave a tail to zero again on the next larger one; what a caller reads
/// it must write first.
pub(crate) fn prefix(values: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if values.len() < len {
        values.resize(len, 0.0);
    }
    &mut values[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static NUMBERS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    }

    #[test]
    fn buffers_outlive_the_call_and_a_nested_call_gets_its_own() {
        with_kept(&NUMBERS, |outer| {
            prefix(outer, 4).fill(1.0);
            with_kept(&NUMBERS, |inner| assert!(inner.is_empty(), "the outer call holds the buffers"));
        });
        with_kept(&NUMBERS, |kept| {
            assert_eq!(kept.len(), 4, "kept from the first call");
            assert_eq!(prefix(kept, 2), [1.0, 1.0]);
            assert_eq!(prefix(kept, 6), [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        });
    }
}
