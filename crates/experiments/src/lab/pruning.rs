//! `pruning`: Suzuki, Abe, Murata, Horiuchi, Ito, Wachi, Hirai, Yukishima & Nishimura (2020),
//! "Spectral pruning: compressing deep neural networks via spectral analysis and its
//! generalization error". A layer whose hidden-unit covariance has fast-decaying eigenvalues
//! carries few effective degrees of freedom, N(λ) = tr[Σ(Σ + λI)⁻¹]; a few well-chosen units,
//! with the next layer rebuilt to reconstruct the rest, do the work of all of them.
//! Here: the 84 units of LeNet-5's penultimate layer, feeding the classifier.

use rikai_data::{Batcher, Rng};
use train::linalg::symmetric_eigen;
use train::models::Classifier;

use crate::ctx::{Ctx, Report, cell, pct};
use crate::params;
use crate::plots::PALETTE;

/// Hidden activations (row-major, `n` × `width`) of `model`'s penultimate layer over a dataset.
fn features(
    model: &Classifier,
    dataset: &rikai_data::ImageDataset,
    batcher: &Batcher,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let Classifier::LeNet(lenet) = model else { anyhow::bail!("pruning studies LeNet-5") };
    let mut out = Vec::new();
    let indices: Vec<usize> = (0..dataset.len()).collect();
    for chunk in indices.chunks(256) {
        let h = lenet.features(batcher.batch(dataset, chunk).images);
        out.extend(h.into_data().iter::<f32>().map(f64::from));
    }
    Ok((out, lenet::FEATURES))
}

/// Uncentred covariance `Σ = HᵀH / n` of `n` rows of width `k`, as Suzuki et al. define it.
pub fn covariance(h: &[f64], k: usize) -> Vec<f64> {
    let n = (h.len() / k).max(1);
    let mut s = vec![0.0; k * k];
    for row in h.chunks(k) {
        for i in 0..k {
            for j in 0..k {
                s[i * k + j] += row[i] * row[j];
            }
        }
    }
    s.iter_mut().for_each(|x| *x /= n as f64);
    s
}

/// Degrees of freedom `N(λ) = Σᵢ μᵢ / (μᵢ + λ)` of a covariance with eigenvalues `mu`.
pub fn degrees_of_freedom(mu: &[f64], lambda: f64) -> f64 {
    mu.iter().map(|&m| m.max(0.0) / (m.max(0.0) + lambda)).sum()
}

/// Greedy spectral selection of `m` of the `k` units: each step keeps the unit whose
/// (ridge-regularised) regression explains the most of the remaining covariance,
/// `argmax_j ‖R e_j‖² / (R_jj + λ)`, then removes what it explains from `R`.
pub fn greedy_select(sigma: &[f64], k: usize, m: usize, lambda: f64) -> Vec<usize> {
    let mut r = sigma.to_vec();
    let mut chosen = Vec::new();
    for _ in 0..m.min(k) {
        let score = |j: usize| (0..k).map(|i| r[i * k + j].powi(2)).sum::<f64>() / (r[j * k + j] + lambda);
        let j =
            (0..k).filter(|j| !chosen.contains(j)).max_by(|&a, &b| score(a).total_cmp(&score(b))).expect("units left");
        let col: Vec<f64> = (0..k).map(|i| r[i * k + j]).collect();
        let d = r[j * k + j] + lambda;
        for a in 0..k {
            for b in 0..k {
                r[a * k + b] -= col[a] * col[b] / d;
            }
        }
        chosen.push(j);
    }
    chosen
}

/// The reconstruction matrix `A = Σ_FJ (Σ_JJ + λI)⁻¹` (`k` × `m`, row-major): the best linear
/// prediction of all units from the kept ones.
pub fn reconstruction(sigma: &[f64], k: usize, kept: &[usize], lambda: f64) -> Vec<f64> {
    let m = kept.len();
    let sjj: Vec<f64> = kept.iter().flat_map(|&a| kept.iter().map(move |&b| sigma[a * k + b])).collect();
    let (mu, v) = symmetric_eigen(&sjj, m);
    // (Σ_JJ + λI)⁻¹ = V diag(1/(μ+λ)) Vᵀ
    let inv: Vec<f64> = (0..m)
        .flat_map(|a| (0..m).map(move |b| (a, b)))
        .map(|(a, b)| (0..m).map(|t| v[a * m + t] * v[b * m + t] / (mu[t] + lambda)).sum())
        .collect();
    (0..k)
        .flat_map(|f| (0..m).map(move |c| (f, c)))
        .map(|(f, c)| (0..m).map(|t| sigma[f * k + kept[t]] * inv[t * m + c]).sum())
        .collect()
}

/// Accuracy of the classifier `logits = h_J W + b` on features `h` (width `k`) with labels.
fn accuracy(h: &[f64], k: usize, kept: &[usize], w: &[f64], b: &[f64], labels: &[u8]) -> f64 {
    let classes = b.len();
    let correct = h
        .chunks(k)
        .zip(labels)
        .filter(|(row, label)| {
            let logits: Vec<f64> = (0..classes)
                .map(|c| b[c] + kept.iter().enumerate().map(|(t, &j)| row[j] * w[t * classes + c]).sum::<f64>())
                .collect();
            let best = (0..classes).max_by(|&a, &c| logits[a].total_cmp(&logits[c])).unwrap_or(0);
            best == **label as usize
        })
        .count();
    correct as f64 / labels.len().max(1) as f64
}

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let mut cfg = ctx.base_config("lenet");
    (cfg.epochs, cfg.batch_size, cfg.lr) = (ctx.pick(10, 2), 32, 2e-3);
    if ctx.quick {
        (cfg.limit_train, cfg.limit_test) = (1024, 256);
    }
    let (model, outcome, data) = ctx.train_classifier("lenet", &cfg)?;
    let batcher = Batcher::new(data.normalization.clone(), ctx.device.clone());
    let (h_train, k) = features(&model, &data.train, &batcher)?;
    let (h_test, _) = features(&model, &data.test, &batcher)?;
    let p = params::collect(&model);
    let get = |suffix: &str| {
        p.iter().find(|t| t.path.ends_with(suffix)).map(|t| t.values.iter().map(|&x| x as f64).collect::<Vec<f64>>())
    };
    let (w3, b3) = (get("fc3.weight").expect("LeNet has fc3"), get("fc3.bias").expect("fc3 has a bias"));
    let classes = b3.len();

    let sigma = covariance(&h_train, k);
    let (mut mu, _) = symmetric_eigen(&sigma, k);
    mu.sort_by(|a, b| b.total_cmp(a));
    let trace: f64 = mu.iter().sum();
    let lambda = 1e-3 * trace / k as f64;
    let widths: Vec<usize> = [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 84].into_iter().filter(|&m| m <= k).collect();
    let full = accuracy(&h_test, k, &(0..k).collect::<Vec<_>>(), &w3, &b3, &data.test.labels);
    let rows_of = |kept: &[usize]| -> Vec<f64> {
        kept.iter().flat_map(|&j| w3[j * classes..(j + 1) * classes].to_vec()).collect()
    };
    let magnitude_order: Vec<usize> = {
        let norm = |j: usize| w3[j * classes..(j + 1) * classes].iter().map(|x| x * x).sum::<f64>();
        let mut o: Vec<usize> = (0..k).collect();
        o.sort_by(|&a, &b| norm(b).total_cmp(&norm(a)));
        o
    };
    let random_order = Rng::derive(ctx.seed, 5).permutation(k);
    let spectral_order = greedy_select(&sigma, k, k, lambda);
    let mut results = Vec::new();
    for &m in &widths {
        let kept = &spectral_order[..m];
        // The classifier's weights, rebuilt from the kept units: W' = Aᵀ W.
        let a = reconstruction(&sigma, k, kept, lambda);
        let w_new: Vec<f64> = (0..m)
            .flat_map(|t| (0..classes).map(move |c| (t, c)))
            .map(|(t, c)| (0..k).map(|f| a[f * m + t] * w3[f * classes + c]).sum())
            .collect();
        let spectral = accuracy(&h_test, k, kept, &w_new, &b3, &data.test.labels);
        let spectral_plain = accuracy(&h_test, k, kept, &rows_of(kept), &b3, &data.test.labels);
        let magnitude =
            accuracy(&h_test, k, &magnitude_order[..m], &rows_of(&magnitude_order[..m]), &b3, &data.test.labels);
        let random = accuracy(&h_test, k, &random_order[..m], &rows_of(&random_order[..m]), &b3, &data.test.labels);
        results.push((m, spectral, spectral_plain, magnitude, random));
    }
    let lambdas: Vec<f64> = (0..7).map(|i| trace * 10f64.powi(-i)).collect();
    let dof: Vec<f64> = lambdas.iter().map(|&l| degrees_of_freedom(&mu, l)).collect();

    let rows: Vec<Vec<String>> =
        results.iter().map(|r| vec![r.0.to_string(), cell(r.1), cell(r.2), cell(r.3), cell(r.4)]).collect();
    ctx.write_csv(
        "pruning.csv",
        &["kept_units", "spectral_reconstructed", "spectral_no_reconstruction", "magnitude", "random"],
        &rows,
    )?;
    ctx.write_csv(
        "eigenvalues.csv",
        &["index", "eigenvalue"],
        &mu.iter().enumerate().map(|(i, v)| vec![(i + 1).to_string(), cell(*v)]).collect::<Vec<_>>(),
    )?;
    ctx.write_csv(
        "degrees_of_freedom.csv",
        &["lambda", "n_lambda"],
        &lambdas.iter().zip(&dof).map(|(l, d)| vec![cell(*l), cell(*d)]).collect::<Vec<_>>(),
    )?;
    let curve = |f: fn(&(usize, f64, f64, f64, f64)) -> f64| {
        results.iter().map(|r| (r.0 as f64, 100.0 * f(r))).collect::<Vec<_>>()
    };
    train::plot::line_charts(
        &ctx.file("pruning.png"),
        &[
            train::plot::Panel {
                title: "Test accuracy after pruning (no retraining)",
                x_label: "units kept of 84",
                y_label: "test accuracy (%)",
                series: vec![
                    train::plot::Series {
                        label: "spectral + reconstruction",
                        points: curve(|r| r.1),
                        color: PALETTE[0],
                    },
                    train::plot::Series { label: "spectral selection only", points: curve(|r| r.2), color: PALETTE[2] },
                    train::plot::Series { label: "magnitude", points: curve(|r| r.3), color: PALETTE[1] },
                    train::plot::Series { label: "random", points: curve(|r| r.4), color: PALETTE[7] },
                ],
            },
            train::plot::Panel {
                title: "Covariance spectrum",
                x_label: "index",
                y_label: "log10 eigenvalue",
                series: vec![train::plot::Series {
                    label: "eigenvalues of Σ",
                    points: mu
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(i, v)| ((i + 1) as f64, v.log10()))
                        .collect(),
                    color: PALETTE[0],
                }],
            },
            train::plot::Panel {
                title: "Degrees of freedom",
                x_label: "log10(λ / tr Σ)",
                y_label: "N(λ)",
                series: vec![train::plot::Series {
                    label: "N(λ)",
                    points: (0..7).map(|i| (-(i as f64), dof[i])).collect(),
                    color: PALETTE[3],
                }],
            },
        ],
    )?;

    let small: Vec<&(usize, f64, f64, f64, f64)> = results.iter().filter(|r| r.0 <= 16).collect();
    let beats = small.iter().all(|r| r.1 >= r.3 && r.1 >= r.4) && results.iter().all(|r| r.1 >= r.3.max(r.4) - 0.005);
    let example = results.iter().find(|r| r.0 == 8).unwrap_or(&results[0]);
    let enough = results.iter().find(|r| r.1 >= full - 0.01).map_or(k, |r| r.0);
    let dof_at = degrees_of_freedom(&mu, 1e-3 * trace);
    let agrees = beats && (enough as f64) < 0.5 * k as f64;
    let mut report = Report::new(
        "Spectral pruning",
        &format!(
            "LeNet-5 trained for {} epochs on {} ({} images; test accuracy {}). The uncentred covariance Σ of its 84 penultimate \
             units over the training images gives the eigenvalue decay and the degrees of freedom N(λ) = tr[Σ(Σ+λI)⁻¹]. Units \
             are then kept by greedy spectral selection (each step keeps the unit that best explains the remaining covariance, \
             ridge λ = 10⁻³·tr Σ/84) and the classifier's weights are rebuilt to read the kept units through the best linear \
             reconstruction of all of them, A = Σ_FJ(Σ_JJ+λI)⁻¹, W' = AᵀW, with no retraining. Baselines drop units by the \
             norm of their outgoing weights (magnitude) or at random, keeping the rest of the weights as they are.",
            cfg.epochs,
            cfg.dataset,
            data.train.len(),
            pct(outcome.test.accuracy)
        ),
    );
    report
        .section("Results")
        .table(
            &["units kept", "spectral + reconstruction", "spectral selection only", "magnitude", "random"],
            &results.iter().map(|r| vec![r.0.to_string(), pct(r.1), pct(r.2), pct(r.3), pct(r.4)]).collect::<Vec<_>>(),
        )
        .para(&format!(
            "Eigenvalues of Σ: largest {}, 10th {}, 20th {}, 40th {}; N(λ) for λ = tr Σ · 10⁻ᵏ, k = 0..6: {}.",
            cell(mu[0]),
            cell(mu[9.min(k - 1)]),
            cell(mu[19.min(k - 1)]),
            cell(mu[39.min(k - 1)]),
            dof.iter().map(|d| format!("{d:.1}")).collect::<Vec<_>>().join(", ")
        ))
        .image("pruning.png", "accuracy against kept units; spectrum; degrees of freedom");
    report.verdict(
        "Suzuki et al. (2020): the covariance spectrum decays quickly, so the degrees of freedom N(λ) are far below the \
         width; spectral pruning with reconstruction keeps the accuracy with a width of the order of N(λ) and beats \
         magnitude-based and random pruning without retraining.",
        agrees,
        &format!(
            "full accuracy {}; spectral pruning with reconstruction stays within 1 point of it from {enough} of {k} units \
             (N(λ) = {dof_at:.1} at the selection's λ); at 16 units or fewer it {} magnitude and random pruning (e.g. {} units: \
             {} against {} and {}).",
            pct(full),
            if beats { "beats or ties" } else { "does not always beat" },
            example.0,
            pct(example.1),
            pct(example.3),
            pct(example.4),
        ),
    );
    report.write(ctx, "experiments pruning")?;
    Ok(vec![
        format!(
            "full width 84: test {}; spectral pruning within 1 point from {enough} units; N(λ=1e-3·trΣ) = {dof_at:.1}",
            pct(full)
        ),
        results
            .iter()
            .filter(|r| [4, 8, 16, 32].contains(&r.0))
            .map(|r| format!("{} units: spectral {} magnitude {} random {}", r.0, pct(r.1), pct(r.3), pct(r.4)))
            .collect::<Vec<_>>()
            .join("; "),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstruction_recovers_a_redundant_unit() {
        // Unit 2 = unit 0 + unit 1, so keeping units 0 and 1 reconstructs it exactly.
        let rows: Vec<[f64; 3]> = (0..50)
            .map(|i| [(i as f64 * 0.37).sin(), (i as f64 * 0.91).cos(), 0.0])
            .map(|r| [r[0], r[1], r[0] + r[1]])
            .collect();
        let h: Vec<f64> = rows.iter().flatten().copied().collect();
        let sigma = covariance(&h, 3);
        let chosen = greedy_select(&sigma, 3, 2, 1e-9);
        assert_eq!(chosen.len(), 2);
        let a = reconstruction(&sigma, 3, &[0, 1], 1e-9);
        // Row f of A gives unit f from the kept units 0 and 1.
        for (f, want) in [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]].iter().enumerate() {
            assert!(
                (a[f * 2] - want[0]).abs() < 1e-5 && (a[f * 2 + 1] - want[1]).abs() < 1e-5,
                "row {f}: {:?}",
                &a[f * 2..f * 2 + 2]
            );
        }
        let mu = symmetric_eigen(&sigma, 3).0;
        assert!((degrees_of_freedom(&mu, 1e-9) - 2.0).abs() < 1e-3, "rank 2 has two degrees of freedom");
    }
}
