//! Generated images as 8-bit pixels and as PNG grids, the way the papers show samples.

use std::path::Path;

use anyhow::Context;
use burn::tensor::Tensor;
use rikai_data::ImageDataset;

use crate::run_dir::write_atomic;

/// Gap between grid cells, in pixels of the (scaled) grid.
const GAP: usize = 2;
/// Grey of the gaps: visible against both white-on-black digits and photos.
const GAP_VALUE: u8 = 96;
/// Cells smaller than this many pixels are enlarged (nearest neighbour) so a grid of 28x28
/// digits stays legible.
const MIN_CELL: usize = 56;

/// Images with values in [-1, 1] (a tanh output, or data normalised with mean and std 0.5)
/// as 8-bit pixels in NCHW order, with labels 0.
///
/// # Shapes
/// - `images`: `[n, channels, height, width]`
pub fn to_dataset(images: Tensor<4>, class_names: &[String]) -> anyhow::Result<ImageDataset> {
    let [n, channels, height, width] = images.dims();
    let values: Vec<f32> =
        images.into_data_as::<f32>().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading images: {e:?}"))?;
    let pixels = values.iter().map(|&v| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8).collect();
    Ok(ImageDataset { pixels, labels: vec![0; n], channels, height, width, class_names: class_names.to_vec() })
}

/// Write the images of `dataset` as a PNG grid with `columns` cells per row (grayscale or RGB
/// as the images are), atomically.
pub fn write_grid(dataset: &ImageDataset, columns: usize, path: &Path) -> anyhow::Result<()> {
    let png = grid_image(dataset, columns);
    let mut bytes = std::io::Cursor::new(Vec::new());
    png.write_to(&mut bytes, image::ImageFormat::Png).with_context(|| format!("{}: cannot encode", path.display()))?;
    write_atomic(path, bytes.get_ref())
}

/// The grid as an RGB image.
pub fn grid_image(dataset: &ImageDataset, columns: usize) -> image::RgbImage {
    let (n, c, h, w) = (dataset.len(), dataset.channels, dataset.height, dataset.width);
    let columns = columns.clamp(1, n.max(1));
    let rows = n.div_ceil(columns).max(1);
    let scale = MIN_CELL.div_ceil(h.max(1)).max(1);
    let (cell_h, cell_w) = (h * scale, w * scale);
    let width = columns * (cell_w + GAP) + GAP;
    let height = rows * (cell_h + GAP) + GAP;
    let mut img = image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([GAP_VALUE; 3]));
    let plane = h * w;
    for i in 0..n {
        let pixels = dataset.image(i);
        let (x0, y0) = (GAP + (i % columns) * (cell_w + GAP), GAP + (i / columns) * (cell_h + GAP));
        for y in 0..cell_h {
            for x in 0..cell_w {
                let p = (y / scale) * w + x / scale;
                let rgb = if c == 1 { [pixels[p]; 3] } else { [pixels[p], pixels[plane + p], pixels[2 * plane + p]] };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    #[test]
    fn tanh_values_map_to_the_full_byte_range() {
        let d = Device::flex();
        let images = Tensor::<1>::from_floats([-1.0, 0.0, 1.0, 3.0], &d).reshape([1, 1, 2, 2]);
        let data = to_dataset(images, &[]).unwrap();
        assert_eq!(data.pixels, vec![0, 128, 255, 255]);
        assert_eq!((data.len(), data.channels, data.height, data.width), (1, 1, 2, 2));
    }

    #[test]
    fn grid_places_cells_row_by_row_and_enlarges_small_images() {
        // Five 28x28 gray images of brightness 0, 50, ..., 200 in rows of 2.
        let pixels: Vec<u8> = (0..5u8).flat_map(|i| vec![i * 50; 28 * 28]).collect();
        let data = ImageDataset { pixels, labels: vec![0; 5], channels: 1, height: 28, width: 28, class_names: vec![] };
        let img = grid_image(&data, 2);
        // Cells are enlarged twice to 56 px: 2 columns, 3 rows.
        assert_eq!((img.width(), img.height()), (2 * 58 + 2, 3 * 58 + 2));
        let at = |col: u32, row: u32| img.get_pixel(2 + col * 58 + 10, 2 + row * 58 + 10).0;
        assert_eq!([at(0, 0), at(1, 0), at(0, 1), at(1, 1), at(0, 2)], [[0; 3], [50; 3], [100; 3], [150; 3], [200; 3]]);
        assert_eq!(at(1, 2), [GAP_VALUE; 3], "the unused cell stays background");
        assert_eq!(img.get_pixel(0, 0).0, [GAP_VALUE; 3]);
    }
}
