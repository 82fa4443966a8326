use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::{NoiseSchedule, Objective, UNet};

/// How to run the reverse process from pure noise to images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sampler {
    /// Ho et al.'s ancestral sampling: every one of the T steps, drawing from the posterior
    /// q(x_{t-1} | x_t, x0_hat) (variance beta_tilde).
    Ddpm,
    /// Song et al. 2021: `steps` evenly spaced steps (trailing spacing, so the first is the
    /// noisiest), deterministic for `eta` = 0; `eta` = 1 with all T steps is DDPM.
    Ddim {
        /// Number of network evaluations.
        steps: usize,
        /// Share of the posterior noise kept (0: deterministic).
        eta: f64,
    },
}

impl Sampler {
    /// The time steps visited, noisiest first.
    pub fn timesteps(&self, total: usize) -> Vec<usize> {
        match *self {
            Sampler::Ddpm => (0..total).rev().collect(),
            Sampler::Ddim { steps, .. } => {
                let steps = steps.clamp(1, total);
                (0..steps).rev().map(|i| (i + 1) * total / steps - 1).collect()
            }
        }
    }
}

/// Generate images from the noise `x` by the reverse process.
///
/// `noise` draws fresh standard normal noise shaped like `x` (for the stochastic steps), so the
/// caller decides where randomness comes from; `on_step(done, total)` reports progress. The x0
/// estimate is clipped to the data range [-1, 1] at every step, as in Ho et al.'s code.
///
/// # Shapes
/// - `x`, output: `[batch, channels, height, width]`
pub fn sample(
    unet: &UNet,
    schedule: &NoiseSchedule,
    objective: Objective,
    sampler: Sampler,
    mut x: Tensor<4>,
    mut noise: impl FnMut() -> Tensor<4>,
    mut on_step: impl FnMut(usize, usize),
) -> Tensor<4> {
    let steps = sampler.timesteps(schedule.len());
    let [batch, _, _, _] = x.dims();
    for (i, &t) in steps.iter().enumerate() {
        let time = Tensor::<1>::full([batch], t as f32, &x.device());
        let output = unet.forward(x.clone(), time);
        let (x0, _) = schedule.estimates(objective, output, x.clone(), t);
        let x0 = x0.clamp(-1.0, 1.0);
        let alpha_bar = schedule.alpha_bars[t];
        // The step goes to the next visited time step, or to the clean image (alpha_bar 1).
        let alpha_bar_next = steps.get(i + 1).map_or(1.0, |&s| schedule.alpha_bars[s]);
        let eta = match sampler {
            Sampler::Ddpm => 1.0,
            Sampler::Ddim { eta, .. } => eta,
        };
        // Song et al.'s eq. 16: sigma² = eta² · (1 - ab_next)/(1 - ab) · (1 - ab/ab_next), which for
        // eta = 1 and consecutive steps is the posterior variance beta_tilde of DDPM.
        let variance = eta * eta * (1.0 - alpha_bar_next) / (1.0 - alpha_bar) * (1.0 - alpha_bar / alpha_bar_next);
        let eps = (x.clone() - x0.clone().mul_scalar(alpha_bar.sqrt())).div_scalar((1.0 - alpha_bar).sqrt());
        x = x0.mul_scalar(alpha_bar_next.sqrt()) + eps.mul_scalar((1.0 - alpha_bar_next - variance).max(0.0).sqrt());
        if variance > 0.0 {
            x = x + noise().mul_scalar(variance.sqrt());
        }
        on_step(i + 1, steps.len());
    }
    x
}
