//! Element-wise activations as one pass each way: SiLU (Elfwing, Uchibe & Doya 2018,
//! "Sigmoid-weighted linear units for neural network function approximation in reinforcement
//! learning") and leaky ReLU (Maas, Hannun & Ng 2013, "Rectifier nonlinearities improve neural
//! network acoustic models").
//!
//! burn composes SiLU from a sigmoid and a product (and leaky ReLU from a comparison and a
//! masked select), each recorded and differentiated on its own: four to eight passes over the
//! activation where the forward pass can keep each value's derivative and the backward pass is
//! one product.

use rayon::prelude::*;

/// An element-wise activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pointwise {
    /// `x · sigmoid(x)`.
    Silu,
    /// `slope · x` where negative, `x` elsewhere (derivative 1 at 0, as burn's).
    LeakyRelu(f32),
}

impl Pointwise {
    /// The activation and its derivative at `x`.
    fn value_and_derivative(self, x: f32) -> (f32, f32) {
        match self {
            Pointwise::Silu => {
                let sigmoid = 1.0 / (1.0 + (-x).exp());
                (x * sigmoid, sigmoid * (1.0 + x * (1.0 - sigmoid)))
            }
            Pointwise::LeakyRelu(slope) => {
                if x < 0.0 {
                    (slope * x, slope)
                } else {
                    (x, 1.0)
                }
            }
        }
    }
}

/// Values per task: large enough that the threads cost less than they save.
const CHUNK: usize = 1 << 14;

/// `f(x)` for every value.
pub fn forward(f: Pointwise, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(y, x)| {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = f.value_and_derivative(x).0;
        }
    });
    y
}

/// `f(x)` and `f'(x)` for every value: the forward pass of a value whose gradient is wanted.
pub fn forward_with_derivative(f: Pointwise, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mut y, mut derivative) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    y.par_chunks_mut(CHUNK).zip(derivative.par_chunks_mut(CHUNK)).zip(x.par_chunks(CHUNK)).for_each(|((y, d), x)| {
        for ((y, d), &x) in y.iter_mut().zip(d).zip(x) {
            (*y, *d) = f.value_and_derivative(x);
        }
    });
    (y, derivative)
}

/// The input gradient `dy · f'(x)`.
pub fn backward(derivative: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(derivative.len(), dy.len(), "gradient of {} values for {} inputs", dy.len(), derivative.len());
    let mut dx = vec![0.0; dy.len()];
    dx.par_chunks_mut(CHUNK).zip(derivative.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK))).for_each(|(dx, (d, dy))| {
        for ((dx, &d), &g) in dx.iter_mut().zip(d).zip(dy) {
            *dx = d * g;
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_derivatives_match_their_definitions() {
        let x: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.25).collect();
        for f in [Pointwise::Silu, Pointwise::LeakyRelu(0.2)] {
            let exact = |x: f64| match f {
                Pointwise::Silu => x / (1.0 + (-x).exp()),
                Pointwise::LeakyRelu(slope) => {
                    if x < 0.0 {
                        f64::from(slope) * x
                    } else {
                        x
                    }
                }
            };
            let (y, d) = forward_with_derivative(f, &x);
            assert_eq!(y, forward(f, &x));
            for ((&x, &y), &d) in x.iter().zip(&y).zip(&d) {
                let x = f64::from(x);
                assert!((f64::from(y) - exact(x)).abs() < 1e-5, "{f:?}({x}) = {y}");
                // Central differences away from leaky ReLU's kink.
                if x.abs() > 0.1 {
                    let slope = (exact(x + 1e-4) - exact(x - 1e-4)) / 2e-4;
                    assert!((f64::from(d) - slope).abs() < 1e-4, "{f:?}'({x}) = {d}, not {slope}");
                }
            }
            let dy: Vec<f32> = (0..x.len()).map(|i| i as f32 - 3.0).collect();
            let dx = backward(&d, &dy);
            assert!(dx.iter().zip(&d).zip(&dy).all(|((dx, d), dy)| *dx == d * dy));
        }
    }
}
