//! The adversarial training loop of DCGAN (Goodfellow et al. 2014, with the architecture and
//! optimiser settings of Radford et al. 2016).
//!
//! Each step first updates the discriminator on a real batch (target 1) and a generated batch
//! (target 0), then the generator with the non-saturating loss -log D(G(z)), which gives strong
//! gradients early, when the discriminator rejects every sample. Images are scaled to [-1, 1]
//! to match the generator's tanh.

mod report;

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use dcgan::Generator;
use rikai_data::{Batcher, ImageDataset, Rng};

pub use report::{GanEpoch, GanState};

use crate::checkpoint::{self, load_model, save_model};
use crate::config::TrainConfig;
use crate::generative;
use crate::grid::{to_dataset, write_grid};
use crate::models::{dcgan_config, trainable_params};
use crate::optim::{build_optimizer, learning_rate};
use crate::progress::Progress;
use crate::run_info::RunInfo;

/// Fixed latent vectors shown in every epoch's sample grid.
const GRID_SAMPLES: usize = 64;
/// Below this diversity ratio the generator is reported as collapsed.
const COLLAPSE_DIVERSITY: f64 = 0.25;

/// Mean binary cross-entropy of `logits` against an all-`real` target, computed stably as
/// -log sigmoid(±logit).
pub(crate) fn bce_with_logits(logits: Tensor<1>, real: bool) -> Tensor<1> {
    let signed = if real { logits } else { logits.neg() };
    log_sigmoid(signed).mean().neg()
}

/// `n` latent vectors drawn from N(0, I) by the seeded stream `rng` (independent of backend).
pub fn latents(rng: &mut Rng, n: usize, latent_dim: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(rng.normals(n * latent_dim), [n, latent_dim]), device)
}

/// Mean over pixels of the standard deviation across images: how different the images are.
fn spread(images: &ImageDataset) -> f64 {
    let (n, len) = (images.len(), images.image_len());
    if n < 2 {
        return 0.0;
    }
    let total: f64 = (0..len)
        .map(|p| {
            let values = (0..n).map(|i| images.pixels[i * len + p] as f64);
            let mean = values.clone().sum::<f64>() / n as f64;
            (values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        })
        .sum();
    total / len as f64
}

/// Load a trained generator for sampling from `checkpoint`: a run directory (its latest
/// weights), a checkpoint folder in one or a `generator.bpk`. Batch norm is in inference mode:
/// its running statistics make an image depend on its latent vector alone.
pub fn load_generator(checkpoint: &Path, device: &Device) -> anyhow::Result<(Generator, RunInfo)> {
    let (info, weights) = crate::run_info::load_checkpoint_info(checkpoint, "dcgan", "generator.bpk", None)?;
    let generator = dcgan_config(&info.config, &info.input)?.init_generator(device);
    Ok((load_model(generator, &weights)?.valid(), info))
}

/// Train a DCGAN as `cfg` says into run directory `run` (resuming from its latest checkpoint
/// with `resume`); returns the history, or `None` when halted by `halt_after`.
pub fn train(
    cfg: &TrainConfig,
    run: &Path,
    device: &Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<Option<Vec<GanEpoch>>> {
    let (data, info) = generative::prepare(cfg)?;
    let gan = dcgan_config(cfg, &data.input)?;
    generative::start(run, &info, data.train.len(), resume)?;
    let normalization = info.normalization.clone();

    device.seed(cfg.seed);
    let train_device = device.clone().autodiff();
    let mut generator = gan.init_generator(&train_device);
    let mut discriminator = gan.init_discriminator(&train_device);
    let (mut optim_g, mut optim_d) = (build_optimizer(cfg), build_optimizer(cfg));
    let mut state = GanState { model: cfg.model.clone(), ..Default::default() };
    if let Some(dir) = if resume { checkpoint::latest_if_any(run)? } else { None } {
        state = checkpoint::load_state(&dir)?;
        generator = load_model(generator, &dir.join("generator.bpk"))?;
        discriminator = load_model(discriminator, &dir.join("discriminator.bpk"))?;
        optim_g = checkpoint::load_optim(optim_g, &dir.join("optim-generator.bpk"))?;
        optim_d = checkpoint::load_optim(optim_d, &dir.join("optim-discriminator.bpk"))?;
        report::write(run, &state.history)?;
        println!("resuming {} after epoch {} of {}", run.display(), state.epochs_done, cfg.epochs);
    }
    println!(
        "dcgan: generator {} parameters, discriminator {} parameters, z of {}",
        trainable_params(&generator),
        trainable_params(&discriminator),
        gan.latent_dim
    );

    let batcher = Batcher::new(normalization, train_device.clone());
    let fixed_z = latents(&mut Rng::derive(cfg.seed, 2_000_000), GRID_SAMPLES, gan.latent_dim, device);
    let reference = Rng::derive(cfg.seed, 3_000_000).permutation(data.train.len());
    let real_spread = spread(&data.train.subset(&reference[..data.train.len().min(4 * GRID_SAMPLES)]));
    let steps_per_epoch = data.train.len().div_ceil(cfg.batch_size);

    for epoch in state.epochs_done + 1..=cfg.epochs {
        let (_, order) = checkpoint::epoch_randomness(device, cfg.seed, epoch, data.train.len());
        let started = Instant::now();
        let mut progress = Progress::new(format!("epoch {epoch}/{}", cfg.epochs), steps_per_epoch);
        let mut sums = [0.0f64; 4];
        let mut seen = 0usize;
        let lr_start = learning_rate(cfg, (epoch - 1) * steps_per_epoch, steps_per_epoch);
        for (step, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let lr = learning_rate(cfg, (epoch - 1) * steps_per_epoch + step, steps_per_epoch);
            let real = batcher.batch(&data.train, chunk).images;
            let z = Tensor::random([chunk.len(), gan.latent_dim], Distribution::Normal(0.0, 1.0), &train_device);

            // Discriminator: real towards 1, generated (not back-propagated into G) towards 0.
            let real_logits = discriminator.forward(real);
            let fake_logits = discriminator.forward(generator.forward(z.clone()).detach());
            let d_real = sigmoid(real_logits.clone()).mean();
            let d_fake = sigmoid(fake_logits.clone()).mean();
            let d_loss = bce_with_logits(real_logits, true) + bce_with_logits(fake_logits, false);
            let grads = GradientsParams::from_grads(d_loss.backward(), &discriminator);
            discriminator = optim_d.step(lr, discriminator, grads);

            // Generator: make the updated discriminator call its images real.
            let g_loss = bce_with_logits(discriminator.forward(generator.forward(z)), true);
            let grads = GradientsParams::from_grads(g_loss.backward(), &generator);
            generator = optim_g.step(lr, generator, grads);

            // One read-back per step for all four numbers.
            let values: Vec<f32> = Tensor::cat(vec![d_loss, g_loss, d_real, d_fake], 0)
                .into_data_as::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading losses: {e:?}"))?;
            if values.iter().any(|v| !v.is_finite()) {
                let losses = format!("d_loss {:e}, g_loss {:e}", values[0], values[1]);
                return Err(checkpoint::diverged(run, epoch, step + 1, &losses));
            }
            for (sum, v) in sums.iter_mut().zip(&values) {
                *sum += *v as f64 * chunk.len() as f64;
            }
            seen += chunk.len();
            progress.update(step + 1, || {
                format!(
                    "d_loss {:.3} g_loss {:.3} D(x) {:.2} D(G(z)) {:.2}",
                    sums[0] / seen as f64,
                    sums[1] / seen as f64,
                    sums[2] / seen as f64,
                    sums[3] / seen as f64
                )
            });
        }
        progress.finish();
        let seconds = started.elapsed().as_secs_f64();

        let samples = to_dataset(generator.valid().forward(fixed_z.clone()), &data.train.class_names)?;
        write_grid(&samples, 8, &run.join("samples").join(format!("epoch-{epoch:04}.png")))?;
        let mean = |i: usize| sums[i] / seen as f64;
        state.history.push(GanEpoch {
            epoch,
            d_loss: mean(0),
            g_loss: mean(1),
            d_real: mean(2),
            d_fake: mean(3),
            diversity: spread(&samples) / real_spread.max(1e-9),
            lr: lr_start,
            seconds,
            images_per_sec: seen as f64 / seconds,
        });
        state.epochs_done = epoch;
        checkpoint::save_with(run, epoch, &state, |dir| {
            save_model(&generator, &dir.join("generator.bpk"))?;
            save_model(&discriminator, &dir.join("discriminator.bpk"))?;
            checkpoint::save_optim(&optim_g, &dir.join("optim-generator.bpk"))?;
            checkpoint::save_optim(&optim_d, &dir.join("optim-discriminator.bpk"))
        })?;
        report::write(run, &state.history)?;
        let m = state.history.last().expect("just pushed");
        println!(
            "epoch {epoch}/{}  d_loss {:.4} g_loss {:.4}  D(x) {:.3} D(G(z)) {:.3}  diversity {:.2}  {:.1}s  {:.0} img/s",
            cfg.epochs, m.d_loss, m.g_loss, m.d_real, m.d_fake, m.diversity, m.seconds, m.images_per_sec
        );
        warn_if_failing(m);
        if halt_after.is_some_and(|n| epoch >= n && epoch < cfg.epochs) {
            return Ok(None);
        }
    }
    Ok(Some(state.history))
}

/// Report the two classic failures; training goes on, since GANs often recover.
fn warn_if_failing(m: &GanEpoch) {
    if m.diversity < COLLAPSE_DIVERSITY {
        println!(
            "warning: mode collapse suspected: the fixed-latent samples vary {:.0}% as much as real images",
            100.0 * m.diversity
        );
    }
    if m.d_real > 0.99 && m.d_fake < 0.01 {
        println!(
            "warning: the discriminator wins outright (D(x) {:.3}, D(G(z)) {:.3}): the generator's gradients vanish",
            m.d_real, m.d_fake
        );
    }
}
