//! The CIFAR-10 and CIFAR-100 binary format (Krizhevsky 2009): fixed-size records of label
//! byte(s) followed by 32x32 RGB pixels, red plane then green then blue.

use std::path::Path;

use crate::{DataError, ImageDataset};

/// Side of a CIFAR image.
pub const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;

/// Which of the two CIFAR record layouts a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// CIFAR-10: one label byte, 10 classes.
    Ten,
    /// CIFAR-100: a coarse (20 superclasses) then a fine (100 classes) label byte; the fine
    /// label is used.
    Hundred,
}

impl Labels {
    fn label_bytes(self) -> usize {
        match self {
            Labels::Ten => 1,
            Labels::Hundred => 2,
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Labels::Ten => 10,
            Labels::Hundred => 100,
        }
    }
}

/// Bytes of `count` records in CIFAR format, for tests and tools.
pub fn encode(layout: Labels, labels: &[u8], pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        if layout == Labels::Hundred {
            out.push(label / 5); // any coarse label; readers use the fine one
        }
        out.push(label);
        out.extend_from_slice(&pixels[i * PIXELS..(i + 1) * PIXELS]);
    }
    out
}

/// Read the records of `files`, in order, into one dataset.
pub fn read(files: &[&Path], layout: Labels, class_names: Vec<String>) -> Result<ImageDataset, DataError> {
    let record = layout.label_bytes() + PIXELS;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(*path, e))?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            return Err(DataError::invalid(
                *path,
                format!(
                    "{} bytes is not a whole number of {record}-byte CIFAR-{} records (truncated or not a CIFAR batch)",
                    bytes.len(),
                    layout.classes()
                ),
            ));
        }
        pixels.reserve(bytes.len() / record * PIXELS);
        for (i, rec) in bytes.chunks_exact(record).enumerate() {
            let label = rec[layout.label_bytes() - 1];
            if label as usize >= layout.classes() {
                return Err(DataError::invalid(
                    *path,
                    format!("record {i}: label {label} out of range for {} classes", layout.classes()),
                ));
            }
            labels.push(label);
            pixels.extend_from_slice(&rec[layout.label_bytes()..]);
        }
    }
    Ok(ImageDataset { pixels, labels, channels: 3, height: SIDE, width: SIDE, class_names })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn records_decode_into_planar_rgb_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..2 * PIXELS).map(|i| (i % 251) as u8).collect();
        let a = dir.path().join("data_batch_1.bin");
        std::fs::write(&a, encode(Labels::Ten, &[3, 9], &pixels)).unwrap();
        let b = dir.path().join("data_batch_2.bin");
        std::fs::write(&b, encode(Labels::Ten, &[1], &pixels[..PIXELS])).unwrap();
        let ds = read(&[&a, &b], Labels::Ten, names(10)).unwrap();
        assert_eq!(ds.labels, vec![3, 9, 1]);
        assert_eq!((ds.channels, ds.height, ds.width), (3, 32, 32));
        assert_eq!(ds.image(1), &pixels[PIXELS..]);
        assert_eq!(ds.image(2), &pixels[..PIXELS]);

        let c = dir.path().join("train.bin");
        std::fs::write(&c, encode(Labels::Hundred, &[42, 99], &pixels)).unwrap();
        assert_eq!(read(&[&c], Labels::Hundred, names(100)).unwrap().labels, vec![42, 99]);
    }

    #[test]
    fn truncated_files_and_bad_labels_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_batch.bin");
        let mut bytes = encode(Labels::Ten, &[1, 2], &vec![0; 2 * PIXELS]);
        bytes.truncate(bytes.len() - 100);
        std::fs::write(&path, &bytes).unwrap();
        let msg = read(&[&path], Labels::Ten, names(10)).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}: 6046 bytes is not a whole number of 3073-byte", path.display())),
            "{msg}"
        );
        std::fs::write(&path, encode(Labels::Ten, &[1, 12], &vec![0; 2 * PIXELS])).unwrap();
        let msg = read(&[&path], Labels::Ten, names(10)).unwrap_err().to_string();
        assert!(msg.ends_with("record 1: label 12 out of range for 10 classes"), "{msg}");
        // A CIFAR-100 file read as CIFAR-10 has the wrong record size.
        std::fs::write(&path, encode(Labels::Hundred, &[1, 2, 3], &vec![0; 3 * PIXELS])).unwrap();
        assert!(read(&[&path], Labels::Ten, names(10)).is_err());
    }
}
