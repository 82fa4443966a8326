//! What a GAN run records per epoch: `metrics.csv`, `curves.png` and the checkpointed history.

use std::fmt::Write;
use std::path::Path;

use plotters::style::RGBColor;
use serde::{Deserialize, Serialize};

use crate::plot::{Panel, Series, line_charts};
use crate::run_dir::write_atomic;

/// The numbers of one finished GAN epoch (means over its steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanEpoch {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Discriminator loss: binary cross-entropy on a real and a generated batch, summed.
    pub d_loss: f64,
    /// Generator loss: the non-saturating -log D(G(z)).
    pub g_loss: f64,
    /// Mean D(x) on real images (probability "real").
    pub d_real: f64,
    /// Mean D(G(z)) on generated images, before the discriminator's step.
    pub d_fake: f64,
    /// Spread of the fixed-latent samples relative to that of real images (per-pixel standard
    /// deviation across images, averaged); near 0 means the generator collapsed to one image.
    pub diversity: f64,
    /// Learning rate at the start of the epoch.
    pub lr: f64,
    /// Wall time of the epoch's training pass.
    pub seconds: f64,
    /// Real images per second through the training pass.
    pub images_per_sec: f64,
}

/// Progress of a GAN run, saved with every checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GanState {
    /// Model family.
    pub model: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// One entry per completed epoch.
    pub history: Vec<GanEpoch>,
}

/// Column names of a GAN run's `metrics.csv`.
pub const HEADER: &str = "epoch,d_loss,g_loss,d_real,d_fake,diversity,lr,seconds,images_per_sec";

/// The CSV text for `history`.
pub fn to_csv(history: &[GanEpoch]) -> String {
    let mut out = format!("{HEADER}\n");
    for m in history {
        writeln!(
            out,
            "{},{:.6},{:.6},{:.6},{:.6},{:.4},{:.3e},{:.3},{:.1}",
            m.epoch, m.d_loss, m.g_loss, m.d_real, m.d_fake, m.diversity, m.lr, m.seconds, m.images_per_sec
        )
        .expect("writing to a String cannot fail");
    }
    out
}

/// Rewrite `metrics.csv` and `curves.png` in `run` from `history`.
pub fn write(run: &Path, history: &[GanEpoch]) -> anyhow::Result<()> {
    write_atomic(&run.join("metrics.csv"), to_csv(history).as_bytes())?;
    let pts =
        |f: &dyn Fn(&GanEpoch) -> f64| -> Vec<(f64, f64)> { history.iter().map(|m| (m.epoch as f64, f(m))).collect() };
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    let green = RGBColor(44, 160, 44);
    line_charts(
        &run.join("curves.png"),
        &[
            Panel {
                title: "Losses",
                x_label: "epoch",
                y_label: "binary cross-entropy",
                series: vec![
                    Series { label: "discriminator", points: pts(&|m| m.d_loss), color: blue },
                    Series { label: "generator", points: pts(&|m| m.g_loss), color: orange },
                ],
            },
            Panel {
                title: "Discriminator outputs and sample diversity",
                x_label: "epoch",
                y_label: "mean probability / ratio",
                series: vec![
                    Series { label: "D(x)", points: pts(&|m| m.d_real), color: blue },
                    Series { label: "D(G(z))", points: pts(&|m| m.d_fake), color: orange },
                    Series { label: "diversity", points: pts(&|m| m.diversity), color: green },
                ],
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_row_per_epoch_and_plot_written() {
        let m = GanEpoch {
            epoch: 1,
            d_loss: 1.2,
            g_loss: 0.8,
            d_real: 0.6,
            d_fake: 0.4,
            diversity: 0.9,
            lr: 2e-4,
            seconds: 3.0,
            images_per_sec: 100.0,
        };
        let csv = to_csv(&[m.clone(), GanEpoch { epoch: 2, ..m }]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[1], "1,1.200000,0.800000,0.600000,0.400000,0.9000,2.000e-4,3.000,100.0");
        assert_eq!(lines.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[m]).unwrap();
        assert!(image::open(dir.path().join("curves.png")).is_ok());
    }
}
