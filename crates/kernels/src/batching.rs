//! How the convolutions split a batch: one run of images per thread, and within it groups of
//! images whose columns sit side by side in one GEMM.

use rayon::prelude::*;

/// Columns each GEMM should have at least: narrower products spend more on packing and on
/// storing their results than on arithmetic, so small images are grouped (DCGAN's 7x7 maps ran
/// their GEMMs at half the speed one image at a time).
const MIN_COLUMNS: usize = 256;

/// Images in each thread's run.
pub(crate) fn per_thread(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads()).max(1)
}

/// Images per GEMM, for images that give it `columns` columns each: enough for [`MIN_COLUMNS`],
/// never more than one thread's run.
pub(crate) fn per_gemm(batch: usize, columns: usize) -> usize {
    MIN_COLUMNS.div_ceil(columns.max(1)).clamp(1, per_thread(batch))
}

/// Threads each GEMM may use when `tasks` tasks share the threads: one while the tasks keep
/// every thread busy, all of them for fewer (a single image at inference).
pub(crate) fn gemm_threads(tasks: usize) -> usize {
    if tasks >= rayon::current_num_threads() { 1 } else { 0 }
}

/// `Σ f(run)` over `runs` (one per thread), `f` adding its run's share into zeroed sums of `len`
/// values. The runs' sums are added in run order, never in the order threads finish, so that the
/// same seed gives the same weights on every run; in pieces on every thread, since one thread
/// adding up ResNet-18's last Winograd gradients (two runs of 16 MiB) took 3 of the 6.4 ms that
/// weight gradient took at batch 2.
pub(crate) fn sum_over_runs<T: Send>(runs: Vec<T>, len: usize, f: impl Fn(T, &mut [f32]) + Sync) -> Vec<f32> {
    let mut sums: Vec<Vec<f32>> = runs
        .into_par_iter()
        .map(|run| {
            let mut sums = vec![0.0; len];
            f(run, &mut sums);
            sums
        })
        .collect();
    let Some(mut total) = (!sums.is_empty()).then(|| sums.remove(0)) else { return vec![0.0; len] };
    total.par_chunks_mut(SUM_PIECE).enumerate().for_each(|(i, piece)| {
        crate::vectorized(
            #[inline(always)]
            || {
                for run in &sums {
                    piece.iter_mut().zip(&run[i * SUM_PIECE..]).for_each(|(t, s)| *t += *s);
                }
            },
        );
    });
    total
}

/// Values each task of [`sum_over_runs`]'s final sum adds up: 64 KiB.
const SUM_PIECE: usize = 1 << 14;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_is_summed_into_every_piece() {
        // Three runs over a length that is not a whole number of pieces.
        let len = 2 * SUM_PIECE + 5;
        let total = sum_over_runs(vec![1.0f32, 10.0, 100.0], len, |run, sums| {
            sums.iter_mut().enumerate().for_each(|(k, s)| *s += run * k as f32);
        });
        assert_eq!(total.len(), len);
        assert!(total.iter().enumerate().all(|(k, &t)| t == 111.0 * k as f32), "every value sums every run");
        assert_eq!(sum_over_runs(Vec::<f32>::new(), 3, |_, _| unreachable!()), [0.0; 3]);
    }
}
