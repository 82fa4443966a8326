//! `memorization`: Zhang, Bengio, Hardt, Recht & Vinyals (2017), "Understanding deep learning
//! requires rethinking generalization". A network that generalises on real labels also fits
//! random labels perfectly: capacity alone cannot explain why it generalises. Fitting noise
//! takes longer, and test accuracy falls with the share of corrupted labels.

use burn::module::Module;
use rikai_data::{Batcher, ImageDataset, Rng};
use train::classify::Data;

use crate::ctx::{Ctx, Report, cell, pct};
use crate::fit::{Probe, fresh_classifier, train_pass};
use crate::plots::lines;

/// Shares of training labels replaced by a uniformly random class.
pub const NOISE: [f64; 4] = [0.0, 0.2, 0.5, 1.0];

/// `dataset` with each label replaced, with probability `p`, by a class drawn uniformly (which
/// may be the true one, as in Zhang et al.).
pub fn corrupt_labels(dataset: &ImageDataset, p: f64, rng: &mut Rng) -> ImageDataset {
    let mut out = dataset.clone();
    let k = dataset.num_classes();
    for label in &mut out.labels {
        if rng.uniform() < p {
            *label = rng.below(k) as u8;
        }
    }
    out
}

struct Arm {
    noise: f64,
    /// (step, training accuracy on the labels it is fitting), once per epoch.
    curve: Vec<(f64, f64)>,
    steps_to_fit: Option<usize>,
    test_accuracy: f64,
}

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let mut cfg = ctx.base_config("lenet");
    (cfg.batch_size, cfg.lr, cfg.schedule) = (64, 1e-3, train::config::Schedule::Constant);
    cfg.limit_train = ctx.pick(2000, 256);
    cfg.limit_test = ctx.pick(0, 256);
    let max_epochs = ctx.pick(400, 60);
    let data = Data::load(&cfg)?;
    let eval = Batcher::new(data.normalization.clone(), ctx.device.clone());
    let train_batcher = Batcher::new(data.normalization.clone(), ctx.device.clone().autodiff());
    let test = Probe::first(&data.test, data.test.len(), &eval);

    let mut arms = Vec::new();
    for (i, &p) in NOISE.iter().enumerate() {
        let noisy = corrupt_labels(&data.train, p, &mut Rng::derive(ctx.seed, 77 + i as u64));
        let fitted = Probe::first(&noisy, noisy.len(), &eval);
        let mut model = fresh_classifier(&cfg, &data.input, &ctx.device)?;
        let mut optim = train::optim::build_optimizer(&cfg);
        let mut rng = Rng::derive(ctx.seed, 1000 + i as u64);
        let (mut steps, mut curve, mut steps_to_fit) =
            (0, vec![(0.0, fitted.loss_and_accuracy(&model.valid()).1)], None);
        for epoch in 1..=max_epochs {
            let order = rng.permutation(noisy.len());
            let (m, stats) =
                train_pass(model, &mut optim, &noisy, &order, &train_batcher, cfg.batch_size, cfg.lr, |_, b| b);
            model = m;
            steps += stats.steps;
            let acc = fitted.loss_and_accuracy(&model.valid()).1;
            curve.push((steps as f64, acc));
            if epoch % 20 == 0 || acc == 1.0 {
                println!("label noise {p}: epoch {epoch}, {steps} steps, training accuracy {}", pct(acc));
            }
            if acc == 1.0 {
                steps_to_fit = Some(steps);
                break;
            }
        }
        let test_accuracy = test.loss_and_accuracy(&model.valid()).1;
        println!("label noise {p}: test accuracy {}", pct(test_accuracy));
        arms.push(Arm { noise: p, curve, steps_to_fit, test_accuracy });
    }

    let clean = arms[0].test_accuracy;
    let expected = |p: f64| (1.0 - p) * clean + p * 0.1;
    let rows: Vec<Vec<String>> = arms
        .iter()
        .map(|a| {
            let fit = a
                .steps_to_fit
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!(">{}", a.curve.last().map(|c| c.0).unwrap_or(0.0)));
            vec![
                cell(a.noise),
                fit,
                cell(a.curve.last().map(|c| c.1).unwrap_or(0.0)),
                cell(a.test_accuracy),
                cell(expected(a.noise)),
            ]
        })
        .collect();
    ctx.write_csv(
        "memorization.csv",
        &["label_noise", "steps_to_fit", "final_train_accuracy", "test_accuracy", "predicted_test_accuracy"],
        &rows,
    )?;
    let mut curve_rows = Vec::new();
    for a in &arms {
        curve_rows.extend(a.curve.iter().map(|(s, acc)| vec![cell(a.noise), cell(*s), cell(*acc)]));
    }
    ctx.write_csv("curves.csv", &["label_noise", "step", "train_accuracy"], &curve_rows)?;

    let labels: Vec<String> = arms.iter().map(|a| format!("{:.0}% random labels", 100.0 * a.noise)).collect();
    train::plot::line_charts(
        &ctx.file("memorization.png"),
        &[
            train::plot::Panel {
                title: "Fitting the training labels",
                x_label: "optimisation steps",
                y_label: "training accuracy (%)",
                series: lines(
                    arms.iter()
                        .zip(&labels)
                        .map(|(a, l)| (l.as_str(), a.curve.iter().map(|&(s, y)| (s, 100.0 * y)).collect())),
                ),
            },
            train::plot::Panel {
                title: "Test accuracy after fitting",
                x_label: "share of random labels",
                y_label: "test accuracy (%)",
                series: lines([
                    ("measured", arms.iter().map(|a| (a.noise, 100.0 * a.test_accuracy)).collect()),
                    ("(1-p)·clean + p·10%", arms.iter().map(|a| (a.noise, 100.0 * expected(a.noise))).collect()),
                ]),
            },
        ],
    )?;

    let all_fit = arms.iter().all(|a| a.steps_to_fit.is_some());
    // Zhang et al.: fitting noise is slower than fitting real labels, by a small constant factor.
    let clean_steps = arms[0].steps_to_fit.unwrap_or(usize::MAX) as f64;
    let factors: Vec<f64> =
        arms[1..].iter().map(|a| a.steps_to_fit.map_or(f64::INFINITY, |s| s as f64 / clean_steps)).collect();
    let slower = factors.iter().all(|&f| f > 1.0 && f < 20.0);
    let (fmin, fmax) = factors.iter().fold((f64::MAX, f64::MIN), |(a, b), &f| (a.min(f), b.max(f)));
    let near = arms.iter().all(|a| (a.test_accuracy - expected(a.noise)).abs() < 0.1);
    let mut report = Report::new(
        "Memorization of random labels",
        &format!(
            "LeNet-5 ({} parameters' worth of LeNet, Adam {} at batch {}) trained from the same initialisation on {} training \
             images of {} whose labels were replaced by a random class with probability p, until it classifies every training \
             image as labelled (100% training accuracy; at most {max_epochs} epochs), then tested on {} clean test images.",
            "61,706",
            cfg.lr,
            cfg.batch_size,
            data.train.len(),
            cfg.dataset,
            data.test.len()
        ),
    );
    report
        .section("Results")
        .table(
            &["p (random labels)", "steps to 100% train accuracy", "final train accuracy", "test accuracy", "(1-p)·clean + p·10%"],
            &arms
                .iter()
                .zip(&rows)
                .map(|(a, r)| vec![r[0].clone(), r[1].clone(), pct(a.curve.last().map(|c| c.1).unwrap_or(0.0)), pct(a.test_accuracy), pct(expected(a.noise))])
                .collect::<Vec<_>>(),
        )
        .image("memorization.png", "training accuracy against steps; test accuracy against label noise")
        .verdict(
            "Zhang et al. (2017): the network reaches 100% training accuracy at every noise level, even on entirely random \
             labels; fitting noisy labels takes longer than fitting real ones, but only by a small constant factor; test \
             accuracy falls to about (1-p)·clean + p·chance.",
            all_fit && slower && near,
            &format!(
                "{} noise levels fitted to 100%; noisy labels took {:.1}x to {:.1}x the steps of clean ones; test accuracy {} \
                 the prediction within 10 points (clean {}, fully random {}).",
                if all_fit { "all" } else { "not all" },
                fmin,
                fmax,
                if near { "matches" } else { "misses" },
                pct(clean),
                pct(arms.last().map(|a| a.test_accuracy).unwrap_or(0.0))
            ),
        );
    report.write(ctx, "experiments memorization")?;
    Ok(arms
        .iter()
        .map(|a| {
            let fit = a.steps_to_fit.map(|s| format!("fitted in {s} steps")).unwrap_or_else(|| "did not fit".into());
            format!(
                "p={:<4} {fit:<22} test accuracy {:>7} (predicted {})",
                a.noise,
                pct(a.test_accuracy),
                pct(expected(a.noise))
            )
        })
        .collect())
}
