//! The `infer` binary's logic: load a checkpoint written by `train`, then classify image files
//! or evaluate on a dataset's test split ([`classify`]), or draw samples, latent walks and the
//! quality score of a generator ([`generate`]). `main` calls [`run`], as the end-to-end tests do.

pub mod classify;
pub mod generate;

pub use classify::classify_image;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use train::cli::parse_args;
use train::models::{Task, task};

/// How to treat the brightness of grayscale inputs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum InvertArg {
    /// Invert images with a light border (dark ink on paper), as MNIST digits are light on dark.
    Auto,
    /// Always invert.
    Always,
    /// Never invert.
    Never,
}

/// The reverse process of a diffusion model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerArg {
    /// Ancestral sampling through all T steps (Ho et al. 2020).
    Ddpm,
    /// DDIM (Song et al. 2021) in --steps steps.
    Ddim,
}

/// Classify images with a trained rikai model or evaluate it on a test split; draw samples from a
/// trained generator, walk its latent space or score it.
#[derive(Debug, Parser)]
#[command(name = "infer", version)]
pub struct Cli {
    /// Model family of the checkpoint: lenet, resnet, alexnet, dcgan or diffusion (the variant
    /// comes from the run).
    pub model: String,
    /// Run directory written by `train` (a classifier's best weights, a generator's latest), or a
    /// checkpoint folder or weight file inside it.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Classifiers: images to classify (PNG or JPEG, any size and colour mode).
    pub images: Vec<PathBuf>,
    /// Classifiers: evaluate on the test split of the run's dataset and print accuracy and
    /// confusion matrix.
    #[arg(long)]
    pub eval: bool,
    /// Dataset for --eval and --evaluate (default: the one the model was trained on).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder holding the dataset files for --eval and --evaluate.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Classifiers: number of most probable classes to print per image.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// Classifiers: brightness inversion of grayscale images.
    #[arg(long, value_enum, default_value_t = InvertArg::Auto)]
    pub invert: InvertArg,
    /// Backend and device: flex, ndarray, wgpu, vulkan, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Generators: images to draw (default 64 for a grid, 10,000 for --evaluate).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Generators: seed of the latent vectors.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Generators: PNG file to write the grid or the latent walk to.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Generators: instead of a grid, walk in a straight line between two random latent points
    /// in this many steps (default 10), one walk per row.
    #[arg(long, num_args = 0..=1, default_missing_value = "10")]
    pub interpolate: Option<usize>,
    /// Generators: rows of the latent walk, each between two other points.
    #[arg(long, default_value_t = 1)]
    pub rows: usize,
    /// Generators: score against real data (LeNet-FID, class shares, confidence) instead of
    /// writing images; needs --classifier.
    #[arg(long)]
    pub evaluate: bool,
    /// Diffusion: ddpm (all T steps, stochastic) or ddim (--steps steps).
    #[arg(long, value_enum, default_value_t = SamplerArg::Ddim)]
    pub sampler: SamplerArg,
    /// Diffusion: DDIM steps.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Diffusion: DDIM's eta, the share of posterior noise kept (0: deterministic).
    #[arg(long, default_value_t = 0.0)]
    pub eta: f64,
    /// Generators: run directory of the LeNet-5 (`train lenet` on the same data) that judges
    /// the images for --evaluate.
    #[arg(long)]
    pub classifier: Option<PathBuf>,
}

/// Everything `infer` does; `Err` is a one-line message for `main` to print.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let Some(cli) = parse_args::<Cli, _, _>(args)? else { return Ok(()) };
    let task = task(&cli.model)?;
    let device = train::device::parse(cli.device.as_deref())?;
    match task {
        Task::Classify => classify::run(&cli, device),
        Task::Adversarial | Task::Diffusion => generate::run(&cli, task, device),
    }
}
