//! `run.json`: what a checkpoint needs besides its weights to be used for inference — the model
//! family and knobs, the input shape, the normalisation and the class names.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use rikai_data::Normalization;
use serde::{Deserialize, Serialize};

use crate::checkpoint::load_model;
use crate::config::TrainConfig;
use crate::models::{Classifier, InputSpec};
use crate::run_dir::write_atomic;

/// The model card of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The merged training configuration.
    pub config: TrainConfig,
    /// Shape of the model's input and output.
    pub input: InputSpec,
    /// Normalisation applied to pixels scaled to [0, 1].
    pub normalization: Normalization,
    /// Class names by index.
    pub class_names: Vec<String>,
}

impl RunInfo {
    /// Write `run.json` into `run`.
    pub fn save(&self, run: &Path) -> anyhow::Result<()> {
        write_atomic(&run.join("run.json"), serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// Read `run.json` from `run`.
    pub fn load(run: &Path) -> anyhow::Result<RunInfo> {
        let path = run.join("run.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read (is {} a run directory?)", path.display(), run.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: corrupt run description: {e}", path.display()))
    }
}

/// Begin a run in `run` (create it, save `config.toml` and `run.json`), or, when resuming,
/// check that the data still looks as the run recorded.
pub fn start_or_check(run: &Path, info: &RunInfo, resume: bool) -> anyhow::Result<()> {
    if resume {
        let saved = RunInfo::load(run)?;
        if saved.input != info.input || saved.normalization != info.normalization {
            bail!(
                "{}: the data no longer matches this run (different images or split)",
                run.join("run.json").display()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(run).with_context(|| format!("{}: cannot create run directory", run.display()))?;
    write_atomic(&run.join("config.toml"), info.config.to_toml().as_bytes())?;
    info.save(run)
}

/// Resolve `--checkpoint` to the run directory and the weight file `file` (`model.bpk`,
/// `generator.bpk`, `ema.bpk`): `path` is a weight file inside a run, a checkpoint folder
/// holding `file`, or a run directory, which gives its `best` file when it has one and else
/// its latest checkpoint's `file`.
pub fn resolve_checkpoint(path: &Path, file: &str, best: Option<&str>) -> anyhow::Result<(PathBuf, PathBuf)> {
    if path.is_file() {
        let run = path
            .ancestors()
            .skip(1)
            .find(|p| p.join("run.json").is_file())
            .with_context(|| format!("{}: no run.json beside or above this weight file", path.display()))?;
        return Ok((run.to_path_buf(), path.to_path_buf()));
    }
    if !path.is_dir() {
        bail!("{}: no such checkpoint or run directory", path.display());
    }
    if path.join(file).is_file() {
        return resolve_checkpoint(&path.join(file), file, best);
    }
    if let Some(best) = best.map(|b| path.join(b)).filter(|b| b.is_file()) {
        return Ok((path.to_path_buf(), best));
    }
    let latest = crate::checkpoint::latest(path)?;
    Ok((path.to_path_buf(), latest.join(file)))
}

/// The model card and weight file of `checkpoint` (see [`resolve_checkpoint`]), which must be
/// a run of `model`: this guards against loading, say, a ResNet checkpoint as LeNet.
pub fn load_checkpoint_info(
    checkpoint: &Path,
    model: &str,
    file: &str,
    best: Option<&str>,
) -> anyhow::Result<(RunInfo, PathBuf)> {
    let (run, weights) = resolve_checkpoint(checkpoint, file, best)?;
    let info = RunInfo::load(&run)?;
    if info.config.model != model {
        bail!("{}: checkpoint of a '{}' model, not '{model}'", checkpoint.display(), info.config.model);
    }
    Ok((info, weights))
}

/// Load a trained classifier for inference: rebuild the architecture recorded in `run.json`
/// and fill it with the checkpoint's weights (a run's best, else its latest).
pub fn load_classifier(
    checkpoint: &Path,
    expected_model: &str,
    device: &Device,
) -> anyhow::Result<(Classifier, RunInfo)> {
    let (info, weights) = load_checkpoint_info(checkpoint, expected_model, "model.bpk", Some("best.bpk"))?;
    build_and_load(info, &weights, device)
}

/// [`load_classifier`] for a run of any classifier family (LeNet, ResNet, AlexNet): for tools
/// that study whatever network they are given.
pub fn load_any_classifier(checkpoint: &Path, device: &Device) -> anyhow::Result<(Classifier, RunInfo)> {
    let (run, weights) = resolve_checkpoint(checkpoint, "model.bpk", Some("best.bpk"))?;
    let info = RunInfo::load(&run)?;
    if crate::models::task(&info.config.model)? != crate::models::Task::Classify {
        bail!("{}: checkpoint of a '{}' model, not of a classifier", checkpoint.display(), info.config.model);
    }
    build_and_load(info, &weights, device)
}

fn build_and_load(info: RunInfo, weights: &Path, device: &Device) -> anyhow::Result<(Classifier, RunInfo)> {
    let model = Classifier::build(&info.config, &info.input, device)?;
    Ok((load_model(model, weights)?, info))
}
