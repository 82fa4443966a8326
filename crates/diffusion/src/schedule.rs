use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How the noise variances beta_t grow over the T steps of the forward process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Ho et al. 2020: beta rises linearly from 1e-4 to 0.02 (for T = 1000; scaled for other T).
    Linear,
    /// Nichol & Dhariwal 2021: alpha_bar_t = cos²(((t/T) + s)/(1 + s) · π/2), s = 0.008, which
    /// destroys information more evenly over the steps than the linear schedule.
    Cosine,
}

/// What the network is trained to predict from a noisy image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// The noise epsilon that was added (Ho et al. 2020).
    Epsilon,
    /// The velocity v = sqrt(alpha_bar)·epsilon - sqrt(1 - alpha_bar)·x0 (Salimans & Ho 2022).
    V,
}

/// The forward (noising) process q(x_t | x_0) = N(sqrt(alpha_bar_t)·x_0, (1 - alpha_bar_t)·I),
/// indexed t = 0..T-1 (the paper's 1..T).
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    /// beta_t, the variance added at step t.
    pub betas: Vec<f64>,
    /// alpha_bar_t = prod_{s <= t} (1 - beta_s), the share of signal variance left at step t.
    pub alpha_bars: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule of `kind` with `steps` steps.
    pub fn new(kind: ScheduleKind, steps: usize) -> Self {
        assert!(steps >= 2, "a noise schedule needs at least 2 steps, got {steps}");
        let betas: Vec<f64> = match kind {
            ScheduleKind::Linear => {
                // The endpoints are for T = 1000; other lengths keep the total noise comparable.
                let scale = 1000.0 / steps as f64;
                let (first, last) = (scale * 1e-4, scale * 0.02);
                (0..steps).map(|i| first + (last - first) * i as f64 / (steps - 1) as f64).collect()
            }
            ScheduleKind::Cosine => {
                let s = 0.008;
                let f = |t: f64| (((t / steps as f64) + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
                // Clipped as in the paper, so the last steps do not divide by ~0.
                (0..steps).map(|i| (1.0 - f(i as f64 + 1.0) / f(i as f64)).min(0.999)).collect()
            }
        };
        let alpha_bars = betas
            .iter()
            .scan(1.0, |product, beta| {
                *product *= 1.0 - beta;
                Some(*product)
            })
            .collect();
        NoiseSchedule { betas, alpha_bars }
    }

    /// Number of steps T.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    /// Always false: a schedule has at least two steps.
    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// alpha_bar before step `t` (1 before the first step, i.e. for t = -1).
    pub fn alpha_bar_before(&self, t: usize) -> f64 {
        if t == 0 { 1.0 } else { self.alpha_bars[t - 1] }
    }
}

/// Per-example coefficients as a `[batch, 1, 1, 1]` tensor, to scale whole images.
fn per_example(values: impl Iterator<Item = f64>, like: &Tensor<4>) -> Tensor<4> {
    let values: Vec<f32> = values.map(|v| v as f32).collect();
    let n = values.len();
    Tensor::<1>::from_data(TensorData::new(values, [n]), &like.device()).reshape([n, 1, 1, 1])
}

impl NoiseSchedule {
    /// A draw from q(x_t | x_0): sqrt(alpha_bar_t)·x0 + sqrt(1 - alpha_bar_t)·noise, with its
    /// own step `t[i]` for every image.
    ///
    /// # Shapes
    /// - `x0`, `noise`, output: `[batch, channels, height, width]`; `t`: `batch` steps
    pub fn noisy(&self, x0: Tensor<4>, noise: Tensor<4>, t: &[usize]) -> Tensor<4> {
        let signal = per_example(t.iter().map(|&t| self.alpha_bars[t].sqrt()), &x0);
        let spread = per_example(t.iter().map(|&t| (1.0 - self.alpha_bars[t]).sqrt()), &x0);
        x0 * signal + noise * spread
    }

    /// What the network should output for `objective` at steps `t`, given the clean images and
    /// the noise that made the noisy ones.
    pub fn target(&self, objective: Objective, x0: Tensor<4>, noise: Tensor<4>, t: &[usize]) -> Tensor<4> {
        match objective {
            Objective::Epsilon => noise,
            Objective::V => {
                let signal = per_example(t.iter().map(|&t| self.alpha_bars[t].sqrt()), &x0);
                let spread = per_example(t.iter().map(|&t| (1.0 - self.alpha_bars[t]).sqrt()), &x0);
                noise * signal - x0 * spread
            }
        }
    }

    /// The estimates of x0 and of the noise implied by a network `output` at step `t` for the
    /// noisy images `x_t` (all images at the same step).
    pub fn estimates(
        &self,
        objective: Objective,
        output: Tensor<4>,
        x_t: Tensor<4>,
        t: usize,
    ) -> (Tensor<4>, Tensor<4>) {
        let (a, s) = (self.alpha_bars[t].sqrt(), (1.0 - self.alpha_bars[t]).sqrt());
        match objective {
            Objective::Epsilon => {
                let x0 = (x_t.clone() - output.clone().mul_scalar(s)).div_scalar(a);
                (x0, output)
            }
            // x0 = a·x_t - s·v and eps = s·x_t + a·v, since a² + s² = 1.
            Objective::V => {
                let x0 = x_t.clone().mul_scalar(a) - output.clone().mul_scalar(s);
                let eps = x_t.mul_scalar(s) + output.mul_scalar(a);
                (x0, eps)
            }
        }
    }
}
