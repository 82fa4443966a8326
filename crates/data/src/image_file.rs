use std::path::Path;

use image::imageops::FilterType;

use crate::DataError;

/// Whether to invert a grayscale image's brightness before classifying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invert {
    /// Invert when the border is mostly light: the MNIST family draws light strokes on a dark
    /// background, photos and scans of ink on paper are the other way round.
    Auto,
    /// Always invert.
    Always,
    /// Never invert.
    Never,
}

/// Load any PNG or JPEG (8 or 16 bit; grayscale, RGB or with alpha) as `channels x height x
/// width` bytes, channel-major, the layout of the training data.
///
/// Transparent pixels are composited over white, as an image viewer shows them; the image is
/// resized to the model's input size; for one channel the luma is taken and `invert` applied.
pub fn load_image(
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
    invert: Invert,
) -> Result<Vec<u8>, DataError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let img = reader.decode().map_err(|e| DataError::invalid(path, format!("cannot decode image: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(DataError::invalid(path, "image has no pixels"));
    }
    let rgba = img.to_rgba8();
    let over_white = |c: u8, a: u8| ((c as u32 * a as u32 + 255 * (255 - a as u32)) / 255) as u8;
    let rgb = image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        image::Rgb([over_white(r, a), over_white(g, a), over_white(b, a)])
    });
    let (w, h) = (width as u32, height as u32);
    match channels {
        1 => {
            let gray = image::DynamicImage::ImageRgb8(rgb).to_luma8();
            let mut gray = image::imageops::resize(&gray, w, h, FilterType::Triangle);
            let border = border_mean(&gray);
            if invert == Invert::Always || (invert == Invert::Auto && border > 127.0) {
                image::imageops::invert(&mut gray);
            }
            Ok(gray.into_raw())
        }
        3 => {
            let rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
            let plane = width * height;
            let mut out = vec![0u8; 3 * plane];
            for (i, px) in rgb.pixels().enumerate() {
                for c in 0..3 {
                    out[c * plane + i] = px.0[c];
                }
            }
            Ok(out)
        }
        n => Err(DataError::invalid(path, format!("models take 1 or 3 channels, not {n}"))),
    }
}

fn border_mean(img: &image::GrayImage) -> f64 {
    let (w, h) = img.dimensions();
    let border: Vec<u8> = img
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| p.0[0])
        .collect();
    border.iter().map(|&p| p as f64).sum::<f64>() / border.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_ink_on_white_rgba16_is_inverted_to_mnist_style() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digit.png");
        // 56x56, 16-bit RGBA: white background, a black vertical bar in the middle.
        let img = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(56, 56, |x, _| {
            if (24..32).contains(&x) {
                image::Rgba([0, 0, 0, 65535])
            } else {
                image::Rgba([65535, 65535, 65535, 65535])
            }
        });
        img.save(&path).unwrap();
        let px = load_image(&path, 1, 28, 28, Invert::Auto).unwrap();
        assert_eq!(px.len(), 784);
        assert_eq!(px[14 * 28], 0, "background becomes black");
        assert!(px[14 * 28 + 14] > 200, "the stroke becomes bright");
        let kept = load_image(&path, 1, 28, 28, Invert::Never).unwrap();
        assert_eq!(kept[0], 255);
    }

    #[test]
    fn transparent_pixels_count_as_white_and_rgb_is_planar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        image::RgbaImage::from_fn(
            4,
            4,
            |x, _| if x < 2 { image::Rgba([255, 0, 0, 255]) } else { image::Rgba([0, 0, 0, 0]) },
        )
        .save(&path)
        .unwrap();
        let px = load_image(&path, 3, 4, 4, Invert::Auto).unwrap();
        assert_eq!(&px[0..4], &[255, 255, 255, 255], "red plane");
        assert_eq!(&px[16..20], &[0, 0, 255, 255], "green plane: red pixels, then white");
    }

    #[test]
    fn jpeg_grayscale_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jpg");
        image::GrayImage::from_fn(30, 20, |_, _| image::Luma([10])).save(&path).unwrap();
        let px = load_image(&path, 1, 28, 28, Invert::Auto).unwrap();
        assert!(px.iter().all(|&p| (5..=15).contains(&p)));
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let msg = load_image(&path, 1, 28, 28, Invert::Auto).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}: cannot decode image", path.display())), "{msg}");
        let missing = dir.path().join("missing.png");
        assert!(load_image(&missing, 1, 28, 28, Invert::Auto).unwrap_err().to_string().contains("cannot read"));
    }
}
