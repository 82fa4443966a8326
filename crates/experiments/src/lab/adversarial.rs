//! `adversarial`: Goodfellow, Shlens & Szegedy (2015), "Explaining and harnessing adversarial
//! examples". The fast gradient sign method moves every pixel by ε in the direction that raises
//! the loss; a network that is nearly linear in its input is fooled by a change too small to
//! change the digit, and fooled with confidence. Training on such examples makes it resist.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use rikai_data::{Batch, Batcher, Normalization};
use train::models::Classifier;

use crate::ctx::{Ctx, Report, cell, pct};
use crate::fit::{Probe, cross_entropy, train_pass};

/// Perturbation sizes, in pixel units (images lie in [0, 1]).
pub const EPSILONS: [f64; 5] = [0.0, 0.05, 0.1, 0.2, 0.3];
/// The ε adversarial training uses (Goodfellow et al. use 0.25 on MNIST).
const TRAIN_EPSILON: f64 = 0.25;

/// FGSM examples of `batch` for `model`: `clip(x + ε·sign(∇ₓ L(x, y)))`, with ε in pixel units
/// and images normalised by `norm`, so the clip keeps pixels in [0, 1].
pub fn fgsm(model: &Classifier, batch: &Batch, epsilon: f64, norm: &Normalization) -> Tensor<4> {
    let images = batch.images.clone().without_autodiff();
    let device = images.device();
    let channels = norm.std.len();
    let per_channel = |f: &dyn Fn(usize) -> f32| {
        let values: Vec<f32> = (0..channels).map(f).collect();
        Tensor::<4>::from_data(TensorData::new(values, [1, channels, 1, 1]), &device)
    };
    let step = per_channel(&|c| epsilon as f32 / norm.std[c]);
    let shape = images.shape();
    let lo = per_channel(&|c| -norm.mean[c] / norm.std[c]).expand(shape.clone());
    let hi = per_channel(&|c| (1.0 - norm.mean[c]) / norm.std[c]).expand(shape);
    let x = images.clone().autodiff().require_grad();
    let loss = cross_entropy(model.forward(x.clone()), batch.targets.clone().autodiff());
    let grad = x.grad(&loss.backward()).expect("the input requires a gradient");
    (images + grad.sign() * step).max_pair(lo).min_pair(hi)
}

/// Accuracy under FGSM at `epsilon` and the mean confidence of the wrong answers.
fn attack(model: &Classifier, probe: &Probe, epsilon: f64, norm: &Normalization) -> (f64, f64) {
    let (mut correct, mut wrong, mut wrong_confidence) = (0usize, 0usize, 0.0f64);
    let eval = model.valid();
    for b in probe.batches() {
        let adv = if epsilon > 0.0 { fgsm(&eval, b, epsilon, norm) } else { b.images.clone() };
        let probs: Vec<f32> = softmax(eval.forward(adv), 1).into_data().iter::<f32>().collect();
        let targets: Vec<i64> = b.targets.clone().into_data().iter::<i64>().collect();
        let k = probs.len() / targets.len();
        for (row, &t) in probs.chunks(k).zip(&targets) {
            let (best, p) = row.iter().enumerate().fold((0, f32::MIN), |a, (i, &p)| if p > a.1 { (i, p) } else { a });
            if best as i64 == t {
                correct += 1;
            } else {
                wrong += 1;
                wrong_confidence += p as f64;
            }
        }
    }
    (correct as f64 / probe.len().max(1) as f64, if wrong > 0 { wrong_confidence / wrong as f64 } else { f64::NAN })
}

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let mut cfg = ctx.base_config("lenet");
    (cfg.epochs, cfg.batch_size, cfg.lr) = (ctx.pick(10, 2), 32, 2e-3);
    if ctx.quick {
        (cfg.limit_train, cfg.limit_test) = (1024, 256);
    }
    let (model, _, data) = ctx.train_classifier("lenet", &cfg)?;
    let norm = data.normalization.clone();
    let probe = Probe::first(&data.test, data.test.len(), &Batcher::new(norm.clone(), ctx.device.clone()));
    let standard: Vec<(f64, f64)> = EPSILONS.iter().map(|&e| attack(&model, &probe, e, &norm)).collect();

    // One round of adversarial training: continue from the trained weights on batches of clean
    // and FGSM images in equal parts (the paper's objective with α = 0.5).
    let adv_epochs = ctx.pick(3, 1);
    let device = ctx.device.clone().autodiff();
    let mut robust = model.clone().train().fork(&device);
    let mut optim = train::optim::build_optimizer(&cfg);
    let batcher = Batcher::new(norm.clone(), device.clone());
    for epoch in 1..=adv_epochs {
        let (_, order) = train::checkpoint::epoch_randomness(&device, ctx.seed, 1000 + epoch, data.train.len());
        let (m, stats) = train_pass(robust, &mut optim, &data.train, &order, &batcher, 32, cfg.lr * 0.5, |m, b| {
            let adv = fgsm(m, &b, TRAIN_EPSILON, &norm).autodiff();
            Batch {
                images: Tensor::cat(vec![b.images, adv], 0),
                targets: Tensor::cat(vec![b.targets.clone(), b.targets], 0),
            }
        });
        robust = m;
        println!(
            "adversarial training epoch {epoch}/{adv_epochs}: loss {:.4} (clean + FGSM ε={TRAIN_EPSILON})",
            stats.loss
        );
    }
    let robust = robust.valid();
    let hardened: Vec<(f64, f64)> = EPSILONS.iter().map(|&e| attack(&robust, &probe, e, &norm)).collect();

    let rows: Vec<Vec<String>> = EPSILONS
        .iter()
        .zip(standard.iter().zip(&hardened))
        .map(|(e, (s, h))| vec![cell(*e), cell(s.0), cell(s.1), cell(h.0), cell(h.1)])
        .collect();
    let header = ["epsilon", "accuracy", "wrong_confidence", "adv_trained_accuracy", "adv_trained_wrong_confidence"];
    ctx.write_csv("fgsm.csv", &header, &rows)?;
    let line = |label, v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64, color| train::plot::Series {
        label,
        points: EPSILONS.iter().zip(v).map(|(&e, r)| (e, 100.0 * f(r))).collect(),
        color,
    };
    let [blue, orange, ..] = crate::plots::PALETTE;
    train::plot::line_charts(
        &ctx.file("fgsm.png"),
        &[
            train::plot::Panel {
                title: "Test accuracy under FGSM",
                x_label: "epsilon (pixel units)",
                y_label: "accuracy (%)",
                series: vec![
                    line("standard", &standard, |r| r.0, blue),
                    line("adversarially trained", &hardened, |r| r.0, orange),
                ],
            },
            train::plot::Panel {
                title: "Confidence of wrong answers",
                x_label: "epsilon (pixel units)",
                y_label: "mean max softmax (%)",
                series: vec![
                    line("standard", &standard, |r| r.1, blue),
                    line("adversarially trained", &hardened, |r| r.1, orange),
                ],
            },
        ],
    )?;

    let at = |v: &[(f64, f64)], e: f64| v[EPSILONS.iter().position(|&x| x == e).expect("listed ε")];
    // Goodfellow et al. attack MNIST at ε = 0.25; 0.2 is the nearest point of the grid.
    let (clean, fooled) = (at(&standard, 0.0).0, at(&standard, 0.2).0);
    let gain = at(&hardened, 0.2).0 - fooled;
    let agrees = fooled < 0.5 * clean && gain > 0.1 && at(&hardened, 0.0).0 > clean - 0.02;
    let mut report = Report::new(
        "Adversarial examples (FGSM)",
        &format!(
            "LeNet-5 trained for {} epochs on {} ({} images), then attacked on {} test images with the fast gradient sign method, \
             x' = clip(x + ε·sign(∇ₓL)); then fine-tuned for {adv_epochs} epochs on clean and FGSM (ε = {TRAIN_EPSILON}) images \
             in equal parts and attacked again.",
            cfg.epochs,
            cfg.dataset,
            data.train.len(),
            probe.len()
        ),
    );
    report
        .section("Results")
        .table(&["ε", "accuracy", "confidence of wrong answers", "adv. trained accuracy", "adv. trained confidence of wrong answers"], &rows.iter().map(|r| {
            let p = |s: &str| s.parse::<f64>().map(pct).unwrap_or_else(|_| s.to_string());
            vec![r[0].clone(), p(&r[1]), p(&r[2]), p(&r[3]), p(&r[4])]
        }).collect::<Vec<_>>())
        .image("fgsm.png", "accuracy and confidence against epsilon")
        .verdict(
            "Goodfellow et al. (2015): a perturbation of ε = 0.25 per pixel, which leaves the digit plain to a person, makes a \
             standard MNIST network wrong on most inputs (89.4% error for their maxout network), with high confidence in the \
             wrong class; adversarial training makes the network markedly more robust while clean accuracy stays about the same.",
            agrees,
            &format!(
                "clean accuracy {}, at ε = 0.2 {} (wrong answers given with {} confidence); after adversarial training {} at \
                 ε = 0.2 ({:+.1} points) and {} clean.",
                pct(clean),
                pct(fooled),
                pct(at(&standard, 0.2).1),
                pct(at(&hardened, 0.2).0),
                100.0 * gain,
                pct(at(&hardened, 0.0).0)
            ),
        );
    report.write(ctx, "experiments adversarial")?;
    Ok(EPSILONS
        .iter()
        .zip(standard.iter().zip(&hardened))
        .map(|(e, (s, h))| {
            format!(
                "ε={e:<4}  accuracy {:>7}  wrong-class confidence {:>7}  | adversarially trained {:>7}",
                pct(s.0),
                pct(s.1),
                pct(h.0)
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use train::classify::Data;
    use train::config::TrainConfig;

    use super::*;
    use crate::fit::fresh_classifier;

    #[test]
    fn fgsm_raises_the_loss_and_keeps_pixels_in_range() {
        let cfg = TrainConfig { limit_train: 64, limit_test: 64, valid_fraction: 0.0, ..Default::default() };
        let data = Data::load(&cfg).unwrap();
        let device = Device::flex();
        let model = fresh_classifier(&cfg, &data.input, &device).unwrap().valid();
        let norm = data.normalization.clone();
        let batch = Batcher::new(norm.clone(), device).batch(&data.train, &(0..64).collect::<Vec<_>>());
        let clean = cross_entropy(model.forward(batch.images.clone()), batch.targets.clone()).into_scalar::<f32>();
        let adv = fgsm(&model, &batch, 0.1, &norm);
        let attacked = cross_entropy(model.forward(adv.clone()), batch.targets.clone()).into_scalar::<f32>();
        assert!(attacked > clean, "FGSM must raise the loss: {clean} -> {attacked}");
        // Back in pixel units: every pixel in [0, 1] and moved by at most ε.
        let (mean, std) = (norm.mean[0], norm.std[0]);
        let before: Vec<f32> = batch.images.into_data().iter::<f32>().map(|x| x * std + mean).collect();
        let after: Vec<f32> = adv.into_data().iter::<f32>().map(|x| x * std + mean).collect();
        assert!(after.iter().all(|&p| (-1e-5..=1.0 + 1e-5).contains(&p)));
        assert!(before.iter().zip(&after).all(|(a, b)| (a - b).abs() <= 0.1 + 1e-5));
        assert!(before.iter().zip(&after).any(|(a, b)| (a - b).abs() > 0.09), "pixels move by ε");
    }
}
