//! The kernels' transforms of F(2x2, 3x3): `U = G · w · Gᵀ` of every 3x3 kernel, and the adjoint
//! `Gᵀ · dU · G` that carries the weight gradient back.
//!
//! Both run [`LANES`] input channels side by side (one vector per tap or point) and one output
//! channel per task. Computed a kernel at a time, on one thread, they took longer than the
//! convolution itself at ResNet-18's last stage (512 channels on 4x4 images: 5.8 ms of a 26 ms
//! forward pass, and 15 ms for the input gradient, whose transposed read of the kernels touched
//! a new page at every step).

use super::POINTS;
use crate::output::in_pieces;
use crate::vectorized;

/// Input channels transformed side by side: one 512-bit vector.
const LANES: usize = 16;

/// One value per lane.
type Lanes = [f32; LANES];

/// `G` times a 3-tap filter: the filter evaluated at 0, 1, -1 and infinity.
#[inline(always)]
fn g_times([a, b, c]: [&Lanes; 3]) -> [Lanes; 4] {
    [*a, std::array::from_fn(|l| 0.5 * (a[l] + b[l] + c[l])), std::array::from_fn(|l| 0.5 * (a[l] - b[l] + c[l])), *c]
}

/// `Gᵀ` times 4 points, the adjoint of [`g_times`].
#[inline(always)]
fn g_t_times([a, b, c, d]: [&Lanes; 4]) -> [Lanes; 3] {
    [
        std::array::from_fn(|l| a[l] + 0.5 * (b[l] + c[l])),
        std::array::from_fn(|l| 0.5 * (b[l] - c[l])),
        std::array::from_fn(|l| 0.5 * (b[l] + c[l]) + d[l]),
    ]
}

/// `U` of the kernels `w` (`[O, C, 3, 3]`), laid out `[O, 16, C]`: point `p` of the kernel from
/// input channel `c` to output channel `o` at `(o·16 + p)·C + c`, so that point `p`'s matrix
/// `U[p]` (`O x C`) has rows `16·C` apart.
pub(super) fn transform_weights(outputs: usize, inputs: usize, w: &[f32]) -> Vec<f32> {
    assert_eq!(w.len(), outputs * inputs * 9, "{outputs}x{inputs} 3x3 kernels");
    in_pieces(
        outputs * POINTS * inputs,
        POINTS * inputs,
        || (),
        |(), o, u| {
            let kernels = &w[o * inputs * 9..][..inputs * 9];
            vectorized(
                #[inline(always)]
                || {
                    for first in (0..inputs).step_by(LANES) {
                        let n = LANES.min(inputs - first);
                        let mut taps = [[0.0; LANES]; 9];
                        for (lane, kernel) in kernels[first * 9..][..n * 9].chunks_exact(9).enumerate() {
                            for (tap, &v) in taps.iter_mut().zip(kernel) {
                                tap[lane] = v;
                            }
                        }
                        // Each column of taps, then each row of the result.
                        let columns: [[Lanes; 4]; 3] =
                            std::array::from_fn(|j| g_times([&taps[j], &taps[3 + j], &taps[6 + j]]));
                        for r in 0..4 {
                            let row = g_times([&columns[0][r], &columns[1][r], &columns[2][r]]);
                            for (k, lanes) in row.iter().enumerate() {
                                u[(r * 4 + k) * inputs + first..][..n].copy_from_slice(&lanes[..n]);
                            }
                        }
                    }
                },
            );
        },
    )
}

/// `Gᵀ · dU[p] · G` for every channel pair, `du` laid out `[16, O, C]` (the weight gradient's
/// products, one matrix per point): the weight gradient `[O, C, 3, 3]`.
pub(super) fn untransform_weights(outputs: usize, inputs: usize, du: &[f32]) -> Vec<f32> {
    assert_eq!(du.len(), POINTS * outputs * inputs, "16 points of {outputs}x{inputs}");
    in_pieces(
        outputs * inputs * 9,
        inputs * 9,
        || (),
        |(), o, dw| {
            vectorized(
                #[inline(always)]
                || {
                    for first in (0..inputs).step_by(LANES) {
                        let n = LANES.min(inputs - first);
                        let points: [Lanes; POINTS] = std::array::from_fn(|p| {
                            let mut lanes = [0.0; LANES];
                            lanes[..n].copy_from_slice(&du[(p * outputs + o) * inputs + first..][..n]);
                            lanes
                        });
                        let rows: [[Lanes; 3]; 4] = std::array::from_fn(|r| {
                            g_t_times([&points[r * 4], &points[r * 4 + 1], &points[r * 4 + 2], &points[r * 4 + 3]])
                        });
                        for j in 0..3 {
                            let column = g_t_times([&rows[0][j], &rows[1][j], &rows[2][j], &rows[3][j]]);
                            for (i, lanes) in column.iter().enumerate() {
                                for (lane, &v) in lanes[..n].iter().enumerate() {
                                    dw[(first + lane) * 9 + i * 3 + j] = v;
                                }
                            }
                        }
                    }
                },
            );
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `G · w · Gᵀ` of one kernel, one value at a time, in `f64`.
    fn transformed(w: &[f32]) -> [f64; POINTS] {
        let g = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
        std::array::from_fn(|p| {
            let (r, k) = (p / 4, p % 4);
            (0..9).map(|t| g[r][t / 3] * f64::from(w[t]) * g[k][t % 3]).sum()
        })
    }

    #[test]
    fn weights_transform_by_the_definition_and_back_by_its_adjoint() {
        // 21 input channels: one full vector of lanes and a partial one.
        let (outputs, inputs) = (3, 21);
        let w: Vec<f32> = (0..outputs * inputs * 9).map(|v| ((v * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let u = transform_weights(outputs, inputs, &w);
        for o in 0..outputs {
            for c in 0..inputs {
                let want = transformed(&w[(o * inputs + c) * 9..][..9]);
                for (p, want) in want.into_iter().enumerate() {
                    let got = f64::from(u[(o * POINTS + p) * inputs + c]);
                    assert!((got - want).abs() < 1e-5, "U[{o}][{p}][{c}] = {got}, not {want}");
                }
            }
        }
        // <U(w), dU> = <w, Uᵀ(dU)> for the untransform to be the weight gradient's adjoint.
        let du: Vec<f32> = (0..POINTS * outputs * inputs).map(|v| ((v * 53 % 97) as f32 - 48.0) / 24.0).collect();
        let dw = untransform_weights(outputs, inputs, &du);
        let mut forward = 0.0;
        for o in 0..outputs {
            for p in 0..POINTS {
                for c in 0..inputs {
                    forward +=
                        f64::from(u[(o * POINTS + p) * inputs + c]) * f64::from(du[(p * outputs + o) * inputs + c]);
                }
            }
        }
        let adjoint: f64 = w.iter().zip(&dw).map(|(&w, &d)| f64::from(w) * f64::from(d)).sum();
        assert!((forward - adjoint).abs() < 1e-4 * forward.abs().max(1.0), "{forward} vs {adjoint}");
    }
}
