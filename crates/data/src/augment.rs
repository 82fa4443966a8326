//! Data augmentation on raw image bytes, before normalisation.

use crate::{ImageDataset, Rng};

/// Translate one CHW image by (`dx`, `dy`) pixels, filling uncovered pixels with 0 (the
/// background of the MNIST family); pixels moved out of the frame are lost.
pub fn shift(image: &[u8], channels: usize, height: usize, width: usize, dx: isize, dy: isize) -> Vec<u8> {
    let mut out = vec![0u8; image.len()];
    let plane = height * width;
    for c in 0..channels {
        for y in 0..height as isize {
            let sy = y - dy;
            if sy < 0 || sy >= height as isize {
                continue;
            }
            for x in 0..width as isize {
                let sx = x - dx;
                if sx >= 0 && sx < width as isize {
                    out[c * plane + (y as usize) * width + x as usize] =
                        image[c * plane + sy as usize * width + sx as usize];
                }
            }
        }
    }
    out
}

/// The images at `indices`, each translated by a uniform random offset in
/// `-max_shift..=max_shift` along both axes.
pub fn random_shifts(dataset: &ImageDataset, indices: &[usize], max_shift: usize, rng: &mut Rng) -> ImageDataset {
    let mut batch = dataset.subset(indices);
    let n = batch.image_len();
    let span = 2 * max_shift + 1;
    for chunk in batch.pixels.chunks_exact_mut(n) {
        let dx = rng.below(span) as isize - max_shift as isize;
        let dy = rng.below(span) as isize - max_shift as isize;
        let moved = shift(chunk, dataset.channels, dataset.height, dataset.width, dx, dy);
        chunk.copy_from_slice(&moved);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_pixels_and_fills_with_zero() {
        // 3x3 image with a single bright pixel in the centre.
        let mut img = vec![0u8; 9];
        img[4] = 200;
        let right_down = shift(&img, 1, 3, 3, 1, 1);
        assert_eq!(right_down[8], 200);
        assert_eq!(right_down.iter().filter(|&&p| p != 0).count(), 1);
        let out = shift(&img, 1, 3, 3, 2, 0);
        assert!(out.iter().all(|&p| p == 0), "moved out of frame");
        assert_eq!(shift(&img, 1, 3, 3, 0, 0), img);
    }

    #[test]
    fn random_shifts_keep_labels_and_mass_for_small_moves() {
        let mut pixels = vec![0u8; 2 * 49];
        pixels[24] = 9; // centre of image 0 (7x7)
        pixels[49 + 24] = 7;
        let ds = ImageDataset {
            pixels,
            labels: vec![3, 4],
            channels: 1,
            height: 7,
            width: 7,
            class_names: vec!["x".into(); 5],
        };
        let out = random_shifts(&ds, &[1, 0], 2, &mut Rng::new(5));
        assert_eq!(out.labels, vec![4, 3]);
        assert_eq!(out.image(0).iter().map(|&p| p as u32).sum::<u32>(), 7);
        assert_eq!(out.image(1).iter().map(|&p| p as u32).sum::<u32>(), 9);
    }
}
