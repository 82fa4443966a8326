//! `batchnorm`: Ioffe & Szegedy (2015), "Batch normalization: accelerating deep network
//! training by reducing internal covariate shift"; Yang, Pennington, Rao, Sohl-Dickstein &
//! Schoenholz (2019), "A mean field theory of batch normalization"; De & Smith (2020), "Batch
//! normalization biases residual blocks towards the identity function in deep networks";
//! Furusho & Ikeda (2020) and Karakida, Akaho & Amari (2019) on batch norm and the Fisher
//! information. With batch norm a network trains at larger learning rates; the curvature that
//! limits the rate, the largest eigenvalue of the Fisher information matrix, behaves very
//! differently with and without shortcuts: batch norm alone makes gradients explode with depth
//! at initialisation, and residual branches tame it.

use burn::optim::GradientsParams;
use rikai_data::{Batcher, Rng};
use train::classify::Data;
use train::config::TrainConfig;

use crate::ctx::{Ctx, Report, cell};
use crate::fit::{cross_entropy, fresh_classifier, train_pass};
use crate::params::{self, Params};
use crate::plots::{PALETTE, lines};

/// A network family of the Fisher comparison.
#[derive(Clone, Copy, Debug)]
struct Arm {
    name: &'static str,
    batch_norm: bool,
    residual: bool,
}

const ARMS: [Arm; 4] = [
    Arm { name: "plain", batch_norm: false, residual: false },
    Arm { name: "plain+BN", batch_norm: true, residual: false },
    Arm { name: "residual", batch_norm: false, residual: true },
    Arm { name: "residual+BN", batch_norm: true, residual: true },
];

/// Learning rates of the sweep (SGD with momentum 0.9).
const RATES: [f64; 7] = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0];

/// A CIFAR-style network of `depth` layers (width multiplier 0.25), plain or residual, with or
/// without batch norm.
fn config(ctx: &Ctx, depth: usize, batch_norm: bool, residual: bool) -> TrainConfig {
    let mut cfg = ctx.base_config("resnet");
    cfg.variant = Some(format!("resnet{depth}"));
    let shortcut = if residual { resnet::Shortcut::Identity } else { resnet::Shortcut::None };
    (cfg.resnet.shortcut, cfg.resnet.batch_norm, cfg.resnet.width) = (Some(shortcut), batch_norm, 0.25);
    (cfg.optimizer, cfg.momentum, cfg.batch_size) = (train::config::OptimizerKind::Sgd, 0.9, 64);
    cfg.limit_train = ctx.pick(2000, 256);
    cfg
}

/// The largest eigenvalue of the empirical Fisher information `F = (1/N) Σ gᵢgᵢᵀ` from the
/// per-example gradients `grads`, by power iteration, and its estimate at every iteration.
pub fn fisher_top_eigenvalue(grads: &[Params], iterations: usize, rng: &mut Rng) -> (f64, Vec<f64>) {
    let Some(first) = grads.first() else { return (0.0, Vec::new()) };
    let n = grads.len() as f32;
    let mut v = params::normalized(&params::gaussian_like(first, rng));
    let mut history = Vec::new();
    for _ in 0..iterations {
        let mut fv = params::zeros_like(first);
        for g in grads {
            fv = params::combine(&fv, &[(params::dot(g, &v) as f32 / n, g)]);
        }
        history.push(params::dot(&v, &fv));
        if params::norm(&fv) == 0.0 {
            break;
        }
        v = params::normalized(&fv);
    }
    (*history.last().unwrap_or(&0.0), history)
}

/// Examples per batch when taking per-example gradients: batch norm sees the statistics of a
/// real minibatch, as in training.
const FISHER_BATCH: usize = 32;

/// Per-example gradients of the loss at initialisation for the first `n` training images. Each
/// is the gradient of one example's loss through a forward pass of its whole minibatch, so
/// batch norm normalises with minibatch statistics (a pass per example: burn differentiates a
/// scalar at a time).
fn per_example_gradients(cfg: &TrainConfig, data: &Data, ctx: &Ctx, n: usize) -> anyhow::Result<Vec<Params>> {
    let model = fresh_classifier(cfg, &data.input, &ctx.device)?;
    let batcher = Batcher::new(data.normalization.clone(), ctx.device.clone().autodiff());
    let indices: Vec<usize> = (0..n.min(data.train.len())).collect();
    let mut grads = Vec::new();
    for chunk in indices.chunks(FISHER_BATCH) {
        let b = batcher.batch(&data.train, chunk);
        for i in 0..chunk.len() {
            let logits = model.forward(b.images.clone()).slice(i..i + 1);
            let loss = cross_entropy(logits, b.targets.clone().slice(i..i + 1));
            grads.push(params::gradients(&model, &GradientsParams::from_grads(loss.backward(), &model)));
        }
    }
    Ok(grads)
}

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let epochs = ctx.pick(5, 1);
    let data = Data::load(&config(ctx, 20, true, false))?;
    let batcher = Batcher::new(data.normalization.clone(), ctx.device.clone().autodiff());
    // Learning-rate sweep: loss after a fixed budget.
    let mut sweep = Vec::new();
    for bn in [false, true] {
        for &lr in &RATES {
            // LeNet-5 trains without batch norm from burn's default initialisation (the deep
            // plain networks below do not), so the sweep isolates what batch norm adds.
            let mut cfg = ctx.base_config("lenet");
            (cfg.lenet.batch_norm, cfg.optimizer, cfg.momentum, cfg.batch_size, cfg.lr) =
                (bn, train::config::OptimizerKind::Sgd, 0.9, 64, lr);
            let mut model = fresh_classifier(&cfg, &data.input, &ctx.device)?;
            let mut optim = train::optim::build_optimizer(&cfg);
            let mut rng = Rng::derive(ctx.seed, 300);
            let mut last = None;
            for _ in 0..epochs {
                let order = rng.permutation(data.train.len());
                let (m, stats) =
                    train_pass(model, &mut optim, &data.train, &order, &batcher, cfg.batch_size, lr, |_, b| b);
                model = m;
                last = Some(stats);
                if stats.diverged {
                    break;
                }
            }
            let stats = last.expect("at least one epoch");
            // Stable: the network learns, its last epoch's loss under half that of guessing
            // (ln 10); a rate that merely avoids overflow while the loss sits at ln 10 is not.
            let stable = !stats.diverged && stats.loss < 0.5 * (data.input.num_classes as f64).ln();
            println!(
                "LeNet-5 batch norm {bn}: lr {lr}: final-epoch loss {:.4}{}",
                stats.loss,
                if stable { "" } else { " (unstable)" }
            );
            sweep.push((bn, lr, stats.loss, stats.accuracy, stable));
        }
    }
    // Fisher information at initialisation against depth, for the four combinations.
    let depths = ctx.pick(vec![20, 32, 44, 56], vec![20, 32]);
    let examples = ctx.pick(64, 8);
    let mut fisher = Vec::new();
    for arm in ARMS {
        for &depth in &depths {
            let cfg = config(ctx, depth, arm.batch_norm, arm.residual);
            let grads = per_example_gradients(&cfg, &data, ctx, examples)?;
            let (top, _) = fisher_top_eigenvalue(&grads, ctx.pick(30, 5), &mut Rng::derive(ctx.seed, 301));
            let trace: f64 = grads.iter().map(|g| params::dot(g, g)).sum::<f64>() / grads.len() as f64;
            println!("{}-{depth}: Fisher λ_max {top:.4} (trace {trace:.4})", arm.name);
            fisher.push((arm, depth, top, trace));
        }
    }

    let sweep_rows: Vec<Vec<String>> =
        sweep.iter().map(|s| vec![s.0.to_string(), cell(s.1), cell(s.2), cell(s.3), s.4.to_string()]).collect();
    ctx.write_csv(
        "lr_sweep.csv",
        &["batch_norm", "lr", "final_epoch_loss", "final_epoch_accuracy", "stable"],
        &sweep_rows,
    )?;
    let fisher_rows: Vec<Vec<String>> =
        fisher.iter().map(|f| vec![f.0.name.into(), f.1.to_string(), cell(f.2), cell(f.3)]).collect();
    ctx.write_csv("fisher.csv", &["network", "depth", "fisher_top_eigenvalue", "fisher_trace"], &fisher_rows)?;
    let name = |bn: bool| if bn { "with batch norm" } else { "without batch norm" };
    let sweep_series = |bn: bool, color| train::plot::Series {
        label: name(bn),
        // Diverged runs are drawn at 7 (three times the loss of guessing) so the curve shows them.
        points: sweep
            .iter()
            .filter(|s| s.0 == bn)
            .map(|s| (s.1.log10(), if s.2.is_finite() { s.2.min(7.0) } else { 7.0 }))
            .collect(),
        color,
    };
    train::plot::line_charts(
        &ctx.file("batchnorm.png"),
        &[
            train::plot::Panel {
                title: &format!("LeNet-5: loss after {epochs} epochs"),
                x_label: "log10 learning rate",
                y_label: "final-epoch training loss (7 = diverged)",
                series: vec![sweep_series(false, PALETTE[1]), sweep_series(true, PALETTE[0])],
            },
            train::plot::Panel {
                title: "Fisher information at initialisation",
                x_label: "depth",
                y_label: "log10 largest eigenvalue",
                series: lines(ARMS.iter().map(|arm| {
                    let points =
                        fisher.iter().filter(|f| f.0.name == arm.name).map(|f| (f.1 as f64, f.2.max(1e-12).log10()));
                    (arm.name, points.collect())
                })),
            },
        ],
    )?;

    let largest = |bn: bool| sweep.iter().filter(|s| s.0 == bn && s.4).map(|s| s.1).reduce(f64::max);
    let (lr_plain, lr_bn) = (largest(false), largest(true));
    let rate = |r: Option<f64>| r.map_or("none".to_string(), cell);
    let top =
        |arm: &str, depth: usize| fisher.iter().find(|f| f.0.name == arm && f.1 == depth).map_or(f64::NAN, |f| f.2);
    let (shallow, deep) = (depths[0], *depths.last().expect("depths"));
    let explodes = top("plain+BN", deep) > 10.0 * top("plain+BN", shallow);
    let tamed = top("residual+BN", deep) < 0.1 * top("plain+BN", deep);
    let agrees = lr_bn > lr_plain && explodes && tamed;
    let mut report = Report::new(
        "Batch normalisation",
        &format!(
            "Everything from the same seed, on {} training images of {}. (1) Learning-rate sweep: LeNet-5 with and without \
             batch norm after every layer, SGD with momentum 0.9, batch 64, {epochs} epochs at each rate; a rate is stable \
             when the last epoch's loss is below half that of guessing (ln 10 / 2). (2) The largest eigenvalue of the empirical \
             Fisher information F = (1/N)Σ∇ℓᵢ∇ℓᵢᵀ at initialisation of CIFAR-style networks (He et al.'s 6n+2 layers, width \
             multiplier 0.25, depths {depths:?}), plain (no shortcuts) or residual (identity shortcuts), with and without \
             batch norm after every convolution: per-example gradients of {examples} training images (each through a \
             forward pass of its minibatch of {FISHER_BATCH}, so batch norm uses minibatch statistics), power iteration.",
            data.train.len(),
            ctx.dataset
        ),
    );
    report
        .section("Learning-rate sweep")
        .table(
            &["learning rate", "loss without BN", "loss with BN"],
            &RATES
                .iter()
                .map(|&lr| {
                    let at = |bn: bool| {
                        sweep.iter().find(|s| s.0 == bn && s.1 == lr).map_or(String::new(), |s| {
                            if s.4 { cell(s.2) } else { format!("{} (unstable)", cell(s.2)) }
                        })
                    };
                    vec![cell(lr), at(false), at(true)]
                })
                .collect::<Vec<_>>(),
        )
        .section("Fisher information at initialisation")
        .table(
            &[&["depth"][..], &ARMS.iter().map(|a| a.name).collect::<Vec<_>>()[..]].concat(),
            &depths
                .iter()
                .map(|&d| [vec![d.to_string()], ARMS.iter().map(|a| cell(top(a.name, d))).collect()].concat())
                .collect::<Vec<_>>(),
        )
        .image("batchnorm.png", "learning-rate sweep and Fisher eigenvalue against depth");
    report.verdict(
        "Ioffe & Szegedy (2015): batch norm allows much higher learning rates. Yang et al. (2019, a mean-field theory of batch \
         norm): at initialisation batch norm makes gradients explode exponentially with depth in networks without shortcuts, \
         so the largest Fisher eigenvalue grows with depth; De & Smith (2020): in residual networks batch norm scales the \
         residual branches down, and the explosion disappears.",
        agrees,
        &format!(
            "largest stable rate {} without batch norm, {} with. Fisher λ_max from depth {shallow} to {deep}: plain+BN {} → {} \
             ({}), residual+BN {} → {} ({}), plain without BN {} → {}, residual without BN {} → {}.",
            rate(lr_plain),
            rate(lr_bn),
            cell(top("plain+BN", shallow)),
            cell(top("plain+BN", deep)),
            if explodes { "explodes" } else { "does not explode" },
            cell(top("residual+BN", shallow)),
            cell(top("residual+BN", deep)),
            if tamed { "tamed" } else { "not tamed" },
            cell(top("plain", shallow)),
            cell(top("plain", deep)),
            cell(top("residual", shallow)),
            cell(top("residual", deep)),
        ),
    );
    report.write(ctx, "experiments batchnorm")?;
    Ok(vec![
        format!("largest stable learning rate (LeNet-5): {} without batch norm, {} with", rate(lr_plain), rate(lr_bn)),
        format!(
            "Fisher λ_max at init, depth {}: {}",
            depths.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("/"),
            ARMS.iter()
                .map(|a| format!(
                    "{} {}",
                    a.name,
                    depths.iter().map(|&d| cell(top(a.name, d))).collect::<Vec<_>>().join("/")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamTensor;

    #[test]
    fn fisher_power_iteration_matches_the_gram_matrix() {
        // F = (1/N) Σ gᵢgᵢᵀ shares its nonzero eigenvalues with the Gram matrix G Gᵀ / N.
        let mut rng = Rng::new(9);
        let grads: Vec<Params> = (0..6)
            .map(|_| vec![ParamTensor { path: "w".into(), shape: vec![4, 5], values: rng.normals(20) }])
            .collect();
        let n = grads.len();
        let gram: Vec<f64> = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| params::dot(&grads[i], &grads[j]) / n as f64)
            .collect();
        let exact = train::linalg::symmetric_eigen(&gram, n).0.into_iter().fold(f64::MIN, f64::max);
        let (top, history) = fisher_top_eigenvalue(&grads, 200, &mut Rng::new(1));
        assert!((top - exact).abs() < 1e-4 * exact, "{top} vs {exact} ({:?})", &history[history.len() - 3..]);
    }
}
