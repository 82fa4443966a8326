//! The training loop of DDPM (Ho et al. 2020, algorithm 1): draw a step t and noise for every
//! image, noise the images in closed form, regress the network's output onto the noise (or the
//! velocity), and keep an exponential moving average of the weights, which is what samples.

mod ema;
mod report;

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use diffusion::{NoiseSchedule, Objective, Sampler, UNet, sample};
use rikai_data::{Batcher, ImageDataset, Rng};

pub use report::{DiffusionEpoch, DiffusionState};

use crate::checkpoint::{self, load_model, save_model};
use crate::config::TrainConfig;
use crate::generative;
use crate::grid::{to_dataset, write_grid};
use crate::models::{trainable_params, unet_config};
use crate::optim::{build_optimizer, learning_rate};
use crate::progress::Progress;
use crate::run_info::RunInfo;

/// Images in the grid drawn after every epoch.
const GRID_SAMPLES: usize = 64;
/// Images denoised together when sampling many.
const CHUNK: usize = 250;

/// A trained diffusion model ready to sample: the averaged weights and the forward process.
pub struct DiffusionModel {
    /// The noise-prediction network (the weight average).
    pub unet: UNet,
    /// The forward process it was trained on.
    pub schedule: NoiseSchedule,
    /// What the network predicts.
    pub objective: Objective,
    /// Image shape `[channels, height, width]`.
    pub shape: [usize; 3],
}

impl DiffusionModel {
    fn new(unet: UNet, cfg: &TrainConfig, shape: [usize; 3]) -> Self {
        let k = &cfg.diffusion;
        DiffusionModel {
            unet,
            schedule: NoiseSchedule::new(k.noise_schedule, k.timesteps),
            objective: k.objective,
            shape,
        }
    }

    /// Generate `n` images with `sampler` from noise drawn by seed `seed` (the same seed gives
    /// the same images on the same backend). Progress over the denoising steps shows on a
    /// terminal, and with a `log_label` also as plain lines in logs.
    pub fn generate(
        &self,
        n: usize,
        seed: u64,
        sampler: Sampler,
        class_names: &[String],
        log_label: Option<&str>,
    ) -> anyhow::Result<ImageDataset> {
        let device = self.unet.devices().into_iter().next().context("a model without parameters")?;
        let [c, h, w] = self.shape;
        let steps = sampler.timesteps(self.schedule.len()).len();
        let chunks = n.div_ceil(CHUNK);
        let mut progress = match log_label {
            Some(label) => Progress::new(label, steps * chunks),
            None => Progress::terminal_only("sampling", steps * chunks),
        };
        let (mut start_noise, mut step_noise) = (Rng::derive(seed, 0), Rng::derive(seed, 1));
        let normal = |rng: &mut Rng, b: usize| {
            Tensor::<4>::from_data(TensorData::new(rng.normals(b * c * h * w), [b, c, h, w]), &device)
        };
        let mut out: Option<ImageDataset> = None;
        for chunk in 0..chunks {
            let b = CHUNK.min(n - chunk * CHUNK);
            let x = normal(&mut start_noise, b);
            let images = sample(
                &self.unet,
                &self.schedule,
                self.objective,
                sampler,
                x,
                || normal(&mut step_noise, b),
                |done, _| progress.update(chunk * steps + done, String::new),
            );
            let images = to_dataset(images, class_names)?;
            match &mut out {
                Some(all) => all.append(images),
                None => out = Some(images),
            }
        }
        progress.finish();
        out.context("no images to generate")
    }
}

/// Load a trained diffusion model for sampling from `checkpoint`: a run directory (its latest
/// weight average), a checkpoint folder in one or an `ema.bpk`.
pub fn load_diffusion(checkpoint: &Path, device: &Device) -> anyhow::Result<(DiffusionModel, RunInfo)> {
    let (info, weights) = crate::run_info::load_checkpoint_info(checkpoint, "diffusion", "ema.bpk", None)?;
    let unet = load_model(unet_config(&info.config, info.input.channels).init(device), &weights)?;
    let shape = [info.input.channels, info.input.height, info.input.width];
    Ok((DiffusionModel::new(unet, &info.config, shape), info))
}

/// Train a diffusion model as `cfg` says into run directory `run` (resuming from its latest
/// checkpoint with `resume`); returns the history, or `None` when halted by `halt_after`.
pub fn train(
    cfg: &TrainConfig,
    run: &Path,
    device: &Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<Option<Vec<DiffusionEpoch>>> {
    let (data, info) = generative::prepare(cfg)?;
    generative::start(run, &info, data.train.len(), resume)?;
    let (c, h, w) = (data.input.channels, data.input.height, data.input.width);
    let normalization = info.normalization.clone();

    device.seed(cfg.seed);
    let train_device = device.clone().autodiff();
    let mut unet = unet_config(cfg, c).init(&train_device);
    let mut average = unet.valid();
    let mut optim = build_optimizer(cfg);
    let mut state = DiffusionState { model: cfg.model.clone(), ..Default::default() };
    if let Some(dir) = if resume { checkpoint::latest_if_any(run)? } else { None } {
        state = checkpoint::load_state(&dir)?;
        unet = load_model(unet, &dir.join("unet.bpk"))?;
        average = load_model(average, &dir.join("ema.bpk"))?;
        optim = checkpoint::load_optim(optim, &dir.join("optim.bpk"))?;
        report::write(run, &state.history)?;
        println!("resuming {} after epoch {} of {}", run.display(), state.epochs_done, cfg.epochs);
    }
    let k = &cfg.diffusion;
    let schedule = NoiseSchedule::new(k.noise_schedule, k.timesteps);
    println!(
        "diffusion: UNet of {} parameters, {:?} schedule over {} steps, {:?} objective",
        trainable_params(&unet),
        k.noise_schedule,
        k.timesteps,
        k.objective
    );

    let batcher = Batcher::new(normalization, train_device.clone());
    let steps_per_epoch = data.train.len().div_ceil(cfg.batch_size);
    let grid_sampler = Sampler::Ddim { steps: k.sample_steps, eta: 0.0 };
    for epoch in state.epochs_done + 1..=cfg.epochs {
        let (mut rng, order) = checkpoint::epoch_randomness(device, cfg.seed, epoch, data.train.len());
        let started = Instant::now();
        let mut progress = Progress::new(format!("epoch {epoch}/{}", cfg.epochs), steps_per_epoch);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let lr_start = learning_rate(cfg, (epoch - 1) * steps_per_epoch, steps_per_epoch);
        for (step, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let lr = learning_rate(cfg, (epoch - 1) * steps_per_epoch + step, steps_per_epoch);
            let x0 = batcher.batch(&data.train, chunk).images;
            let t: Vec<usize> = chunk.iter().map(|_| rng.below(schedule.len())).collect();
            let noise = Tensor::random(x0.dims(), Distribution::Normal(0.0, 1.0), &train_device);
            let x_t = schedule.noisy(x0.clone(), noise.clone(), &t);
            let target = schedule.target(k.objective, x0, noise, &t);
            let times: Vec<f32> = t.iter().map(|&t| t as f32).collect();
            let time = Tensor::from_data(TensorData::new(times, [t.len()]), &train_device);
            let loss = (unet.forward(x_t, time) - target).powi_scalar(2).mean();
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return Err(checkpoint::diverged(run, epoch, step + 1, &format!("loss {loss_value}")));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &unet);
            unet = optim.step(lr, unet, grads);
            average = ema::update(average, &unet.valid(), ema::decay_at(k.ema_decay, state.steps_done));
            state.steps_done += 1;
            loss_sum += loss_value * chunk.len() as f64;
            seen += chunk.len();
            progress.update(step + 1, || format!("loss {:.4}", loss_sum / seen as f64));
        }
        progress.finish();
        let seconds = started.elapsed().as_secs_f64();

        // The same noise every epoch, so the grids show the model converging.
        let model = DiffusionModel::new(average.clone(), cfg, [c, h, w]);
        let samples = model.generate(GRID_SAMPLES, cfg.seed, grid_sampler, &data.train.class_names, None)?;
        write_grid(&samples, 8, &run.join("samples").join(format!("epoch-{epoch:04}.png")))?;
        state.history.push(DiffusionEpoch {
            epoch,
            loss: loss_sum / seen as f64,
            lr: lr_start,
            seconds,
            images_per_sec: seen as f64 / seconds,
        });
        state.epochs_done = epoch;
        checkpoint::save_with(run, epoch, &state, |dir| {
            save_model(&unet, &dir.join("unet.bpk"))?;
            save_model(&average, &dir.join("ema.bpk"))?;
            checkpoint::save_optim(&optim, &dir.join("optim.bpk"))
        })?;
        report::write(run, &state.history)?;
        let m = state.history.last().expect("just pushed");
        println!(
            "epoch {epoch}/{}  loss {:.4}  lr {:.2e}  {:.1}s  {:.0} img/s",
            cfg.epochs, m.loss, m.lr, m.seconds, m.images_per_sec
        );
        if halt_after.is_some_and(|n| epoch >= n && epoch < cfg.epochs) {
            return Ok(None);
        }
    }
    Ok(Some(state.history))
}
