//! The normalisations' backward pass: the input gradient set by set, and the scales' and
//! shifts' gradients from the same sums.

use super::{Norm, PARALLEL_FROM, Statistics, by_run, lane_sum, per_set};
use crate::output::written_in_pieces;
use crate::pointwise::{Pointwise, with_activation};

/// Gradients with respect to `x`, `gamma` and `beta` of [`super::forward`] with the same
/// activation `then`, given the gradient `dy` of its output and the statistics it returned. With
/// `x̂ = (x - mean) / σ`, `dz = dy · f'(x̂ · gamma + beta)` and `g = gamma · dz`, per set:
/// `dx = (g - mean(g) - x̂ · mean(g · x̂)) / σ`; per channel: `dgamma = Σ dz · x̂`, `dbeta = Σ dz`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    norm: &Norm,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    then: Option<Pointwise>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    norm.check(x, gamma);
    assert_eq!(beta.len(), norm.channels, "one shift per channel");
    assert_eq!(dy.len(), x.len(), "gradient does not match {norm:?}");
    assert!(mean.len() == norm.sets() && variance.len() == norm.sets(), "one mean and variance per set");
    let inv_std: Vec<f64> = variance.iter().map(|&v| 1.0 / (f64::from(v) + epsilon).sqrt()).collect();
    let set = Set { norm, x, dy, gamma, beta, mean, inv_std: &inv_std };
    let (dx, per_run) = with_activation!(then, |f| set.input_gradient(f));
    let (mut dgamma, mut dbeta) = (vec![0.0f64; norm.channels], vec![0.0f64; norm.channels]);
    for (s, runs) in per_run.iter().enumerate() {
        for (r, &(sum_dz, sum_dz_centred)) in norm.runs_of(s).zip(runs) {
            let c = r % norm.channels;
            dbeta[c] += sum_dz;
            dgamma[c] += sum_dz_centred * inv_std[s];
        }
    }
    let narrow = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    (dx, narrow(dgamma), narrow(dbeta))
}

/// What [`backward`] computes with, set by set.
struct Set<'a> {
    norm: &'a Norm,
    x: &'a [f32],
    dy: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    mean: &'a [f32],
    inv_std: &'a [f64],
}

impl Set<'_> {
    /// Run `r`'s `dz = dy · f'(u)`, `u` being the normalised value the forward pass activated,
    /// recomputed from `x`.
    #[inline(always)]
    fn dz(&self, r: usize, f: impl Fn(f32) -> (f32, f32) + Copy) -> impl Iterator<Item = f32> {
        let (s, c) = (self.norm.set_of(r), r % self.norm.channels);
        let (m, scale, shift) = (self.mean[s], (self.inv_std[s] * f64::from(self.gamma[c])) as f32, self.beta[c]);
        let (x, dy) = (self.norm.run(self.x, r), self.norm.run(self.dy, r));
        x.iter().zip(dy).map(move |(&v, &g)| g * f((v - m) * scale + shift).1)
    }

    /// Run `r`'s `dz` written into `out`, and its `Σ dz` and `Σ dz · (x - mean)`. The two sums
    /// are two loops over `out`: one loop taking both, or computing `dz` as it went, did not
    /// vectorise.
    fn run_sums(&self, r: usize, f: impl Fn(f32) -> (f32, f32) + Copy, out: &mut [f32]) -> (f64, f64) {
        crate::vectorized(
            #[inline(always)]
            || out.iter_mut().zip(self.dz(r, f)).for_each(|(slot, d)| *slot = d),
        );
        let m = self.mean[self.norm.set_of(r)];
        (lane_sum(out, out, |d, _| d), lane_sum(self.norm.run(self.x, r), out, |v, d| (v - m) * d))
    }

    /// Set `s`'s `Σ gamma · dz` and `Σ gamma · dz · (x - mean)` from its runs' [`Set::run_sums`].
    fn set_sums(&self, s: usize, runs: &[(f64, f64)]) -> (f64, f64) {
        let gammas = self.norm.runs_of(s).map(|r| f64::from(self.gamma[r % self.norm.channels]));
        gammas
            .zip(runs)
            .fold((0.0, 0.0), |(g, gc), (gamma, &(dz, dz_centred))| (g + gamma * dz, gc + gamma * dz_centred))
    }

    /// Run `r`'s input gradient, `a · dz + b · (x - mean) + k` (the formula of [`backward`]
    /// expanded), from its `dz` and its set's [`Set::set_sums`].
    fn run_gradient(
        &self,
        r: usize,
        (sum_g, sum_g_centred): (f64, f64),
        dz: impl Iterator<Item = f32>,
    ) -> impl Iterator<Item = f32> {
        let (norm, s, c) = (self.norm, self.norm.set_of(r), r % self.norm.channels);
        let (sd, count) = (self.inv_std[s], norm.per_set() as f64);
        let a = (f64::from(self.gamma[c]) * sd) as f32;
        let b = (-sd * sd * sd * sum_g_centred / count) as f32;
        let k = (-sd * sum_g / count) as f32;
        let m = self.mean[s];
        dz.zip(norm.run(self.x, r)).map(move |(d, &v)| a * d + b * (v - m) + k)
    }

    /// The input gradient, and each set's runs' sums from [`Set::run_sums`].
    fn input_gradient(&self, f: impl Fn(f32) -> (f32, f32) + Copy + Sync + Send) -> (Vec<f32>, Vec<Vec<(f64, f64)>>) {
        let norm = self.norm;
        match norm.over {
            // A group's runs are adjacent: each set is one piece, its `dz` kept and its gradient
            // written while they are in cache.
            Statistics::PerGroup(_) if norm.len() >= PARALLEL_FROM => {
                written_in_pieces(norm.len(), norm.per_set(), |s, out| {
                    let mut dz = vec![0.0; norm.per_set()];
                    let runs: Vec<_> =
                        norm.runs_of(s).zip(dz.chunks_mut(norm.inner)).map(|(r, dz)| self.run_sums(r, f, dz)).collect();
                    let set = self.set_sums(s, &runs);
                    for (r, dz) in norm.runs_of(s).zip(dz.chunks(norm.inner)) {
                        out.extend(norm.inner, self.run_gradient(r, set, dz.iter().copied()));
                    }
                    runs
                })
            }
            // A channel's runs are a batch apart: `dz` is computed twice, for the sums and for
            // the gradient.
            _ => {
                let per_run = per_set(norm, |s| {
                    let mut dz = vec![0.0; norm.inner];
                    norm.runs_of(s).map(|r| self.run_sums(r, f, &mut dz)).collect::<Vec<_>>()
                });
                let sets: Vec<_> = per_run.iter().enumerate().map(|(s, runs)| self.set_sums(s, runs)).collect();
                (by_run(norm, |r| self.run_gradient(r, sets[norm.set_of(r)], self.dz(r, f))), per_run)
            }
        }
    }
}
