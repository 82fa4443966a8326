use serde::{Deserialize, Serialize};

use crate::Rng;

/// Labelled images held in memory as bytes, `channels x height x width` per image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDataset {
    /// Pixel bytes of all images, image after image, each channel-major (CHW).
    pub pixels: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<u8>,
    /// Channels per image (1 or 3).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Human-readable name of each class index.
    pub class_names: Vec<String>,
}

/// A dataset's official training and test splits.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training split (a validation split is carved out of it by the trainer).
    pub train: ImageDataset,
    /// Held-out test split.
    pub test: ImageDataset,
}

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1]; a model sees
/// `(pixel / 255 - mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel.
    pub std: Vec<f32>,
}

impl ImageDataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixel bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// A new dataset with the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> ImageDataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageDataset {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            ..*self
        }
    }

    /// Append the images of `other`, which must have the same image shape.
    ///
    /// # Panics
    /// When the image shapes differ: a caller bug, not bad input.
    pub fn append(&mut self, other: ImageDataset) {
        let shape = |d: &ImageDataset| [d.channels, d.height, d.width];
        assert_eq!(shape(self), shape(&other), "appending images of another shape");
        self.pixels.extend(other.pixels);
        self.labels.extend(other.labels);
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn take(&self, n: usize) -> ImageDataset {
        let n = n.min(self.len());
        self.subset(&(0..n).collect::<Vec<_>>())
    }

    /// Split off a validation set: a seeded, class-stratified `fraction` of every class goes to
    /// the second dataset, the rest (in original order) to the first.
    pub fn split_validation(&self, fraction: f64, seed: u64) -> (ImageDataset, ImageDataset) {
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.num_classes()];
        for (i, &label) in self.labels.iter().enumerate() {
            by_class[label as usize].push(i);
        }
        let mut rng = Rng::derive(seed, 0x5EED_0FA1);
        let mut is_valid = vec![false; self.len()];
        for members in &mut by_class {
            rng.shuffle(members);
            let n_valid = (members.len() as f64 * fraction).round() as usize;
            for &i in &members[..n_valid] {
                is_valid[i] = true;
            }
        }
        let (valid, train): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| is_valid[i]);
        (self.subset(&train), self.subset(&valid))
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &label in &self.labels {
            counts[label as usize] += 1;
        }
        counts
    }
}

impl Normalization {
    /// Mean and standard deviation per channel over every pixel of `dataset`.
    pub fn from_dataset(dataset: &ImageDataset) -> Self {
        let plane = dataset.height * dataset.width;
        let mut sum = vec![0f64; dataset.channels];
        let mut sum_sq = vec![0f64; dataset.channels];
        for image in dataset.pixels.chunks_exact(dataset.image_len()) {
            for (c, channel) in image.chunks_exact(plane).enumerate() {
                for &p in channel {
                    let v = p as f64 / 255.0;
                    sum[c] += v;
                    sum_sq[c] += v * v;
                }
            }
        }
        let n = (dataset.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sum_sq.iter().zip(&mean).map(|(sq, m)| ((sq / n - m * m).max(0.0).sqrt().max(1e-6)) as f32);
        Normalization { mean: mean.iter().map(|&m| m as f32).collect(), std: std.collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn toy(n: usize) -> ImageDataset {
        ImageDataset {
            pixels: (0..n * 4).map(|i| (i % 256) as u8).collect(),
            labels: (0..n).map(|i| (i % 3) as u8).collect(),
            channels: 1,
            height: 2,
            width: 2,
            class_names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    #[test]
    fn subset_and_take_copy_the_right_images() {
        let d = toy(5);
        let s = d.subset(&[3, 1]);
        assert_eq!(s.labels, vec![0, 1]);
        assert_eq!(s.image(0), d.image(3));
        assert_eq!(s.image(1), d.image(1));
        assert_eq!(d.take(10).len(), 5);
    }

    #[test]
    fn append_keeps_images_and_labels_in_order() {
        let d = toy(5);
        let mut head = d.take(2);
        head.append(d.subset(&[2, 3, 4]));
        assert_eq!((head.pixels.as_slice(), head.labels.as_slice()), (d.pixels.as_slice(), d.labels.as_slice()));
    }

    #[test]
    fn validation_split_is_stratified_disjoint_and_seeded() {
        let d = toy(300);
        let (train, valid) = d.split_validation(0.1, 42);
        assert_eq!(valid.class_counts(), vec![10, 10, 10]);
        assert_eq!(train.len() + valid.len(), 300);
        let (_, again) = d.split_validation(0.1, 42);
        assert_eq!(valid, again);
        let (_, other) = d.split_validation(0.1, 43);
        assert_ne!(valid.pixels, other.pixels);
    }

    #[test]
    fn normalization_statistics() {
        let d = ImageDataset {
            pixels: vec![0, 255, 0, 255],
            labels: vec![0],
            channels: 1,
            height: 2,
            width: 2,
            class_names: vec!["x".into()],
        };
        let n = Normalization::from_dataset(&d);
        assert!((n.mean[0] - 0.5).abs() < 1e-6 && (n.std[0] - 0.5).abs() < 1e-6);
    }
}
