//! `sharpness`: Keskar, Mudigere, Nocedal, Smelyanskiy & Tang (2017), "On large-batch training
//! for deep learning: generalization gap and sharp minima". The same network trained with small
//! and large batches: large batches converge to sharper minima (larger Hessian eigenvalues,
//! larger ε-sharpness) and generalise worse. Dinh et al. (2017) showed sharpness can be changed
//! by rescaling weights without changing the function, so the weight norm is reported beside it.

use burn::module::Module;
use rikai_data::{Batcher, Rng};

use crate::ctx::{Ctx, Report, cell, pct};
use crate::fit::{ClassifierObjective, Probe};
use crate::hessian::{epsilon_sharpness, top_eigenvalue};
use crate::params;
use crate::plots::lines;
use crate::slices::{self, Point};

/// Keskar et al.'s box size for ε-sharpness.
const EPSILON: f32 = 1e-3;

struct Arm {
    name: &'static str,
    batch: usize,
    epochs: usize,
    steps: usize,
    train_acc: f64,
    test_acc: f64,
    top_eigenvalue: f64,
    power_history: Vec<f64>,
    sharpness: f64,
    weight_norm: f64,
    slice: Vec<Point>,
}

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let arms_spec = [("small-batch", 32, ctx.pick(10, 1)), ("large-batch", ctx.pick(2048, 256), ctx.pick(60, 3))];
    let mut arms = Vec::new();
    for (name, batch, epochs) in arms_spec {
        let mut cfg = ctx.base_config("lenet");
        (cfg.batch_size, cfg.epochs, cfg.lr, cfg.schedule) = (batch, epochs, 1e-3, train::config::Schedule::Constant);
        if ctx.quick {
            (cfg.limit_train, cfg.limit_test) = (512, 256);
        }
        println!("{name}: LeNet-5, batch {batch}, {epochs} epochs");
        let (model, outcome, data) = ctx.train_classifier(name, &cfg)?;
        let eval = Batcher::new(data.normalization.clone(), ctx.device.clone());
        let train_all = Probe::first(&data.train, data.train.len(), &eval);
        let (_, train_acc) = train_all.loss_and_accuracy(&model);
        let probe = Probe::first(&data.train, ctx.pick(1024, 128), &eval);
        let theta = params::collect(&model);
        let mut objective =
            ClassifierObjective { model: model.clone().train().fork(&ctx.device.clone().autodiff()), probe: &probe };
        let start = params::gaussian_like(&theta, &mut Rng::derive(ctx.seed, 17));
        println!("{name}: top Hessian eigenvalue by power iteration");
        let (top, power_history) = top_eigenvalue(&mut objective, &theta, &start, ctx.pick(40, 3));
        let sharpness = epsilon_sharpness(&mut objective, &theta, EPSILON, ctx.pick(10, 2));
        let slice = slices::slice_1d(&model, &probe, 1.0, ctx.pick(25, 7), &mut Rng::derive(ctx.seed, 18));
        arms.push(Arm {
            name,
            batch,
            epochs,
            steps: epochs * data.train.len().div_ceil(batch),
            train_acc,
            test_acc: outcome.test.accuracy,
            top_eigenvalue: top,
            power_history,
            sharpness,
            weight_norm: params::norm(&theta),
            slice,
        });
        println!("{name}: λ_max {top:.3}, ε-sharpness {sharpness:.3}");
    }

    let rows: Vec<Vec<String>> = arms
        .iter()
        .map(|a| {
            vec![
                a.name.into(),
                a.batch.to_string(),
                a.epochs.to_string(),
                a.steps.to_string(),
                cell(a.train_acc),
                cell(a.test_acc),
                cell(a.train_acc - a.test_acc),
                cell(a.top_eigenvalue),
                cell(a.sharpness),
                cell(a.weight_norm),
                cell(slices::basin_width(&a.slice, 2.0)),
            ]
        })
        .collect();
    let header = [
        "arm",
        "batch",
        "epochs",
        "steps",
        "train_acc",
        "test_acc",
        "gap",
        "top_hessian_eigenvalue",
        "epsilon_sharpness",
        "weight_norm",
        "basin_width",
    ];
    ctx.write_csv("sharpness.csv", &header, &rows)?;
    let mut slice_rows = Vec::new();
    for a in &arms {
        slice_rows.extend(slices::rows(&a.slice).into_iter().map(|r| [vec![a.name.to_string()], r].concat()));
    }
    ctx.write_csv("slices.csv", &[&["arm"][..], &slices::HEADER[..]].concat(), &slice_rows)?;
    let labels: Vec<String> = arms.iter().map(|a| format!("{} (batch {})", a.name, a.batch)).collect();
    train::plot::line_charts(
        &ctx.file("sharpness.png"),
        &[
            train::plot::Panel {
                title: "Loss along a filter-normalised direction",
                x_label: "alpha",
                y_label: "training cross-entropy",
                series: lines(
                    arms.iter()
                        .zip(&labels)
                        .map(|(a, l)| (l.as_str(), a.slice.iter().map(|p| (p.alpha, p.loss)).collect())),
                ),
            },
            train::plot::Panel {
                title: "Power iteration on the Hessian",
                x_label: "iteration",
                y_label: "eigenvalue estimate",
                series: lines(arms.iter().zip(&labels).map(|(a, l)| {
                    (l.as_str(), a.power_history.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect())
                })),
            },
        ],
    )?;

    let (sb, lb) = (&arms[0], &arms[1]);
    let agrees = lb.top_eigenvalue > sb.top_eigenvalue && lb.sharpness > sb.sharpness && lb.test_acc < sb.test_acc;
    let mut report = Report::new(
        "Sharp and flat minima: small against large batches",
        &format!(
            "LeNet-5 trained from the same initialisation with Adam at a constant learning rate of 1e-3, once with batches \
             of {} ({} epochs) and once with batches of {} ({} epochs), on {} training images of {}. At each solution: the \
             largest Hessian eigenvalue of the training loss (power iteration on Hessian-vector products taken as central \
             differences of gradients, on {} training images), Keskar et al.'s ε-sharpness with ε = {EPSILON} (a lower bound \
             by projected sign-gradient ascent), a 1-D filter-normalised slice, and the weights' norm.",
            sb.batch,
            sb.epochs,
            lb.batch,
            lb.epochs,
            if ctx.quick { 512 } else { 8004 },
            ctx.dataset,
            ctx.pick(1024, 128)
        ),
    );
    report
        .section("Results")
        .table(
            &["arm", "batch", "steps", "train acc", "test acc", "gap", "λ_max", "ε-sharpness", "‖θ‖", "basin width"],
            &arms
                .iter()
                .map(|a| {
                    vec![
                        a.name.into(),
                        a.batch.to_string(),
                        a.steps.to_string(),
                        pct(a.train_acc),
                        pct(a.test_acc),
                        format!("{:.2} pt", 100.0 * (a.train_acc - a.test_acc)),
                        cell(a.top_eigenvalue),
                        cell(a.sharpness),
                        cell(a.weight_norm),
                        cell(slices::basin_width(&a.slice, 2.0)),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .image("sharpness.png", "slices and power iteration")
        .verdict(
            "Keskar et al. (2017): large-batch training converges to sharper minima (larger top Hessian eigenvalue and \
             ε-sharpness) and tests worse than small-batch training at similar training accuracy. Dinh et al. (2017): \
             sharpness is not invariant to reparameterisation, so compare weight norms too.",
            agrees,
            &format!(
                "λ_max {} (large) against {} (small); ε-sharpness {} against {}; test accuracy {} against {}; weight norms {} \
                 against {}.",
                cell(lb.top_eigenvalue),
                cell(sb.top_eigenvalue),
                cell(lb.sharpness),
                cell(sb.sharpness),
                pct(lb.test_acc),
                pct(sb.test_acc),
                cell(lb.weight_norm),
                cell(sb.weight_norm)
            ),
        );
    report.write(ctx, "experiments sharpness")?;
    Ok(arms
        .iter()
        .map(|a| {
            format!(
                "{:<11} batch {:>4}: train {} test {}  λ_max {:>8}  ε-sharpness {:>8}  ‖θ‖ {}",
                a.name,
                a.batch,
                pct(a.train_acc),
                pct(a.test_acc),
                cell(a.top_eigenvalue),
                cell(a.sharpness),
                cell(a.weight_norm)
            )
        })
        .collect())
}
