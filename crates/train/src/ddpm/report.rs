//! What a diffusion run records per epoch: `metrics.csv`, `curves.png` and the checkpointed
//! history.

use std::fmt::Write;
use std::path::Path;

use plotters::style::RGBColor;
use serde::{Deserialize, Serialize};

use crate::plot::{Panel, Series, line_charts};
use crate::run_dir::write_atomic;

/// The numbers of one finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffusionEpoch {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean squared error of the network's prediction (noise or velocity), over the epoch.
    pub loss: f64,
    /// Learning rate at the start of the epoch.
    pub lr: f64,
    /// Wall time of the epoch's training pass (without the sample grid).
    pub seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
}

/// Progress of a diffusion run, saved with every checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffusionState {
    /// Model family.
    pub model: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimisation steps completed (the weight average's warmup depends on it).
    pub steps_done: usize,
    /// One entry per completed epoch.
    pub history: Vec<DiffusionEpoch>,
}

/// Column names of a diffusion run's `metrics.csv`.
pub const HEADER: &str = "epoch,loss,lr,seconds,images_per_sec";

/// Rewrite `metrics.csv` and `curves.png` in `run` from `history`.
pub fn write(run: &Path, history: &[DiffusionEpoch]) -> anyhow::Result<()> {
    let mut csv = format!("{HEADER}\n");
    for m in history {
        writeln!(csv, "{},{:.6},{:.3e},{:.3},{:.1}", m.epoch, m.loss, m.lr, m.seconds, m.images_per_sec)
            .expect("writing to a String cannot fail");
    }
    write_atomic(&run.join("metrics.csv"), csv.as_bytes())?;
    let points = history.iter().map(|m| (m.epoch as f64, m.loss)).collect();
    line_charts(
        &run.join("curves.png"),
        &[Panel {
            title: "Denoising loss",
            x_label: "epoch",
            y_label: "mean squared error",
            series: vec![Series { label: "train", points, color: RGBColor(31, 119, 180) }],
        }],
    )
}
