//! The exponential moving average of a network's weights (Polyak averaging), which DDPM samples
//! with: the average is smoother than the last iterate and gives visibly cleaner samples.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Every float parameter, flattened, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().flatten(0, D - 1));
    }
}

/// Blends each parameter with the next collected one: ema·decay + current·(1 - decay).
struct Blend {
    current: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self.current.next().expect("the average has the network's structure");
        let decay = self.decay;
        param.map(|ema| {
            let shape = ema.shape();
            ema.mul_scalar(decay) + current.reshape(shape).mul_scalar(1.0 - decay)
        })
    }
}

/// The decay at optimisation step `step` (0-based): `decay`, but lower early on, so the average
/// forgets the random initialisation within the first few hundred steps.
pub fn decay_at(decay: f64, step: usize) -> f64 {
    decay.min((1.0 + step as f64) / (10.0 + step as f64))
}

/// Move `average` towards `current` (same architecture, both on the same device).
pub fn update<M: Module>(average: M, current: &M, decay: f64) -> M {
    let mut collect = Collect(Vec::new());
    current.visit(&mut collect);
    average.map(&mut Blend { current: collect.0.into_iter(), decay })
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    use super::*;

    fn weights(m: &Linear) -> Vec<f32> {
        let mut v: Vec<f32> = m.weight.val().into_data().iter::<f32>().collect();
        v.extend(m.bias.as_ref().unwrap().val().into_data().iter::<f32>());
        v
    }

    #[test]
    fn average_moves_by_one_minus_decay() {
        let d = Device::flex();
        let a = LinearConfig::new(3, 2).init(&d);
        let b = LinearConfig::new(3, 2).init(&d);
        let (wa, wb) = (weights(&a), weights(&b));
        let mixed = weights(&update(a, &b, 0.75));
        for ((m, x), y) in mixed.iter().zip(&wa).zip(&wb) {
            assert!((m - (0.75 * x + 0.25 * y)).abs() < 1e-6);
        }
    }

    #[test]
    fn decay_warms_up() {
        assert_eq!(decay_at(0.999, 0), 0.1);
        assert!((decay_at(0.999, 90) - 0.91).abs() < 1e-12);
        assert_eq!(decay_at(0.999, 1_000_000), 0.999);
    }
}
