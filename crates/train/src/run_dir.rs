//! Run directories and crash-safe file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Write `bytes` to `path` so that a reader sees either the old file or the whole new one:
/// write a temporary file beside it, flush it to disk, then rename it over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    let name = path.file_name().context("path without a file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("{}: cannot write", path.display()))
}

/// A fresh run directory name: `runs/<model>-<dataset>-<UTC date and time>`; an image folder
/// `folder:<path>` is named by its last component.
pub fn default_run_dir(model: &str, dataset: &str) -> PathBuf {
    let dataset = match dataset.strip_prefix(rikai_data::FOLDER_PREFIX) {
        Some(path) => {
            let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            format!("folder-{name}")
        }
        None => dataset.to_string(),
    };
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let base = PathBuf::from("runs").join(format!("{model}-{dataset}-{}", utc_stamp(secs)));
    // Two runs started in the same second get distinct folders.
    (0..)
        .map(|i| if i == 0 { base.clone() } else { PathBuf::from(format!("{}-{i}", base.display())) })
        .find(|p| !p.exists())
        .expect("an unused name exists")
}

/// `YYYYMMDD-HHMMSS` for a Unix time, in UTC (days-to-civil after H. Hinnant's algorithm).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_known_dates() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400 + 3_661), "20000229-010101");
        assert_eq!(utc_stamp(1_795_442_400), "20261123-140000");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
