//! What the generative loops (GAN and diffusion) share: the data, scaled to [-1, 1], and the
//! start of the run directory.

use std::path::Path;

use rikai_data::Normalization;

use crate::classify::Data;
use crate::config::TrainConfig;
use crate::run_info::{RunInfo, start_or_check};

/// Pixels scaled to [-1, 1], the range of a tanh output: (p/255 - 0.5) / 0.5.
pub fn tanh_normalization(channels: usize) -> Normalization {
    Normalization { mean: vec![0.5; channels], std: vec![0.5; channels] }
}

/// Load the training images of `cfg` (all of them: a generator has nothing to validate) and the
/// model card of the run.
pub fn prepare(cfg: &TrainConfig) -> anyhow::Result<(Data, RunInfo)> {
    let data = Data::load(&TrainConfig { valid_fraction: 0.0, ..cfg.clone() })?;
    let info = RunInfo {
        config: cfg.clone(),
        input: data.input.clone(),
        normalization: tanh_normalization(data.input.channels),
        class_names: data.train.class_names.clone(),
    };
    Ok((data, info))
}

/// Create the run directory (or check it on resume) and say what is trained on.
pub fn start(run: &Path, info: &RunInfo, images: usize, resume: bool) -> anyhow::Result<()> {
    start_or_check(run, info, resume)?;
    let i = &info.input;
    println!(
        "{}: {images} training images of {}x{}x{}; run directory {}",
        info.config.dataset,
        i.channels,
        i.height,
        i.width,
        run.display()
    );
    Ok(())
}
