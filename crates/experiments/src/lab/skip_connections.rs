//! `skip-connections`: He, Zhang, Ren & Sun (2016), "Deep residual learning for image
//! recognition"; Li et al. (2018), "Visualizing the loss landscape of neural nets"; Furusho &
//! Ikeda (2019, 2020) on how shortcut spans shape the loss landscape and generalisation.
//! CIFAR-style ResNets of two depths with no shortcut (plain), a shortcut around every
//! convolution (1-skip) and the paper's shortcut around every pair (2-skip).

use rikai_data::{Batcher, Rng};

use crate::ctx::{Ctx, Report, cell, pct};
use crate::fit::Probe;
use crate::plots::lines;
use crate::slices::{self, Point};

/// Width multiplier: 4, 8 and 16 channels in the three stages, so that ResNet-56 trains in
/// minutes on two CPU cores.
const WIDTH: f64 = 0.25;

struct Arm {
    label: String,
    depth: usize,
    kind: &'static str,
    curve: Vec<(f64, f64)>,
    train_acc: f64,
    test_acc: f64,
    slice: Vec<Point>,
    seconds: f64,
}

impl Arm {
    fn gap(&self) -> f64 {
        self.train_acc - self.test_acc
    }
}

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let depths = ctx.pick([20, 56], [20, 32]);
    let kinds: [(&str, Option<resnet::Shortcut>, usize); 3] =
        [("plain", Some(resnet::Shortcut::None), 2), ("1-skip", None, 1), ("2-skip", None, 2)];
    let mut arms = Vec::new();
    for depth in depths {
        for (kind, shortcut, span) in kinds {
            let mut cfg = ctx.base_config("resnet");
            cfg.variant = Some(format!("resnet{depth}"));
            (cfg.resnet.shortcut, cfg.resnet.skip_span, cfg.resnet.width) = (shortcut, span, WIDTH);
            (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) =
                (train::config::OptimizerKind::Sgd, 0.05, 0.9, 5e-4);
            (cfg.epochs, cfg.batch_size) = (ctx.pick(10, 1), 128);
            (cfg.limit_train, cfg.limit_test) = (ctx.pick(2000, 256), ctx.pick(0, 256));
            let label = format!("ResNet-{depth} {kind}");
            println!("{label}: {} epochs on {} images", cfg.epochs, cfg.limit_train);
            let started = std::time::Instant::now();
            let (model, outcome, data) = ctx.train_classifier(&format!("resnet{depth}-{kind}"), &cfg)?;
            let seconds = started.elapsed().as_secs_f64();
            let eval = Batcher::new(data.normalization.clone(), ctx.device.clone());
            let (_, train_acc) = Probe::first(&data.train, data.train.len(), &eval).loss_and_accuracy(&model);
            let probe = Probe::first(&data.train, ctx.pick(1000, 128), &eval);
            // The same random draw for every network, normalised to each one's own filters.
            let slice = slices::slice_1d(&model, &probe, 1.0, ctx.pick(21, 5), &mut Rng::derive(ctx.seed, 31));
            let curve = outcome.history.iter().map(|m| (m.epoch as f64, m.train_loss)).collect();
            arms.push(Arm { label, depth, kind, curve, train_acc, test_acc: outcome.test.accuracy, slice, seconds });
        }
    }

    let rows: Vec<Vec<String>> = arms
        .iter()
        .map(|a| {
            let last = a.curve.last().map_or(f64::NAN, |c| c.1);
            vec![
                a.depth.to_string(),
                a.kind.into(),
                cell(last),
                cell(a.train_acc),
                cell(a.test_acc),
                cell(a.gap()),
                cell(slices::basin_width(&a.slice, 2.0)),
                cell(a.seconds),
            ]
        })
        .collect();
    let header = ["depth", "shortcut", "final_train_loss", "train_acc", "test_acc", "gap", "basin_width", "seconds"];
    ctx.write_csv("skip_connections.csv", &header, &rows)?;
    let mut curve_rows = Vec::new();
    let mut slice_rows = Vec::new();
    for a in &arms {
        curve_rows.extend(a.curve.iter().map(|&(e, l)| vec![a.depth.to_string(), a.kind.into(), cell(e), cell(l)]));
        slice_rows.extend(
            slices::rows(&a.slice).into_iter().map(|r| [vec![a.depth.to_string(), a.kind.to_string()], r].concat()),
        );
    }
    ctx.write_csv("curves.csv", &["depth", "shortcut", "epoch", "train_loss"], &curve_rows)?;
    ctx.write_csv("slices.csv", &[&["depth", "shortcut"][..], &slices::HEADER[..]].concat(), &slice_rows)?;
    let series = |f: &dyn Fn(&Arm) -> Vec<(f64, f64)>| lines(arms.iter().map(|a| (a.label.as_str(), f(a))));
    train::plot::line_charts(
        &ctx.file("skip_connections.png"),
        &[
            train::plot::Panel {
                title: "Training loss",
                x_label: "epoch",
                y_label: "cross-entropy",
                series: series(&|a| a.curve.clone()),
            },
            train::plot::Panel {
                title: "Loss along a filter-normalised direction",
                x_label: "alpha",
                // A plain deep network's loss leaves the others' scale by orders of magnitude.
                y_label: "log10 training cross-entropy",
                series: series(&|a| a.slice.iter().map(|p| (p.alpha, p.loss.max(1e-6).log10())).collect()),
            },
        ],
    )?;

    let find =
        |depth: usize, kind: &str| arms.iter().find(|a| a.depth == depth && a.kind == kind).expect("every arm ran");
    let (shallow, deep) = (depths[0], depths[1]);
    let loss = |a: &Arm| a.curve.last().map_or(f64::NAN, |c| c.1);
    let plain_degrades = loss(find(deep, "plain")) > loss(find(shallow, "plain"));
    let plain_slower = [shallow, deep].iter().all(|&d| loss(find(d, "plain")) > loss(find(d, "2-skip")));
    let gap_order = [shallow, deep].iter().all(|&d| {
        find(d, "plain").gap() > find(d, "1-skip").gap() && find(d, "1-skip").gap() > find(d, "2-skip").gap()
    });
    let mut report = Report::new(
        "Skip connections",
        &format!(
            "CIFAR-style ResNets (He et al. 2016; 6n+2 layers, 3 stages, width multiplier {}) of depth {shallow} and {deep}, \
             each without shortcuts (plain), with an identity shortcut around every convolution (1-skip) and around every \
             pair (2-skip, the paper's), trained identically from the same seed: SGD with momentum 0.9, learning rate 0.05 \
             (cosine), weight decay 5e-4, batch 128, {} epochs on {} training images of {}. Train accuracy is measured in \
             inference mode on the whole training set; the slice is a 1-D filter-normalised one on {} training images.",
            WIDTH,
            ctx.pick(10, 1),
            ctx.pick(2000, 256),
            ctx.dataset,
            ctx.pick(1000, 128)
        ),
    );
    report
        .section("Results")
        .table(
            &["network", "final train loss", "train acc", "test acc", "gap", "basin width", "time"],
            &arms
                .iter()
                .map(|a| {
                    vec![
                        a.label.clone(),
                        cell(loss(a)),
                        pct(a.train_acc),
                        pct(a.test_acc),
                        format!("{:.2} pt", 100.0 * a.gap()),
                        cell(slices::basin_width(&a.slice, 2.0)),
                        format!("{:.0} s", a.seconds),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .image("skip_connections.png", "training loss and 1-D slices");
    report.verdict(
        "He et al. (2016): without shortcuts the deeper plain network trains worse than the shallower one (degradation), \
         while residual networks train well at both depths; Li et al. (2018): skip connections keep the landscape smooth \
         and the basin wide as depth grows; Furusho & Ikeda: the generalisation gap orders plain > 1-skip > 2-skip.",
        plain_degrades && plain_slower && gap_order,
        &format!(
            "final training loss, plain: {} (depth {shallow}) and {} (depth {deep}) — {}; 2-skip: {} and {}; plain {} than \
             2-skip at both depths. Gap (train − test accuracy) plain / 1-skip / 2-skip: {:.2} / {:.2} / {:.2} points at \
             depth {shallow}, {:.2} / {:.2} / {:.2} at depth {deep} — {}.",
            cell(loss(find(shallow, "plain"))),
            cell(loss(find(deep, "plain"))),
            if plain_degrades { "the deeper plain net is worse" } else { "no degradation" },
            cell(loss(find(shallow, "2-skip"))),
            cell(loss(find(deep, "2-skip"))),
            if plain_slower { "trains slower" } else { "does not train slower" },
            100.0 * find(shallow, "plain").gap(),
            100.0 * find(shallow, "1-skip").gap(),
            100.0 * find(shallow, "2-skip").gap(),
            100.0 * find(deep, "plain").gap(),
            100.0 * find(deep, "1-skip").gap(),
            100.0 * find(deep, "2-skip").gap(),
            if gap_order { "the predicted order" } else { "not the predicted order" }
        ),
    );
    report.write(ctx, "experiments skip-connections")?;
    Ok(arms
        .iter()
        .map(|a| {
            format!(
                "{:<18} train loss {:>7}  train {}  test {}  gap {:+.2} pt",
                a.label,
                cell(loss(a)),
                pct(a.train_acc),
                pct(a.test_acc),
                100.0 * a.gap()
            )
        })
        .collect())
}
