//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! ```text
//! <run>/checkpoints/epoch-0007/model.bpk   weights (burnpack, parameter ids kept)
//!                              optim.bpk   optimizer state, keyed by those parameter ids
//!                              state.json  epochs done, metric history, best epoch
//! <run>/checkpoints/latest                 "epoch-0007"
//! <run>/best.bpk                           weights with the best validation accuracy
//! ```
//! A checkpoint is written into a hidden temporary folder that is renamed into place, and only
//! then is `latest` (atomically) pointed at it, so a run killed at any instant leaves the
//! previous checkpoint intact. Randomness needs no saved state: shuffling and dropout are seeded
//! from (seed, epoch), so resuming at an epoch boundary replays the same stream.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use rikai_data::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::run_dir::write_atomic;

/// Seed the device (dropout, noise) for `epoch` and return the epoch's data stream and the
/// order of its `n` training images. Every stream is a function of (seed, epoch), so a resumed
/// run replays exactly what the uninterrupted run would have done.
pub fn epoch_randomness(device: &Device, seed: u64, epoch: usize, n: usize) -> (Rng, Vec<usize>) {
    device.seed(Rng::derive(seed, epoch as u64).next_u64());
    let mut rng = Rng::derive(seed, 1_000_000 + epoch as u64);
    let order = rng.permutation(n);
    (rng, order)
}

/// The numbers of one finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (0..1), measured on the fly with the weights changing.
    pub train_acc: f64,
    /// Validation loss, when there is a validation split.
    pub valid_loss: Option<f64>,
    /// Validation accuracy (0..1).
    pub valid_acc: Option<f64>,
    /// Learning rate at the start of the epoch.
    pub lr: f64,
    /// Wall time of the epoch's training pass.
    pub seconds: f64,
    /// Training throughput.
    pub images_per_sec: f64,
}

/// Progress of a run, saved with every checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Model family.
    pub model: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// One entry per completed epoch.
    pub history: Vec<EpochMetrics>,
    /// Epoch whose weights are in `best.bpk`.
    pub best_epoch: Option<usize>,
}

impl TrainState {
    /// Best validation accuracy so far.
    pub fn best_valid_acc(&self) -> Option<f64> {
        let epoch = self.best_epoch?;
        self.history.iter().find(|m| m.epoch == epoch)?.valid_acc
    }
}

fn checkpoints(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// Write model weights to `path`, atomically.
pub fn save_model<M: Module>(model: &M, path: &Path) -> anyhow::Result<()> {
    let tmp = path.with_extension("bpk.tmp");
    let mut store = BurnpackStore::from_file(&tmp).auto_extension(false).overwrite(true);
    model.save_into(&mut store).map_err(|e| anyhow::anyhow!("{}: cannot write weights: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// Load weights from `path` into `model`, which must have exactly the same parameters.
pub fn load_model<M: Module>(mut model: M, path: &Path) -> anyhow::Result<M> {
    if !path.is_file() {
        bail!("{}: no such checkpoint file", path.display());
    }
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let result = model.load_from(&mut store).map_err(|e| {
        let mut msg = e.to_string().replace('\n', " ");
        msg.truncate(300);
        anyhow::anyhow!("{}: not a checkpoint of this model: {msg}", path.display())
    })?;
    if !result.unused.is_empty() {
        bail!(
            "{}: not a checkpoint of this model: it holds tensors the model lacks ({})",
            path.display(),
            result.unused.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(model)
}

/// Save a classifier's checkpoint after `state.epochs_done` epochs.
pub fn save(run: &Path, model: &impl Module, optim: &ModuleOptimizer, state: &TrainState) -> anyhow::Result<()> {
    save_with(run, state.epochs_done, state, |dir| {
        save_model(model, &dir.join("model.bpk"))?;
        save_optim(optim, &dir.join("optim.bpk"))
    })
}

/// Write optimizer state to `path`.
pub fn save_optim(optim: &ModuleOptimizer, path: &Path) -> anyhow::Result<()> {
    optim.save(path).map_err(|e| anyhow::anyhow!("{}: cannot write optimizer state: {e}", path.display()))
}

/// Save a checkpoint after `epochs_done` epochs: `write_files` puts the weights and optimizer
/// states into the folder it is given, `state` becomes its `state.json`. The folder only
/// becomes the latest checkpoint once complete; older checkpoints are then removed.
pub fn save_with(
    run: &Path,
    epochs_done: usize,
    state: &impl Serialize,
    write_files: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let root = checkpoints(run);
    let name = format!("epoch-{epochs_done:04}");
    let tmp = root.join(format!(".{name}.tmp"));
    let dir = root.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("{}: cannot remove", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    write_files(&tmp)?;
    write_atomic(&tmp.join("state.json"), serde_json::to_string_pretty(state)?.as_bytes())?;
    if dir.exists() {
        // Left by a run killed after this rename but before `latest` moved: stale, not current.
        std::fs::remove_dir_all(&dir).with_context(|| format!("{}: cannot remove", dir.display()))?;
    }
    std::fs::rename(&tmp, &dir).with_context(|| format!("{}: cannot write", dir.display()))?;
    write_atomic(&root.join("latest"), name.as_bytes())?;
    for entry in std::fs::read_dir(&root)?.flatten() {
        let file_name = entry.file_name();
        let other = file_name.to_string_lossy();
        if other.starts_with("epoch-") && other != name {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// The folder of the latest checkpoint of `run`, or `None` when the run has none yet (it was
/// stopped during its first epoch).
pub fn latest_if_any(run: &Path) -> anyhow::Result<Option<PathBuf>> {
    let pointer = checkpoints(run).join("latest");
    if !pointer.exists() {
        return Ok(None);
    }
    let name = std::fs::read_to_string(&pointer).with_context(|| format!("{}: cannot read", pointer.display()))?;
    let dir = checkpoints(run).join(name.trim());
    if !dir.is_dir() {
        bail!("{}: points to missing checkpoint {}", pointer.display(), dir.display());
    }
    Ok(Some(dir))
}

/// The folder of the latest checkpoint of `run`.
pub fn latest(run: &Path) -> anyhow::Result<PathBuf> {
    latest_if_any(run)?.with_context(|| format!("{}: no checkpoint in this run", run.display()))
}

/// The error that stops a run whose loss became NaN or infinite at `step` of `epoch`: the
/// checkpoints on disk are all from before, so the run can be continued with other settings.
pub fn diverged(run: &Path, epoch: usize, step: usize, losses: &str) -> anyhow::Error {
    let kept = match latest_if_any(run) {
        Ok(Some(dir)) => format!("the last good checkpoint is kept in {}", dir.display()),
        _ => "no checkpoint had been written yet".to_string(),
    };
    anyhow::anyhow!("training diverged at epoch {epoch}, step {step} ({losses}); {kept}; try a lower --lr")
}

/// Read the state of a checkpoint folder.
pub fn load_state<T: DeserializeOwned>(dir: &Path) -> anyhow::Result<T> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: corrupt checkpoint state: {e}", path.display()))
}

/// Restore the optimizer state saved at `path` into `optim`.
pub fn load_optim(optim: ModuleOptimizer, path: &Path) -> anyhow::Result<ModuleOptimizer> {
    optim.load(path).map_err(|e| anyhow::anyhow!("{}: corrupt optimizer state: {e}", path.display()))
}
