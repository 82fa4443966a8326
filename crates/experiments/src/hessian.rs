//! Second-order measurements from first-order autodiff: burn differentiates once, so a
//! Hessian-vector product is taken as a central difference of gradients,
//! `H v ≈ (∇L(θ + εv) − ∇L(θ − εv)) / 2ε`, exact for a quadratic loss and accurate to O(ε²)
//! otherwise (Pearlmutter 1994 gives the exact product with a second backward pass).

use crate::params::{self, Params};

/// A loss and its gradient at given parameters.
pub trait Objective {
    /// Mean loss at `theta`.
    fn loss(&mut self, theta: &Params) -> f64;
    /// Mean loss and its gradient at `theta`.
    fn gradient(&mut self, theta: &Params) -> (f64, Params);
}

/// Step of the central difference along a unit direction: small against the weights (so the
/// third-order error stays small) but large enough that f32 rounding of the two gradients does
/// not dominate their difference.
pub fn finite_difference_step(theta: &Params) -> f32 {
    (1e-3 * params::norm(theta).max(1.0)) as f32
}

/// `H v` at `theta` by central differences of gradients with step `eps` along `v`.
pub fn hessian_vector_product(f: &mut impl Objective, theta: &Params, v: &Params, eps: f32) -> Params {
    let (_, plus) = f.gradient(&params::combine(theta, &[(eps, v)]));
    let (_, minus) = f.gradient(&params::combine(theta, &[(-eps, v)]));
    params::combine(&params::zeros_like(theta), &[(0.5 / eps, &plus), (-0.5 / eps, &minus)])
}

/// The eigenvalue of largest magnitude of the Hessian at `theta`, by power iteration from
/// `start`, and its estimate after every iteration.
pub fn top_eigenvalue(f: &mut impl Objective, theta: &Params, start: &Params, iterations: usize) -> (f64, Vec<f64>) {
    let eps = finite_difference_step(theta);
    let mut v = params::normalized(start);
    let mut history = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let hv = hessian_vector_product(f, theta, &v, eps);
        // Rayleigh quotient of the unit vector v.
        history.push(params::dot(&v, &hv));
        if params::norm(&hv) == 0.0 {
            break;
        }
        v = params::normalized(&hv);
    }
    (*history.last().unwrap_or(&0.0), history)
}

/// Keskar et al. (2017)'s ε-sharpness: the largest relative rise of the loss within the box
/// `|Δ_i| ≤ ε(|θ_i| + 1)`, `100·(max L(θ+Δ) − L(θ)) / (1 + L(θ))`. The paper maximises with
/// L-BFGS-B; this takes `steps` projected sign-gradient ascent steps from the centre, which
/// gives a lower bound of the same quantity.
pub fn epsilon_sharpness(f: &mut impl Objective, theta: &Params, epsilon: f32, steps: usize) -> f64 {
    let base = f.loss(theta);
    let bound: Params = params::combine(&params::zeros_like(theta), &[(epsilon, &abs_plus_one(theta))]);
    let mut delta = params::zeros_like(theta);
    let mut best = base;
    for _ in 0..steps {
        let (loss, grad) = f.gradient(&params::combine(theta, &[(1.0, &delta)]));
        best = best.max(loss);
        for ((d, g), b) in delta.iter_mut().zip(&grad).zip(&bound) {
            for ((x, &gi), &bi) in d.values.iter_mut().zip(&g.values).zip(&b.values) {
                // Steps of half the box: the first lands inside, the second on its faces.
                *x = (*x + 0.5 * bi * gi.signum()).clamp(-bi, bi);
            }
        }
    }
    best = best.max(f.loss(&params::combine(theta, &[(1.0, &delta)])));
    100.0 * (best - base) / (1.0 + base)
}

fn abs_plus_one(theta: &Params) -> Params {
    let mut out = theta.clone();
    out.iter_mut().flat_map(|p| p.values.iter_mut()).for_each(|x| *x = x.abs() + 1.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamTensor;

    /// L(θ) = ½ θᵀAθ with a symmetric A, over two tensors of 2 and 3 values.
    struct Quadratic(Vec<Vec<f64>>);

    fn flat(p: &Params) -> Vec<f64> {
        p.iter().flat_map(|t| t.values.iter().map(|&x| x as f64)).collect()
    }

    fn shaped(v: &[f64]) -> Params {
        vec![
            ParamTensor { path: "a".into(), shape: vec![2], values: v[..2].iter().map(|&x| x as f32).collect() },
            ParamTensor { path: "b".into(), shape: vec![3], values: v[2..].iter().map(|&x| x as f32).collect() },
        ]
    }

    impl Quadratic {
        fn times(&self, x: &[f64]) -> Vec<f64> {
            self.0.iter().map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum()).collect()
        }
    }

    impl Objective for Quadratic {
        fn loss(&mut self, theta: &Params) -> f64 {
            let x = flat(theta);
            0.5 * self.times(&x).iter().zip(&x).map(|(a, b)| a * b).sum::<f64>()
        }
        fn gradient(&mut self, theta: &Params) -> (f64, Params) {
            (self.loss(theta), shaped(&self.times(&flat(theta))))
        }
    }

    fn quadratic() -> Quadratic {
        // Eigenvalues 6, 3, 1, 0.5, -2 after a rotation, so the matrix is dense.
        let diag = [6.0, 3.0, 1.0, 0.5, -2.0];
        let n = diag.len();
        // Householder reflection I - 2uuᵀ/uᵀu is orthogonal and symmetric.
        let u = [1.0, -2.0, 0.5, 1.5, 1.0];
        let uu: f64 = u.iter().map(|x| x * x).sum();
        let q = |i: usize, j: usize| f64::from(u8::from(i == j)) - 2.0 * u[i] * u[j] / uu;
        let a = (0..n).map(|i| (0..n).map(|j| (0..n).map(|k| q(i, k) * diag[k] * q(j, k)).sum()).collect()).collect();
        Quadratic(a)
    }

    #[test]
    fn hessian_vector_product_is_exact_on_a_quadratic() {
        let mut f = quadratic();
        let theta = shaped(&[0.3, -1.2, 2.0, 0.7, -0.4]);
        let v = shaped(&[1.0, 0.5, -0.25, 2.0, -1.0]);
        let hv = flat(&hessian_vector_product(&mut f, &theta, &v, finite_difference_step(&theta)));
        let exact = f.times(&flat(&v));
        for (a, b) in hv.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{hv:?} vs {exact:?}");
        }
    }

    #[test]
    fn power_iteration_finds_the_largest_magnitude_eigenvalue() {
        let mut f = quadratic();
        let theta = shaped(&[0.1; 5]);
        let (top, history) = top_eigenvalue(&mut f, &theta, &shaped(&[1.0, 1.0, 1.0, 1.0, 1.0]), 60);
        assert!((top - 6.0).abs() < 1e-3, "{top} after {history:?}");
    }

    #[test]
    fn epsilon_sharpness_grows_with_curvature() {
        let theta = shaped(&[0.0; 5]);
        let mut flat_bowl =
            Quadratic((0..5).map(|i| (0..5).map(|j| if i == j { 0.1 } else { 0.0 }).collect()).collect());
        let mut sharp_bowl =
            Quadratic((0..5).map(|i| (0..5).map(|j| if i == j { 10.0 } else { 0.0 }).collect()).collect());
        let soft = epsilon_sharpness(&mut flat_bowl, &theta, 0.1, 3);
        let sharp = epsilon_sharpness(&mut sharp_bowl, &theta, 0.1, 3);
        // At the box corner Δ = ±0.1 in 5 coordinates: ½·c·5·0.01.
        assert!((soft - 100.0 * 0.5 * 0.1 * 0.05).abs() < 1e-4, "{soft}");
        assert!((sharp - 100.0 * 0.5 * 10.0 * 0.05).abs() < 1e-2, "{sharp}");
    }
}
