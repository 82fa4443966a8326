//! Batch normalisation in training (Ioffe & Szegedy 2015, "Batch normalization: accelerating
//! deep network training by reducing internal covariate shift") and group normalisation (Wu & He
//! 2018, "Group normalization"), forward and backward, plus the per-channel affine map of batch
//! normalisation in inference, the biases added per channel or per sample, and a bias's gradient.
//!
//! burn's generic versions (which flex keeps) compose about a dozen tensor operations, two of them
//! transposing copies of the whole activation. Here each set of values that shares statistics
//! (a channel across the batch, or a group of one sample's channels) is summed while it is in
//! cache, and the normalisation and the input gradient are one pass each; a group norm's sets
//! are adjacent, so each is summed and then normalised (or its gradient written) in one task
//! while it is in cache. The activation that follows (the UNet's SiLU, ResNet's ReLU) can run in
//! the same pass: the activated values are written without the normalised ones, which the
//! backward pass recomputes. Sums go through sixteen `f32` lanes per run (so they vectorise) and
//! are added up in `f64`, in a fixed order.

mod backward;

pub use backward::backward;

use crate::output::{from_pieces, written_in_pieces};
use crate::pointwise::{Pointwise, with_activation};
use rayon::prelude::*;

/// Which values of a `[batch, channels, ...]` tensor share a mean and variance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistics {
    /// Batch normalisation: each channel over the whole batch.
    PerChannel,
    /// Group normalisation: each sample's channels in this many equal groups.
    PerGroup(usize),
}

/// A `[batch, channels, ...]` tensor as `batch · channels` runs of `inner` values (run
/// `n · channels + c` holds channel `c` of sample `n`) and the sets of runs that share statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Norm {
    /// Samples.
    pub batch: usize,
    /// Channels, each with its own scale and shift.
    pub channels: usize,
    /// Values per sample and channel: the product of the dimensions after the channels.
    pub inner: usize,
    /// Which runs share statistics.
    pub over: Statistics,
}

impl Norm {
    fn len(&self) -> usize {
        self.batch * self.channels * self.inner
    }

    /// Channels per group (one for batch normalisation, whose sets are single channels).
    fn group_width(&self) -> usize {
        match self.over {
            Statistics::PerChannel => 1,
            Statistics::PerGroup(groups) => self.channels / groups,
        }
    }

    /// Number of statistics: one per channel, or one per sample and group.
    pub fn sets(&self) -> usize {
        match self.over {
            Statistics::PerChannel => self.channels,
            Statistics::PerGroup(groups) => self.batch * groups,
        }
    }

    /// Values in each set.
    fn per_set(&self) -> usize {
        self.len() / self.sets()
    }

    /// The set run `r` belongs to.
    fn set_of(&self, r: usize) -> usize {
        match self.over {
            Statistics::PerChannel => r % self.channels,
            Statistics::PerGroup(_) => r / self.group_width(),
        }
    }

    /// The runs of set `s`, in memory order: one channel's runs `channels` apart, or a group's
    /// adjacent runs.
    fn runs_of(&self, s: usize) -> impl Iterator<Item = usize> {
        let (first, step, count) = match self.over {
            Statistics::PerChannel => (s, self.channels, self.batch),
            Statistics::PerGroup(_) => (s * self.group_width(), 1, self.group_width()),
        };
        (0..count).map(move |k| first + k * step)
    }

    fn run<'a>(&self, values: &'a [f32], r: usize) -> &'a [f32] {
        &values[r * self.inner..][..self.inner]
    }

    fn check(&self, x: &[f32], gamma: &[f32]) {
        assert_eq!(x.len(), self.len(), "input does not match {self:?}");
        assert_eq!(gamma.len(), self.channels, "one scale per channel");
        if let Statistics::PerGroup(groups) = self.over {
            assert!(
                groups > 0 && self.channels.is_multiple_of(groups),
                "{groups} groups do not divide {} channels",
                self.channels
            );
        }
    }
}

/// Below this many values the threads cost more than they save.
const PARALLEL_FROM: usize = 1 << 15;

/// `f` of every set, on every thread for a large tensor.
fn per_set<T: Send>(norm: &Norm, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    parallel_if_large(norm, norm.sets(), f)
}

/// `f(i)` for `i` in `0..count`, on every thread when `norm`'s tensor is large.
fn parallel_if_large<T: Send>(norm: &Norm, count: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    if norm.len() >= PARALLEL_FROM { (0..count).into_par_iter().map(f).collect() } else { (0..count).map(f).collect() }
}

/// Every run `r`'s values from `f(r)`, on every thread for a large tensor.
fn by_run<I: Iterator<Item = f32>>(norm: &Norm, f: impl Fn(usize) -> I + Sync + Send) -> Vec<f32> {
    if norm.len() >= PARALLEL_FROM {
        return from_pieces(norm.len(), norm.inner, f);
    }
    (0..norm.len().checked_div(norm.inner).unwrap_or(0)).flat_map(f).collect()
}

const LANES: usize = 16;

/// `Σ f(a[i], b[i])`, accumulated lane-wise in `f32` and added up in `f64`. Run through
/// [`crate::vectorized`]: compiled for SSE2's four lanes, the `resnet-bn-fwd-bwd` row took
/// 1.85–1.95 ms, now 1.28–1.46 ms. The lanes are fixed, so the sum is the same either way.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    crate::vectorized(
        #[inline(always)]
        || {
            let mut lanes = [0.0f32; LANES];
            let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            let tail: f64 =
                a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(&x, &y)| f64::from(f(x, y))).sum();
            for (a, b) in a_chunks.zip(b_chunks) {
                for i in 0..LANES {
                    lanes[i] += f(a[i], b[i]);
                }
            }
            tail + lanes.iter().map(|&v| f64::from(v)).sum::<f64>()
        },
    )
}

/// What the forward pass gives: the output, and per set the mean and biased variance.
pub struct Forward {
    /// Normalised, scaled and shifted activations (then activated), in the input's layout.
    pub output: Vec<f32>,
    /// Mean of each set ([`Norm::sets`]).
    pub mean: Vec<f32>,
    /// Biased variance of each set (divided by the number of values, as the normalisation uses).
    pub variance: Vec<f32>,
}

/// `y = f((x - mean) / sqrt(variance + epsilon) · gamma + beta)` with each set's statistics, each
/// channel's `gamma` and `beta`, and `f` the activation `then` (none: the identity). The
/// variance is taken about the mean (two passes), which stays exact when the mean is large next
/// to the spread. Applying the activation here saves writing the normalised values and reading
/// them back; the backward pass recomputes them from `x`.
pub fn forward(norm: &Norm, x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64, then: Option<Pointwise>) -> Forward {
    norm.check(x, gamma);
    assert_eq!(beta.len(), norm.channels, "one shift per channel");
    with_activation!(then, |f| forward_with(norm, x, gamma, beta, epsilon, f))
}

fn forward_with(
    norm: &Norm,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    f: impl Fn(f32) -> (f32, f32) + Copy + Sync + Send,
) -> Forward {
    let count = norm.per_set() as f64;
    let statistics = |s: usize| {
        let mean = norm.runs_of(s).map(|r| lane_sum(norm.run(x, r), norm.run(x, r), |v, _| v)).sum::<f64>() / count;
        let m = mean as f32;
        let spread = norm.runs_of(s).map(|r| lane_sum(norm.run(x, r), norm.run(x, r), |v, _| (v - m) * (v - m)));
        (mean, spread.sum::<f64>() / count)
    };
    // Run r's values, normalised with its set's statistics and activated.
    let activated = |r: usize, (mean, variance): (f64, f64)| {
        let c = r % norm.channels;
        let (m, scale, shift) =
            (mean as f32, (1.0 / (variance + epsilon).sqrt() * f64::from(gamma[c])) as f32, beta[c]);
        norm.run(x, r).iter().map(move |&v| f((v - m) * scale + shift).0)
    };
    let (output, stats) = match norm.over {
        // A group's runs are adjacent: each set is one piece, normalised while it is in cache.
        Statistics::PerGroup(_) if norm.len() >= PARALLEL_FROM => {
            written_in_pieces(norm.len(), norm.per_set(), |s, out| {
                let stats = statistics(s);
                for r in norm.runs_of(s) {
                    out.extend(norm.inner, activated(r, stats));
                }
                stats
            })
        }
        _ => {
            let stats = per_set(norm, statistics);
            (by_run(norm, |r| activated(r, stats[norm.set_of(r)])), stats)
        }
    };
    let (mean, variance) = stats.iter().map(|&(m, v)| (m as f32, v as f32)).unzip();
    Forward { output, mean, variance }
}

/// `y = (x - mean) · scale + shift`, one `(mean, scale, shift)` per channel: batch normalisation
/// in inference, with the running statistics folded into `scale` and `shift`.
pub fn normalize(norm: &Norm, x: &[f32], affine: &[(f32, f32, f32)]) -> Vec<f32> {
    assert_eq!(x.len(), norm.len(), "input does not match {norm:?}");
    assert_eq!(affine.len(), norm.channels, "one mean, scale and shift per channel");
    normalize_runs(norm, x, |r| affine[r % norm.channels])
}

/// `(x - mean) · scale + shift` with `affine(r)` giving run `r`'s three; centring first keeps
/// the digits a large mean would cancel.
fn normalize_runs(norm: &Norm, x: &[f32], affine: impl Fn(usize) -> (f32, f32, f32) + Sync + Send) -> Vec<f32> {
    by_run(norm, |r| {
        let (mean, scale, shift) = affine(r);
        norm.run(x, r).iter().map(move |&v| (v - mean) * scale + shift)
    })
}

/// `x + bias`, with one bias per channel (`channels` values) or per run (`batch · channels`):
/// a per-sample bias such as the UNet's time embedding, or a per-channel one. burn-flex adds
/// it, and sums it back for its gradient, on the calling thread alone.
pub fn add_bias(norm: &Norm, x: &[f32], bias: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), norm.len(), "input does not match {norm:?}");
    check_bias(norm, bias.len());
    // Run r = n·channels + c takes bias c, or bias r: r modulo the number of biases either way.
    by_run(norm, |r| {
        let b = bias[r % bias.len()];
        norm.run(x, r).iter().map(move |&v| v + b)
    })
}

/// The gradient of [`add_bias`]'s `biases` biases: `Σ dy` over the values each one was added to.
pub fn bias_gradient(norm: &Norm, dy: &[f32], biases: usize) -> Vec<f32> {
    assert_eq!(dy.len(), norm.len(), "gradient does not match {norm:?}");
    check_bias(norm, biases);
    let runs =
        parallel_if_large(norm, norm.batch * norm.channels, |r| lane_sum(norm.run(dy, r), norm.run(dy, r), |g, _| g));
    let mut sums = vec![0.0f64; biases];
    for (r, sum) in runs.into_iter().enumerate() {
        sums[r % biases] += sum;
    }
    sums.into_iter().map(|v| v as f32).collect()
}

fn check_bias(norm: &Norm, biases: usize) {
    assert!(
        biases > 0 && (biases == norm.channels || biases == norm.batch * norm.channels),
        "{biases} biases for {} samples of {} channels",
        norm.batch,
        norm.channels
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formulas, one value at a time in `f64` (the activation in `f32`): output,
    /// dx, dgamma, dbeta, variance.
    fn naive(
        norm: &Norm,
        x: &[f32],
        dy: &[f32],
        gamma: &[f32],
        beta: &[f32],
        then: Option<Pointwise>,
    ) -> [Vec<f64>; 5] {
        let (eps, m) = (1e-5, norm.per_set() as f64);
        let activation = |u: f64| -> (f64, f64) {
            let (y, d) = then.map_or((u as f32, 1.0), |f| f.value_and_derivative(u as f32));
            (f64::from(y), f64::from(d))
        };
        let mut out =
            [vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; norm.channels], vec![0.0; norm.channels], vec![]];
        for s in 0..norm.sets() {
            let all: Vec<usize> = norm.runs_of(s).flat_map(|r| r * norm.inner..(r + 1) * norm.inner).collect();
            let channel = |j: usize| (j / norm.inner) % norm.channels;
            let mean = all.iter().map(|&j| f64::from(x[j])).sum::<f64>() / m;
            let var = all.iter().map(|&j| (f64::from(x[j]) - mean).powi(2)).sum::<f64>() / m;
            let sd = 1.0 / (var + eps).sqrt();
            let xhat = |j: usize| (f64::from(x[j]) - mean) * sd;
            let u = |j: usize| xhat(j) * f64::from(gamma[channel(j)]) + f64::from(beta[channel(j)]);
            let dz = |j: usize| f64::from(dy[j]) * activation(u(j)).1;
            let g = |j: usize| f64::from(gamma[channel(j)]) * dz(j);
            let mean_g = all.iter().map(|&j| g(j)).sum::<f64>() / m;
            let mean_g_xhat = all.iter().map(|&j| g(j) * xhat(j)).sum::<f64>() / m;
            for &j in &all {
                out[0][j] = activation(u(j)).0;
                out[1][j] = sd * (g(j) - mean_g - xhat(j) * mean_g_xhat);
                out[2][channel(j)] += dz(j) * xhat(j);
                out[3][channel(j)] += dz(j);
            }
            out[4].push(var);
        }
        out
    }

    fn close(got: &[f32], want: &[f64], tolerance: f64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(*g) - w).abs() <= tolerance * (1.0 + w.abs()), "value {i}: {g} vs {w}");
        }
    }

    fn check(batch: usize, channels: usize, inner: usize, over: Statistics, offset: f32) {
        for then in [None, Some(Pointwise::Silu), Some(Pointwise::Relu)] {
            check_with(batch, channels, inner, over, offset, then);
        }
    }

    fn check_with(batch: usize, channels: usize, inner: usize, over: Statistics, offset: f32, then: Option<Pointwise>) {
        let norm = Norm { batch, channels, inner, over };
        let len = norm.len();
        // A large common offset is where a one-pass E[x²] - E[x]² variance would lose its digits.
        let x: Vec<f32> = (0..len).map(|i| offset + (i as f32 * 0.731).sin() * 2.0).collect();
        let dy: Vec<f32> = (0..len).map(|i| (i as f32 * 0.377).cos()).collect();
        let gamma: Vec<f32> = (0..channels).map(|c| 0.5 + c as f32 * 0.25).collect();
        let beta: Vec<f32> = (0..channels).map(|c| c as f32 - 1.0).collect();
        let [y, dx, dgamma, dbeta, var] = naive(&norm, &x, &dy, &gamma, &beta, then);
        let f = forward(&norm, &x, &gamma, &beta, 1e-5, then);
        close(&f.output, &y, 1e-4);
        close(&f.variance, &var, 1e-4);
        let (got_dx, got_dgamma, got_dbeta) = backward(&norm, &x, &dy, &gamma, &beta, &f.mean, &f.variance, 1e-5, then);
        close(&got_dx, &dx, 1e-3);
        close(&got_dgamma, &dgamma, 1e-3);
        close(&got_dbeta, &dbeta, 1e-4);
    }

    #[test]
    fn batch_norm_matches_the_textbook_formulas() {
        // Serial (small) and parallel (large) paths; runs shorter than, equal to and longer than
        // the lanes; a rank-2 input (one value per run); a large mean.
        check(3, 4, 5, Statistics::PerChannel, 0.0);
        check(2, 3, 16, Statistics::PerChannel, 0.0);
        check(8, 16, 300, Statistics::PerChannel, 0.0);
        check(37, 6, 1, Statistics::PerChannel, 0.0);
        check(4, 2, 64, Statistics::PerChannel, 100.0);
    }

    #[test]
    fn group_norm_matches_the_textbook_formulas() {
        check(3, 6, 5, Statistics::PerGroup(3), 0.0);
        check(2, 4, 7, Statistics::PerGroup(1), 0.0);
        check(2, 4, 7, Statistics::PerGroup(4), 0.0);
        check(8, 16, 300, Statistics::PerGroup(8), 0.0);
        check(2, 4, 64, Statistics::PerGroup(2), 100.0);
    }

    #[test]
    fn bias_is_added_and_summed_per_channel_or_per_run() {
        // Serial (small) and parallel (large) paths, a bias per channel and per run; a group
        // norm's `Norm` takes biases the same way.
        let cases = [
            (3, 4, 5, Statistics::PerChannel, false),
            (16, 8, 400, Statistics::PerChannel, false),
            (3, 4, 5, Statistics::PerChannel, true),
            (16, 8, 400, Statistics::PerChannel, true),
            (2, 6, 3, Statistics::PerGroup(3), false),
        ];
        for (batch, channels, inner, over, per_run) in cases {
            let norm = Norm { batch, channels, inner, over };
            let x: Vec<f32> = (0..norm.len()).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
            let biases = if per_run { batch * channels } else { channels };
            let bias: Vec<f32> = (0..biases).map(|c| c as f32 * 0.5 - 1.0).collect();
            let which = |i: usize| if per_run { i / inner } else { (i / inner) % channels };
            let want: Vec<f32> = x.iter().enumerate().map(|(i, &v)| v + bias[which(i)]).collect();
            assert_eq!(add_bias(&norm, &x, &bias), want, "{norm:?}");
            let mut sums = vec![0.0f64; biases];
            for (i, &v) in x.iter().enumerate() {
                sums[which(i)] += f64::from(v);
            }
            let got = bias_gradient(&norm, &x, biases);
            assert!(got.iter().zip(&sums).all(|(&g, &w)| (f64::from(g) - w).abs() < 1e-6), "{norm:?}: {got:?}");
        }
    }

    #[test]
    #[should_panic(expected = "3 biases for 2 samples of 4 channels")]
    fn biases_must_be_per_channel_or_per_run() {
        let norm = Norm { batch: 2, channels: 4, inner: 1, over: Statistics::PerChannel };
        add_bias(&norm, &[0.0; 8], &[0.0; 3]);
    }

    #[test]
    #[should_panic(expected = "do not divide")]
    fn groups_must_divide_the_channels() {
        let norm = Norm { batch: 1, channels: 6, inner: 2, over: Statistics::PerGroup(4) };
        forward(&norm, &[0.0; 12], &[1.0; 6], &[0.0; 6], 1e-5, None);
    }
}
