//! Element-wise activations as one pass each way: ReLU (Nair & Hinton 2010, "Rectified linear
//! units improve restricted Boltzmann machines"), SiLU (Elfwing, Uchibe & Doya 2018,
//! "Sigmoid-weighted linear units for neural network function approximation in reinforcement
//! learning") and leaky ReLU (Maas, Hannun & Ng 2013, "Rectifier nonlinearities improve neural
//! network acoustic models").
//!
//! burn composes SiLU from a sigmoid and a product (and leaky ReLU from a comparison and a
//! masked select), each recorded and differentiated on its own: four to eight passes over the
//! activation where the forward pass can keep each value's derivative and the backward pass is
//! one product. burn-flex runs ReLU on the calling thread alone, once forward and twice backward
//! (a comparison, then a masked fill); here every pass is split over the threads.

use crate::output::{from_pieces, pairs_from_pieces};

/// An element-wise activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pointwise {
    /// `max(x, 0)`, with derivative 0 at 0 and NaN passed through, as burn's.
    Relu,
    /// `x · sigmoid(x)`.
    Silu,
    /// `slope · x` where negative, `x` elsewhere (derivative 1 at 0, as burn's).
    LeakyRelu(f32),
}

impl Pointwise {
    /// The activation and its derivative at `x`.
    #[inline(always)]
    pub(crate) fn value_and_derivative(self, x: f32) -> (f32, f32) {
        match self {
            Pointwise::Relu => {
                if x <= 0.0 {
                    (0.0, 0.0)
                } else {
                    (x, 1.0)
                }
            }
            Pointwise::Silu => {
                let sigmoid = 1.0 / (1.0 + exp(-x));
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

/// `e^x` to a relative 2.4e-7 (two units in the last place) for `x` in [-87, 88], clamped outside
/// (so 0 and infinity are never reached, which SiLU's sigmoid does not need): Cody and Waite's
/// range reduction and the degree-5 polynomial of Moshier's Cephes `expf` ("Methods and programs
/// for mathematical functions", 1989). It has no branch, so a loop over a slice vectorises; libm's
/// `expf` is a call per value, 3.8x PyTorch's SiLU at the UNet's shape.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Adding 1.5·2^23 rounds to an integer, which lands in the low bits of the mantissa.
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    // x - n·ln 2 in two steps, the first exact in f32.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let two_to_n = f32::from_bits(t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127) << 23);
    (p * r * r + r + 1.0) * two_to_n
}

/// Values per task: large enough that the threads cost less than they save.
const CHUNK: usize = 1 << 14;

/// `$body` with `$g` bound to a closure giving an `Option<Pointwise>`'s value and derivative at
/// a point (the identity and 1 for `None`), the body compiled once per activation: a loop that
/// matched on the activation per value called a function per value and did not vectorise.
macro_rules! with_activation {
    ($f:expr, |$g:ident| $body:expr) => {
        match $f {
            None => {
                let $g = |u: f32| (u, 1.0f32);
                $body
            }
            Some($crate::pointwise::Pointwise::Relu) => {
                let $g = |u: f32| $crate::pointwise::Pointwise::Relu.value_and_derivative(u);
                $body
            }
            Some($crate::pointwise::Pointwise::Silu) => {
                let $g = |u: f32| $crate::pointwise::Pointwise::Silu.value_and_derivative(u);
                $body
            }
            Some($crate::pointwise::Pointwise::LeakyRelu(slope)) => {
                let $g = move |u: f32| $crate::pointwise::Pointwise::LeakyRelu(slope).value_and_derivative(u);
                $body
            }
        }
    };
}
pub(crate) use with_activation;

/// `f(x)` for every value.
pub fn forward(f: Pointwise, x: &[f32]) -> Vec<f32> {
    with_activation!(Some(f), |g| values(move |x| g(x).0, x))
}

/// `f(x)` and `f'(x)` for every value: the forward pass of a value whose gradient is wanted.
pub fn forward_with_derivative(f: Pointwise, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    with_activation!(Some(f), |g| with_derivatives(g, x))
}

/// `g(x)` for every value, with a loop compiled for each activation's `g`: a loop that matched
/// on the activation per value called a function per value and did not vectorise.
fn values(g: impl Fn(f32) -> f32 + Sync + Send, x: &[f32]) -> Vec<f32> {
    from_pieces(x.len(), CHUNK, |i| chunk(x, i).iter().map(|&x| g(x)))
}

/// Both halves of `g(x)`, the value and the derivative, for every value.
fn with_derivatives(g: impl Fn(f32) -> (f32, f32) + Sync + Send, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    pairs_from_pieces(x.len(), CHUNK, |i| chunk(x, i).iter().map(|&x| g(x)))
}

/// The input gradient `dy · f'(x)`.
pub fn backward(derivative: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(derivative.len(), dy.len(), "gradient of {} values for {} inputs", dy.len(), derivative.len());
    from_pieces(dy.len(), CHUNK, |i| chunk(derivative, i).iter().zip(chunk(dy, i)).map(|(&d, &g)| d * g))
}

/// ReLU's input gradient `dy · f'(x)` from its output `y`, which is positive exactly where `x` is
/// (and NaN where `x` is): the backward pass reads the output, which the next layer keeps alive
/// anyway, in place of a stored derivative the forward pass would have to write.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(y.len(), dy.len(), "gradient of {} values for {} outputs", dy.len(), y.len());
    // ReLU's derivative at its output is its derivative at its input.
    let derivative = |y: f32| Pointwise::Relu.value_and_derivative(y).1;
    from_pieces(dy.len(), CHUNK, |i| chunk(y, i).iter().zip(chunk(dy, i)).map(move |(&y, &g)| derivative(y) * g))
}

/// Piece `i` of `values` cut in [`CHUNK`]s.
fn chunk(values: &[f32], i: usize) -> &[f32] {
    &values[i * CHUNK..values.len().min((i + 1) * CHUNK)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_f64_to_two_units_in_the_last_place() {
        for i in -86_999..=87_999 {
            let x = i as f32 * 1e-3;
            let (got, want) = (f64::from(exp(x)), f64::from(x).exp());
            assert!(((got - want) / want).abs() < 2.4e-7, "exp({x}) = {got}, not {want}");
        }
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite() && exp(f32::NAN).is_nan());
    }

    #[test]
    fn values_and_derivatives_match_their_definitions() {
        let x: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.25).collect();
        for f in [Pointwise::Relu, Pointwise::Silu, Pointwise::LeakyRelu(0.2)] {
            let exact = |x: f64| match f {
                Pointwise::Relu => x.max(0.0),
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
            // The loops' AVX2 copies give the bits of the plain function, so results do not
            // depend on the processor.
            for ((&x, &y), &d) in x.iter().zip(&y).zip(&d) {
                let (want_y, want_d) = f.value_and_derivative(x);
                assert_eq!((y.to_bits(), d.to_bits()), (want_y.to_bits(), want_d.to_bits()), "{f:?}({x})");
            }
            for ((&x, &y), &d) in x.iter().zip(&y).zip(&d) {
                let x = f64::from(x);
                assert!((f64::from(y) - exact(x)).abs() < 1e-5, "{f:?}({x}) = {y}");
                // Central differences away from the ReLUs' kink.
                if x.abs() > 0.1 {
                    let slope = (exact(x + 1e-4) - exact(x - 1e-4)) / 2e-4;
                    assert!((f64::from(d) - slope).abs() < 1e-4, "{f:?}'({x}) = {d}, not {slope}");
                }
            }
            let dy: Vec<f32> = (0..x.len()).map(|i| i as f32 - 3.0).collect();
            let dx = backward(&d, &dy);
            assert!(dx.iter().zip(&d).zip(&dy).all(|((dx, d), dy)| *dx == d * dy));
            if f == Pointwise::Relu {
                assert_eq!(relu_backward(&y, &dy), dx);
                // NaN passes through ReLU with derivative 1, from its output as from its input.
                let (nan, d) = f.value_and_derivative(f32::NAN);
                assert_eq!(relu_backward(&[nan], &[2.0]), backward(&[d], &[2.0]));
            }
        }
    }
}
