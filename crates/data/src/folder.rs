//! Image folders: `<root>/<class>/*.png|jpg`, or `<root>/train/<class>/...` and
//! `<root>/test/<class>/...` for an explicit split, as torchvision's `ImageFolder` reads them.

use std::path::{Path, PathBuf};

use crate::{DataError, ImageDataset, Invert, Splits, load_image};

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// Share of a folder without `train/` and `test/` that becomes the test split: every fifth image
/// of each class (sorted by file name), so the split is fixed and stratified.
pub const TEST_EVERY: usize = 5;

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| DataError::io(dir, err)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The class folders of `root` (sorted by name) and the image files in each.
fn scan(root: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, DataError> {
    let mut classes = Vec::new();
    for dir in read_dir_sorted(root)?.into_iter().filter(|p| p.is_dir()) {
        let files: Vec<PathBuf> = read_dir_sorted(&dir)?.into_iter().filter(|p| is_image(p)).collect();
        if !files.is_empty() {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            classes.push((name, files));
        }
    }
    if classes.is_empty() {
        return Err(DataError::invalid(root, "no class folders with .png/.jpg images (expected <root>/<class>/*.png)"));
    }
    if classes.len() > 256 {
        return Err(DataError::invalid(root, format!("{} classes; at most 256 are supported", classes.len())));
    }
    Ok(classes)
}

fn load_files(
    files: &[(u8, PathBuf)],
    class_names: Vec<String>,
    channels: usize,
    size: usize,
) -> Result<ImageDataset, DataError> {
    let mut pixels = Vec::with_capacity(files.len() * channels * size * size);
    for (_, path) in files {
        // Folder images are taken as they are: no MNIST-style inversion.
        pixels.extend(load_image(path, channels, size, size, Invert::Never)?);
    }
    Ok(ImageDataset {
        pixels,
        labels: files.iter().map(|(label, _)| *label).collect(),
        channels,
        height: size,
        width: size,
        class_names,
    })
}

/// Load the image folder at `root`, every image converted to `channels` (1 or 3) and resized to
/// `size` x `size`. With `train/` and `test/` subfolders those are the splits (with the same
/// class folders); otherwise every [`TEST_EVERY`]th image of each class is held out as the test split.
pub fn load(root: &Path, channels: usize, size: usize) -> Result<Splits, DataError> {
    if !root.is_dir() {
        return Err(DataError::invalid(root, "not a folder (expected <root>/<class>/*.png)"));
    }
    if !matches!(channels, 1 | 3) || size == 0 {
        return Err(DataError::invalid(root, format!("cannot load as {channels} channels of {size}x{size}")));
    }
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    if train_dir.is_dir() && test_dir.is_dir() {
        let train = scan(&train_dir)?;
        let test = scan(&test_dir)?;
        let names: Vec<String> = train.iter().map(|(n, _)| n.clone()).collect();
        let test_names: Vec<String> = test.iter().map(|(n, _)| n.clone()).collect();
        if names != test_names {
            return Err(DataError::invalid(
                &test_dir,
                format!("class folders {test_names:?} differ from those of train/ {names:?}"),
            ));
        }
        let flat = |classes: &[(String, Vec<PathBuf>)]| -> Vec<(u8, PathBuf)> {
            classes.iter().enumerate().flat_map(|(c, (_, fs))| fs.iter().map(move |f| (c as u8, f.clone()))).collect()
        };
        return Ok(Splits {
            train: load_files(&flat(&train), names.clone(), channels, size)?,
            test: load_files(&flat(&test), names, channels, size)?,
        });
    }
    let classes = scan(root)?;
    let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (c, (_, files)) in classes.iter().enumerate() {
        for (i, f) in files.iter().enumerate() {
            let split = if i % TEST_EVERY == TEST_EVERY - 1 { &mut test } else { &mut train };
            split.push((c as u8, f.clone()));
        }
    }
    Ok(Splits {
        train: load_files(&train, names.clone(), channels, size)?,
        test: load_files(&test, names, channels, size)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, value: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_fn(10, 8, |_, _| image::Rgb([value, value / 2, 0])).save(path).unwrap();
    }

    #[test]
    fn class_folders_become_labels_and_every_fifth_image_is_test() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            write_png(&dir.path().join(format!("cat/{i:02}.png")), 200);
            write_png(&dir.path().join(format!("dog/{i:02}.PNG")), 40);
        }
        std::fs::write(dir.path().join("cat/notes.txt"), "ignored").unwrap();
        let splits = load(dir.path(), 3, 16).unwrap();
        assert_eq!(splits.train.class_names, vec!["cat", "dog"]);
        assert_eq!((splits.train.len(), splits.test.len()), (16, 4));
        assert_eq!(splits.test.labels, vec![0, 0, 1, 1]);
        assert_eq!((splits.train.channels, splits.train.height, splits.train.width), (3, 16, 16));
        // Planar RGB: red plane of a cat image is 200, green 100.
        assert_eq!(splits.train.image(0)[0], 200);
        assert_eq!(splits.train.image(0)[256], 100);
        let gray = load(dir.path(), 1, 8).unwrap();
        assert_eq!(gray.train.image_len(), 64);
    }

    #[test]
    fn train_and_test_subfolders_are_the_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("train/a/1.png"), 1);
        write_png(&dir.path().join("train/b/1.png"), 2);
        write_png(&dir.path().join("train/b/2.jpg"), 3);
        write_png(&dir.path().join("test/a/1.png"), 4);
        write_png(&dir.path().join("test/b/1.png"), 5);
        let splits = load(dir.path(), 1, 4).unwrap();
        assert_eq!((splits.train.labels.clone(), splits.test.labels.clone()), (vec![0, 1, 1], vec![0, 1]));
        std::fs::remove_dir_all(dir.path().join("test/b")).unwrap();
        write_png(&dir.path().join("test/c/1.png"), 5);
        let msg = load(dir.path(), 1, 4).unwrap_err().to_string();
        assert!(msg.contains("differ from those of train/"), "{msg}");
    }

    #[test]
    fn unreadable_images_and_empty_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let msg = load(dir.path(), 3, 8).unwrap_err().to_string();
        assert!(msg.contains("no class folders"), "{msg}");
        write_png(&dir.path().join("a/ok.png"), 9);
        let bad = dir.path().join("a/broken.png");
        std::fs::write(&bad, b"not a png").unwrap();
        let msg = load(dir.path(), 3, 8).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}: cannot decode image", bad.display())), "{msg}");
        let msg = load(&dir.path().join("missing"), 3, 8).unwrap_err().to_string();
        assert!(msg.ends_with("not a folder (expected <root>/<class>/*.png)"), "{msg}");
    }
}
