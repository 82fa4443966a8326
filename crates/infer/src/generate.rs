//! Generators (DCGAN and diffusion): sample grids, latent walks and the quality score.

// burn's `slice` takes one range per dimension, as an array even for one dimension.
#![allow(clippy::single_range_in_vec_init)]

use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::{Device, Tensor};
use dcgan::Generator;
use diffusion::Sampler;
use rikai_data::{FolderShape, ImageDataset, Rng};
use train::ddpm::{DiffusionModel, load_diffusion};
use train::gan::{latents, load_generator};
use train::grid::{to_dataset, write_grid};
use train::models::Task;
use train::progress::Progress;
use train::quality::Judge;
use train::run_info::RunInfo;

use crate::{Cli, SamplerArg};

/// Images generated per forward pass of a GAN.
const CHUNK: usize = 500;

/// A trained generative model of either kind.
// One per run, never in a collection: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
pub enum Model {
    /// A DCGAN generator.
    Gan(Generator),
    /// A diffusion model with the sampler to run it with.
    Diffusion(DiffusionModel, Sampler),
}

impl Model {
    /// `n` images drawn with seed `seed`: the same seed gives the same images.
    pub fn generate(
        &self,
        n: usize,
        seed: u64,
        class_names: &[String],
        device: &Device,
    ) -> anyhow::Result<ImageDataset> {
        match self {
            Model::Gan(g) => {
                generate(g, latents(&mut Rng::new(seed), n, g.latent_dim(), device), class_names, "generating")
            }
            Model::Diffusion(model, sampler) => model.generate(n, seed, *sampler, class_names, Some("denoising")),
        }
    }
}

/// Write a grid or a latent walk, or score the generator, as `cli` asks.
pub fn run(cli: &Cli, task: Task, device: Device) -> anyhow::Result<()> {
    if !cli.images.is_empty() || cli.eval {
        bail!(
            "{} generates images: use --out, --interpolate or --evaluate (image files and --eval are for classifiers)",
            cli.model
        );
    }
    let (model, info) = if task == Task::Diffusion {
        if cli.interpolate.is_some() {
            bail!(
                "--interpolate walks a GAN's latent space; a diffusion model draws grids (--out) or is scored (--evaluate)"
            );
        }
        if cli.steps == 0 || !(0.0..=1.0).contains(&cli.eta) {
            bail!("--steps must be at least 1 and --eta lie in [0, 1]");
        }
        let sampler = match cli.sampler {
            SamplerArg::Ddpm => Sampler::Ddpm,
            SamplerArg::Ddim => Sampler::Ddim { steps: cli.steps, eta: cli.eta },
        };
        let (model, info) = load_diffusion(&cli.checkpoint, &device)?;
        (Model::Diffusion(model, sampler), info)
    } else {
        let (generator, info) = load_generator(&cli.checkpoint, &device)?;
        (Model::Gan(generator), info)
    };
    if cli.evaluate {
        return evaluate(cli, &model, &info, &device);
    }
    let started = Instant::now();
    let (images, columns) = match (&model, cli.interpolate) {
        (Model::Gan(generator), Some(steps)) => {
            if steps < 2 || cli.rows < 1 {
                bail!("--interpolate needs at least 2 steps and --rows at least 1");
            }
            let z = walk(generator, cli.seed, steps, cli.rows, &device);
            (generate(generator, z, &info.class_names, "generating")?, steps)
        }
        _ => {
            let n = cli.samples.unwrap_or(64);
            if n == 0 {
                bail!("--samples must be at least 1");
            }
            (model.generate(n, cli.seed, &info.class_names, &device)?, (n as f64).sqrt().ceil() as usize)
        }
    };
    write_grid(&images, columns, &cli.out)?;
    println!(
        "wrote {} images ({columns} per row) to {} in {:.1}s",
        images.len(),
        cli.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Latent vectors on `rows` straight lines, each from one random point to another in `steps`
/// evenly spaced stops (Radford et al. 2016, section 6.1: smooth transitions mean the model
/// has learned relevant representations rather than memorised images).
pub fn walk(generator: &Generator, seed: u64, steps: usize, rows: usize, device: &Device) -> Tensor<2> {
    let dim = generator.latent_dim();
    let ends = latents(&mut Rng::new(seed), 2 * rows, dim, device);
    let lines = (0..rows).map(|r| {
        let (from, to) = (ends.clone().slice([2 * r..2 * r + 1]), ends.clone().slice([2 * r + 1..2 * r + 2]));
        let stops = (0..steps).map(|i| {
            let t = i as f64 / (steps - 1) as f64;
            from.clone().mul_scalar(1.0 - t) + to.clone().mul_scalar(t)
        });
        Tensor::cat(stops.collect(), 0)
    });
    Tensor::cat(lines.collect(), 0)
}

/// The images of latent vectors `z`, generated in chunks, as 8-bit pixels.
pub fn generate(
    generator: &Generator,
    z: Tensor<2>,
    class_names: &[String],
    label: &str,
) -> anyhow::Result<ImageDataset> {
    let n = z.dims()[0];
    let mut progress = Progress::terminal_only(label, n.div_ceil(CHUNK));
    let mut out: Option<ImageDataset> = None;
    for (step, start) in (0..n).step_by(CHUNK).enumerate() {
        let chunk = to_dataset(generator.forward(z.clone().slice([start..(start + CHUNK).min(n)])), class_names)?;
        match &mut out {
            Some(all) => all.append(chunk),
            None => out = Some(chunk),
        }
        progress.update(step + 1, String::new);
    }
    progress.finish();
    out.context("no images to generate")
}

/// Score the generator against the real data of its run with a LeNet-5 judge.
fn evaluate(cli: &Cli, model: &Model, info: &RunInfo, device: &Device) -> anyhow::Result<()> {
    let Some(classifier) = &cli.classifier else {
        bail!("--evaluate needs --classifier <run directory of a LeNet-5 trained on the same data>");
    };
    let judge = Judge::load(classifier, device)?;
    let n = cli.samples.unwrap_or(10_000);
    if n < 2 {
        bail!("--samples must be at least 2 to fit a Gaussian");
    }
    let dataset = cli.dataset.clone().unwrap_or_else(|| info.config.dataset.clone());
    let data_dir = cli.data_dir.clone().or_else(|| info.config.data_dir.clone());
    let shape = FolderShape { channels: info.config.channels, size: info.config.image_size };
    let real = rikai_data::load_dataset(&dataset, data_dir.as_deref(), shape)?;
    // As many real training images as generated ones where the split has them, chosen by seed.
    let order = Rng::derive(cli.seed, 1).permutation(real.train.len());
    let real_train = real.train.subset(&order[..n.min(order.len())]);
    let started = Instant::now();
    let generated = model.generate(n, cli.seed, &info.class_names, device)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("generated {n} images in {seconds:.1}s ({:.2}s per 64)", seconds * 64.0 / n as f64);
    let quality = judge.score(&generated, &real_train, &real.test)?;
    print!("{}", quality.report(judge.class_names()));
    Ok(())
}
