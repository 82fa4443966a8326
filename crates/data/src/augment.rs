//! Data augmentation on raw image bytes, before normalisation: random crops with zero padding
//! and horizontal flips, the standard CIFAR recipe (He et al. 2016, section 4.2).

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

/// Mirror one CHW image left to right, in place.
pub fn flip_horizontal(image: &mut [u8], width: usize) {
    for row in image.chunks_exact_mut(width) {
        row.reverse();
    }
}

/// Which random transformations a training batch gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Augment {
    /// Pad by this many zero pixels on every side and crop back to the original size at a
    /// random place: the same as translating by up to this many pixels along each axis.
    pub crop_padding: usize,
    /// Mirror half of the images left to right (wrong for digits and text).
    pub hflip: bool,
}

impl Augment {
    /// Whether any transformation is on.
    pub fn is_active(&self) -> bool {
        self.crop_padding > 0 || self.hflip
    }

    /// The images at `indices`, each transformed with its own random draw from `rng`.
    pub fn apply(&self, dataset: &ImageDataset, indices: &[usize], rng: &mut Rng) -> ImageDataset {
        let mut batch = dataset.subset(indices);
        let n = batch.image_len();
        let span = 2 * self.crop_padding + 1;
        for chunk in batch.pixels.chunks_exact_mut(n) {
            if self.crop_padding > 0 {
                let dx = rng.below(span) as isize - self.crop_padding as isize;
                let dy = rng.below(span) as isize - self.crop_padding as isize;
                let moved = shift(chunk, dataset.channels, dataset.height, dataset.width, dx, dy);
                chunk.copy_from_slice(&moved);
            }
            if self.hflip && rng.below(2) == 1 {
                flip_horizontal(chunk, dataset.width);
            }
        }
        batch
    }
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
    fn random_crops_keep_labels_and_mass_for_small_moves() {
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
        let out = Augment { crop_padding: 2, hflip: false }.apply(&ds, &[1, 0], &mut Rng::new(5));
        assert_eq!(out.labels, vec![4, 3]);
        assert_eq!(out.image(0).iter().map(|&p| p as u32).sum::<u32>(), 7);
        assert_eq!(out.image(1).iter().map(|&p| p as u32).sum::<u32>(), 9);
    }

    #[test]
    fn flips_mirror_rows_and_happen_about_half_the_time() {
        let mut img = vec![1, 2, 3, 4, 5, 6];
        flip_horizontal(&mut img, 3);
        assert_eq!(img, vec![3, 2, 1, 6, 5, 4]);
        let ds = ImageDataset {
            pixels: (0..200).flat_map(|_| [1u8, 0]).collect(),
            labels: vec![0; 200],
            channels: 1,
            height: 1,
            width: 2,
            class_names: vec!["x".into()],
        };
        let all: Vec<usize> = (0..200).collect();
        let out = Augment { crop_padding: 0, hflip: true }.apply(&ds, &all, &mut Rng::new(1));
        let flipped = out.pixels.chunks_exact(2).filter(|p| p == &[0, 1]).count();
        assert!((70..130).contains(&flipped), "{flipped}");
        let again = Augment { crop_padding: 0, hflip: true }.apply(&ds, &all, &mut Rng::new(1));
        assert_eq!(out, again, "seeded");
    }
}
