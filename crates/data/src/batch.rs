use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{ImageDataset, Normalization};

/// A batch ready for a classifier.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Normalised images, `[batch, channels, height, width]`.
    pub images: Tensor<4>,
    /// Class indices, `[batch]`.
    pub targets: Tensor<1, Int>,
}

/// Turns images of an [`ImageDataset`] into normalised tensors on one device.
///
/// The device is given explicitly rather than taken from `Device::default()`, which prefers a
/// GPU whenever a GPU backend is compiled in.
#[derive(Clone, Debug)]
pub struct Batcher {
    normalization: Normalization,
    device: Device,
}

impl Batcher {
    /// A batcher that normalises with `normalization` and places tensors on `device`.
    pub fn new(normalization: Normalization, device: Device) -> Self {
        Self { normalization, device }
    }

    /// The normalised pixels of the images at `indices`, flattened in NCHW order.
    pub fn normalize(&self, dataset: &ImageDataset, indices: &[usize]) -> Vec<f32> {
        let plane = dataset.height * dataset.width;
        // (p/255 - mean)/std = p * scale + shift, precomputed per channel and pixel value.
        let lut: Vec<[f32; 256]> = (0..dataset.channels)
            .map(|c| {
                let (mean, std) = (self.normalization.mean[c], self.normalization.std[c]);
                std::array::from_fn(|p| (p as f32 / 255.0 - mean) / std)
            })
            .collect();
        let mut out = Vec::with_capacity(indices.len() * dataset.image_len());
        for &i in indices {
            for (c, channel) in dataset.image(i).chunks_exact(plane).enumerate() {
                out.extend(channel.iter().map(|&p| lut[c][p as usize]));
            }
        }
        out
    }

    /// Build the batch of the images at `indices`.
    pub fn batch(&self, dataset: &ImageDataset, indices: &[usize]) -> Batch {
        let shape = [indices.len(), dataset.channels, dataset.height, dataset.width];
        let images = Tensor::from_data(TensorData::new(self.normalize(dataset, indices), shape), &self.device);
        let labels: Vec<i64> = indices.iter().map(|&i| dataset.labels[i] as i64).collect();
        let targets = Tensor::from_data(TensorData::new(labels, [indices.len()]), &self.device);
        Batch { images, targets }
    }

    /// The device batches are placed on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_shapes_values_and_labels() {
        let d = ImageDataset {
            pixels: vec![0, 255, 51, 102, 10, 20, 30, 40],
            labels: vec![7, 2],
            channels: 1,
            height: 2,
            width: 2,
            class_names: (0..10).map(|i| i.to_string()).collect(),
        };
        let norm = Normalization { mean: vec![0.5], std: vec![0.25] };
        let batcher = Batcher::new(norm, Device::flex());
        let batch = batcher.batch(&d, &[0, 1, 0]);
        assert_eq!(batch.images.dims(), [3, 1, 2, 2]);
        let px: Vec<f32> = batch.images.into_data_as::<f32>().try_into_vec::<f32>().unwrap();
        assert!((px[0] + 2.0).abs() < 1e-6 && (px[1] - 2.0).abs() < 1e-6 && (px[2] - (0.2 - 0.5) / 0.25).abs() < 1e-5);
        let labels: Vec<i64> = batch.targets.into_data_as::<i64>().try_into_vec::<i64>().unwrap();
        assert_eq!(labels, vec![7, 2, 7]);
    }
}
