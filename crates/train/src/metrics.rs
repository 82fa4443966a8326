//! Per-epoch metrics as CSV, rewritten from the checkpointed history after every epoch so the
//! file always matches the latest checkpoint, also after a resume.

use std::fmt::Write;
use std::path::Path;

use crate::checkpoint::EpochMetrics;
use crate::run_dir::write_atomic;

/// Column names of `metrics.csv`.
pub const HEADER: &str = "epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds,images_per_sec";

/// The CSV text for `history`.
pub fn to_csv(history: &[EpochMetrics]) -> String {
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    let mut out = format!("{HEADER}\n");
    for m in history {
        writeln!(
            out,
            "{},{:.6},{:.6},{},{},{:.3e},{:.3},{:.1}",
            m.epoch,
            m.train_loss,
            m.train_acc,
            opt(m.valid_loss),
            opt(m.valid_acc),
            m.lr,
            m.seconds,
            m.images_per_sec
        )
        .expect("writing to a String cannot fail");
    }
    out
}

/// Write `metrics.csv` into `run`.
pub fn write(run: &Path, history: &[EpochMetrics]) -> anyhow::Result<()> {
    write_atomic(&run.join("metrics.csv"), to_csv(history).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_row_per_epoch_and_blank_missing_values() {
        let m = EpochMetrics {
            epoch: 1,
            train_loss: 0.5,
            train_acc: 0.9,
            valid_loss: None,
            valid_acc: None,
            lr: 1e-3,
            seconds: 2.0,
            images_per_sec: 4000.0,
        };
        let csv = to_csv(&[m.clone(), EpochMetrics { epoch: 2, valid_acc: Some(0.95), ..m }]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], "1,0.500000,0.900000,,,1.000e-3,2.000,4000.0");
        assert!(lines[2].contains(",0.950000,"));
    }
}
