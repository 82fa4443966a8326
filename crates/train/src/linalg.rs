//! The little dense linear algebra the quality score needs: symmetric eigendecomposition (cyclic
//! Jacobi rotations, exact enough and simple for the 84x84 covariances of LeNet features) and
//! the Fréchet distance between Gaussians built on it.

/// Eigenvalues and eigenvectors of the symmetric `n`x`n` matrix `a` (row-major): returns the
/// values and the matrix whose column `i` is the unit eigenvector of value `i` (row-major).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "matrix of {} entries is not {n}x{n}", a.len());
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off.sqrt() <= 1e-14 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                // The rotation in the (p, q) plane that zeroes a[p][q]: t = tan(phi), the
                // smaller root of t^2 + 2 theta t - 1 = 0.
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The symmetric square root of a positive semi-definite matrix (negative eigenvalues from
/// rounding count as 0).
pub fn sqrt_psd(a: &[f64], n: usize) -> Vec<f64> {
    let (values, v) = symmetric_eigen(a, n);
    let roots: Vec<f64> = values.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| v[i * n + k] * roots[k] * v[j * n + k]).sum();
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                out[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    out
}

/// The squared Fréchet (2-Wasserstein) distance between N(`mean1`, `cov1`) and
/// N(`mean2`, `cov2`): |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), with the trace of the root
/// computed as that of the symmetric (C1^(1/2) C2 C1^(1/2))^(1/2), which has the same eigenvalues.
pub fn frechet_distance(mean1: &[f64], cov1: &[f64], mean2: &[f64], cov2: &[f64]) -> f64 {
    let n = mean1.len();
    let diff: f64 = mean1.iter().zip(mean2).map(|(a, b)| (a - b).powi(2)).sum();
    let root1 = sqrt_psd(cov1, n);
    let middle = matmul(&matmul(&root1, cov2, n), &root1, n);
    // Symmetrise away rounding before the eigendecomposition.
    let middle: Vec<f64> = (0..n * n).map(|k| 0.5 * (middle[k] + middle[(k % n) * n + k / n])).collect();
    let (values, _) = symmetric_eigen(&middle, n);
    let trace = |c: &[f64]| (0..n).map(|i| c[i * n + i]).sum::<f64>();
    let cross: f64 = values.iter().map(|&l| l.max(0.0).sqrt()).sum();
    (diff + trace(cov1) + trace(cov2) - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random symmetric positive definite matrix B Bᵀ + n·0.1 I from a fixed stream.
    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rikai_data::Rng::new(seed);
        let b: Vec<f64> = (0..n * n).map(|_| rng.uniform() - 0.5).collect();
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>();
            }
            out[i * n + i] += 0.1 * n as f64;
        }
        out
    }

    #[test]
    fn eigendecomposition_reconstructs_the_matrix() {
        let n = 12;
        let a = spd(n, 1);
        let (values, v) = symmetric_eigen(&a, n);
        for i in 0..n {
            for j in 0..n {
                let back: f64 = (0..n).map(|k| v[i * n + k] * values[k] * v[j * n + k]).sum();
                assert!((back - a[i * n + j]).abs() < 1e-9, "entry ({i}, {j}): {back} vs {}", a[i * n + j]);
                let dot: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
                assert!((dot - f64::from(u8::from(i == j))).abs() < 1e-9, "eigenvectors orthonormal");
            }
        }
    }

    #[test]
    fn square_root_squares_back() {
        let n = 9;
        let a = spd(n, 2);
        let r = sqrt_psd(&a, n);
        let back = matmul(&r, &r, n);
        assert!(a.iter().zip(&back).all(|(x, y)| (x - y).abs() < 1e-9));
    }

    #[test]
    fn frechet_distance_matches_closed_forms() {
        let n = 6;
        let c = spd(n, 3);
        let zero = vec![0.0; n];
        assert!(frechet_distance(&zero, &c, &zero, &c) < 1e-8, "identical Gaussians are 0 apart");
        // Diagonal covariances: sum of (sqrt(a_i) - sqrt(b_i))^2, plus the squared mean shift.
        let (a, b) = ([1.0, 4.0, 9.0], [4.0, 1.0, 9.0]);
        let diag = |d: &[f64; 3]| (0..9).map(|k| if k % 4 == 0 { d[k / 4] } else { 0.0 }).collect::<Vec<_>>();
        let d = frechet_distance(&[0.0, 0.0, 1.0], &diag(&a), &[3.0, 0.0, 0.0], &diag(&b));
        assert!((d - (1.0 + 1.0 + 0.0 + 9.0 + 1.0)).abs() < 1e-9, "{d}");
        // Scaling a covariance by s^2 moves it by tr(C)(1 - s)^2.
        let scaled: Vec<f64> = c.iter().map(|x| 4.0 * x).collect();
        let trace: f64 = (0..n).map(|i| c[i * n + i]).sum();
        assert!((frechet_distance(&zero, &c, &zero, &scaled) - trace).abs() < 1e-8);
    }
}
