//! Where each dataset lives and how it is loaded.
//!
//! Lookup order for a dataset `<name>`, first match wins:
//! 1. the `--data-dir` folder, when given;
//! 2. `datasets/<name>/` in the current directory, then in this repository's checkout;
//! 3. `$RIKAI_DATA_DIR/<name>/`;
//! 4. the system location, where a package manager puts it (Debian's `dataset-fashion-mnist`
//!    installs `/usr/share/datasets/fashion-mnist/`).
//!
//! A folder matches when it holds every file of the dataset: the four IDX files of the MNIST
//! family (each raw or gzip-compressed), or the CIFAR batches (directly, or in the folder the
//! published archive unpacks to). `folder:<path>` names an image folder instead (see [`crate::folder`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::cifar::{self, Labels};
use crate::{DataError, ImageDataset, Splits, folder, idx};

/// Environment variable naming a folder that holds one sub-folder per dataset.
pub const ENV_VAR: &str = "RIKAI_DATA_DIR";

/// One file of a dataset.
#[derive(Debug)]
pub struct FileSpec {
    /// File name as published (IDX files with `.gz`; the raw form is accepted too).
    pub name: &'static str,
    /// SHA-256 of the published file, checked by `--download` (empty when it comes in an archive).
    pub sha256: &'static str,
}

/// How a dataset's files are laid out.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    /// IDX files: training images, training labels, test images, test labels.
    Idx,
    /// CIFAR binary batches: the training batches, then the test batch.
    Cifar(Labels),
}

/// A published `.tar.gz` holding the files in one folder.
#[derive(Debug)]
pub struct Archive {
    /// Where `--download` fetches it.
    pub url: &'static str,
    /// SHA-256 of the archive.
    pub sha256: &'static str,
    /// The folder it unpacks to, which the lookup also searches.
    pub folder: &'static str,
}

/// A dataset this crate knows how to find, check and load.
#[derive(Debug)]
pub struct DatasetSpec {
    /// Name used on the command line (`--dataset`).
    pub name: &'static str,
    /// Class names by index.
    pub class_names: &'static [&'static str],
    /// File layout.
    pub format: Format,
    /// Every file, in the order [`Format`] gives.
    pub files: &'static [FileSpec],
    /// Where a system package installs the files, if one does.
    pub system_dir: Option<&'static str>,
    /// Base address for `--download` of the individual files.
    pub download_base: Option<&'static str>,
    /// The archive `--download` fetches instead, for datasets published as one.
    pub archive: Option<Archive>,
    /// How to get the data without `--download`.
    pub hint: &'static str,
}

const DIGITS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const MNIST_FILES: &[FileSpec] = &[
    FileSpec {
        name: "train-images-idx3-ubyte.gz",
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    FileSpec {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
];

/// Every dataset known by name.
pub const SPECS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "mnist",
        class_names: DIGITS,
        // The embedded 10,000-digit subset: its files are made by scripts/make-mnist-subset.py,
        // so they have no published checksums.
        format: Format::Idx,
        files: &[
            FileSpec { name: "train-images-idx3-ubyte.gz", sha256: "" },
            FileSpec { name: "train-labels-idx1-ubyte.gz", sha256: "" },
            FileSpec { name: "t10k-images-idx3-ubyte.gz", sha256: "" },
            FileSpec { name: "t10k-labels-idx1-ubyte.gz", sha256: "" },
        ],
        system_dir: None,
        download_base: None,
        archive: None,
        hint: "it ships with the repository in datasets/mnist/; rebuild it with scripts/make-mnist-subset.py",
    },
    DatasetSpec {
        name: "mnist-full",
        class_names: DIGITS,
        format: Format::Idx,
        files: MNIST_FILES,
        system_dir: None,
        download_base: Some("https://storage.googleapis.com/cvdf-datasets/mnist/"),
        archive: None,
        hint: "run with --download (needs internet), or put the four IDX files in datasets/mnist-full/",
    },
    DatasetSpec {
        name: "fashion-mnist",
        class_names: &[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        format: Format::Idx,
        files: &[
            FileSpec {
                name: "train-images-idx3-ubyte.gz",
                sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            },
            FileSpec {
                name: "train-labels-idx1-ubyte.gz",
                sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            },
            FileSpec {
                name: "t10k-images-idx3-ubyte.gz",
                sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            },
            FileSpec {
                name: "t10k-labels-idx1-ubyte.gz",
                sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            },
        ],
        system_dir: Some("/usr/share/datasets/fashion-mnist"),
        download_base: Some("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        archive: None,
        hint: "run scripts/fetch-datasets.sh (installs Debian's dataset-fashion-mnist)",
    },
    DatasetSpec {
        name: "cifar-10",
        class_names: &["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        format: Format::Cifar(Labels::Ten),
        files: &[
            FileSpec { name: "data_batch_1.bin", sha256: "" },
            FileSpec { name: "data_batch_2.bin", sha256: "" },
            FileSpec { name: "data_batch_3.bin", sha256: "" },
            FileSpec { name: "data_batch_4.bin", sha256: "" },
            FileSpec { name: "data_batch_5.bin", sha256: "" },
            FileSpec { name: "test_batch.bin", sha256: "" },
        ],
        system_dir: None,
        download_base: None,
        archive: Some(Archive {
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            folder: "cifar-10-batches-bin",
        }),
        hint: "unpack cifar-10-binary.tar.gz (170 MB) into datasets/cifar-10/",
    },
    DatasetSpec {
        name: "cifar-100",
        class_names: crate::cifar_names::CIFAR100,
        format: Format::Cifar(Labels::Hundred),
        files: &[FileSpec { name: "train.bin", sha256: "" }, FileSpec { name: "test.bin", sha256: "" }],
        system_dir: None,
        download_base: None,
        archive: Some(Archive {
            url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
            sha256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
            folder: "cifar-100-binary",
        }),
        hint: "unpack cifar-100-binary.tar.gz (168 MB) into datasets/cifar-100/",
    },
];

/// Prefix of an image-folder dataset name: `folder:<path>`.
pub const FOLDER_PREFIX: &str = "folder:";

impl DatasetSpec {
    /// The spec called `name`.
    pub fn get(name: &str) -> Result<&'static DatasetSpec, DataError> {
        SPECS.iter().find(|s| s.name == name).ok_or_else(|| DataError::UnknownDataset(name.to_string()))
    }

    /// File `index` of this dataset in `dir` (or in the archive's folder inside it), compressed
    /// or not, if present.
    fn file_in(&self, dir: &Path, index: usize) -> Option<PathBuf> {
        let name = self.files[index].name;
        let mut dirs = vec![dir.to_path_buf()];
        if let Some(archive) = &self.archive {
            dirs.push(dir.join(archive.folder));
        }
        dirs.iter().flat_map(|d| [d.join(name), d.join(name.trim_end_matches(".gz"))]).find(|p| p.is_file())
    }

    fn complete_in(&self, dir: &Path) -> bool {
        (0..self.files.len()).all(|i| self.file_in(dir, i).is_some())
    }

    /// The folders searched for this dataset, in lookup order.
    pub fn candidates(&self, data_dir: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(dir) = data_dir {
            dirs.push(dir.to_path_buf());
        }
        dirs.push(Path::new("datasets").join(self.name));
        dirs.push(repo_datasets().join(self.name));
        if let Some(root) = std::env::var_os(ENV_VAR) {
            dirs.push(PathBuf::from(root).join(self.name));
        }
        if let Some(system) = self.system_dir {
            dirs.push(PathBuf::from(system));
        }
        dirs.dedup();
        dirs
    }
}

/// The `datasets/` folder of the checkout this crate was built from.
fn repo_datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// The first folder in the lookup order that holds all four files of `name`.
///
/// With `data_dir` given, only that folder counts: a user who names a folder wants that data,
/// not a silent fallback to another copy.
pub fn find_dataset_dir(name: &str, data_dir: Option<&Path>) -> Result<PathBuf, DataError> {
    let spec = DatasetSpec::get(name)?;
    let candidates = match data_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => spec.candidates(None),
    };
    candidates.iter().find(|dir| spec.complete_in(dir)).cloned().ok_or_else(|| DataError::NotFound {
        name: name.to_string(),
        looked: candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        hint: match spec.download_base.or(spec.archive.as_ref().map(|a| a.url)) {
            Some(_) => format!("{}, or train with --download (needs internet)", spec.hint),
            None => spec.hint.to_string(),
        },
    })
}

/// How to load an image folder: the size and channels every image is converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FolderShape {
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Height and width.
    pub size: usize,
}

/// Load dataset `name`: a known name (see [`SPECS`]) found through the lookup order, or
/// `folder:<path>`, an image folder converted to `shape`.
pub fn load_dataset(name: &str, data_dir: Option<&Path>, shape: FolderShape) -> Result<Splits, DataError> {
    match name.strip_prefix(FOLDER_PREFIX) {
        Some(root) => folder::load(Path::new(root), shape.channels, shape.size),
        None => load(name, data_dir),
    }
}

/// Load the train and test splits of the known dataset `name`, validating every file.
pub fn load(name: &str, data_dir: Option<&Path>) -> Result<Splits, DataError> {
    let spec = DatasetSpec::get(name)?;
    let dir = find_dataset_dir(name, data_dir)?;
    let path = |i: usize| spec.file_in(&dir, i).expect("checked by find_dataset_dir");
    let names = || spec.class_names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if let Format::Cifar(layout) = spec.format {
        let paths: Vec<PathBuf> = (0..spec.files.len()).map(path).collect();
        let (test, train) = paths.split_last().expect("CIFAR specs list files");
        let train: Vec<&Path> = train.iter().map(PathBuf::as_path).collect();
        return Ok(Splits {
            train: cifar::read(&train, layout, names())?,
            test: cifar::read(&[test], layout, names())?,
        });
    }
    let split = |images: usize, labels: usize| -> Result<ImageDataset, DataError> {
        let (image_path, label_path) = (path(images), path(labels));
        let img = idx::read_images(&image_path)?;
        let labels = idx::read_labels(&label_path, spec.class_names.len())?;
        if labels.len() != img.count {
            return Err(DataError::invalid(
                &label_path,
                format!("{} labels, but {} holds {} images", labels.len(), image_path.display(), img.count),
            ));
        }
        Ok(ImageDataset {
            pixels: img.pixels,
            labels,
            channels: 1,
            height: img.rows,
            width: img.cols,
            class_names: names(),
        })
    };
    let train = split(0, 1)?;
    let test = split(2, 3)?;
    if (train.height, train.width) != (test.height, test.width) {
        return Err(DataError::invalid(
            path(2),
            format!("test images are {}x{}, training images {}x{}", test.height, test.width, train.height, train.width),
        ));
    }
    Ok(Splits { train, test })
}

/// Fetch the published files of `name` into `dest` (created if needed), checking each one's
/// SHA-256 before it is moved into place; an archive is then unpacked with `tar`. Uses `curl`, so
/// no TLS stack is compiled in for an opt-in feature; files already present with the right
/// checksum are kept.
pub fn download(name: &str, dest: &Path) -> Result<(), DataError> {
    let spec = DatasetSpec::get(name)?;
    std::fs::create_dir_all(dest).map_err(|e| DataError::io(dest, e))?;
    if let Some(archive) = &spec.archive {
        let file = archive.url.rsplit('/').next().unwrap_or("archive.tar.gz");
        let target = dest.join(file);
        fetch_checked(archive.url, &target, archive.sha256, spec.hint)?;
        let status =
            Command::new("tar").arg("-xzf").arg(&target).arg("-C").arg(dest).status().map_err(|e| {
                DataError::Download { url: archive.url.into(), problem: format!("cannot run tar: {e}") }
            })?;
        if !status.success() {
            return Err(DataError::invalid(&target, format!("tar exited with {status} while unpacking")));
        }
        return Ok(());
    }
    let base = spec.download_base.ok_or_else(|| DataError::Download {
        url: name.to_string(),
        problem: format!("nothing to download: {}", spec.hint),
    })?;
    for file in spec.files {
        fetch_checked(&format!("{base}{}", file.name), &dest.join(file.name), file.sha256, spec.hint)?;
    }
    Ok(())
}

/// Download `url` to `target` through a `.part` file, unless `target` already has `sha256`.
fn fetch_checked(url: &str, target: &Path, sha256: &str, hint: &str) -> Result<(), DataError> {
    if target.is_file() && sha256_file(target)? == sha256 {
        return Ok(());
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let failed = |problem: String| DataError::Download { url: url.to_string(), problem };
    let status = Command::new("curl")
        .args(["-fsL", "--retry", "2", "--connect-timeout", "20", "-o"])
        .arg(&partial)
        .arg(url)
        .status()
        .map_err(|e| failed(format!("cannot run curl: {e}")))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(failed(format!("curl exited with {status}; offline? {hint}")));
    }
    let got = sha256_file(&partial)?;
    if got != sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(failed(format!("SHA-256 {got}, expected {sha256}")));
    }
    std::fs::rename(&partial, target).map_err(|e| DataError::io(target, e))
}

fn sha256_file(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{IdxImages, encode_images, encode_labels};

    fn write_dataset(dir: &Path, n_train: usize, labels_train: Option<Vec<u8>>) {
        let images = |n| IdxImages { count: n, rows: 28, cols: 28, pixels: vec![7; n * 784] };
        let files = SPECS[0].files;
        std::fs::write(dir.join(files[0].name.trim_end_matches(".gz")), encode_images(&images(n_train))).unwrap();
        let labels = labels_train.unwrap_or_else(|| (0..n_train).map(|i| (i % 10) as u8).collect());
        std::fs::write(dir.join(files[1].name.trim_end_matches(".gz")), encode_labels(&labels)).unwrap();
        std::fs::write(dir.join(files[2].name.trim_end_matches(".gz")), encode_images(&images(3))).unwrap();
        std::fs::write(dir.join(files[3].name.trim_end_matches(".gz")), encode_labels(&[1, 2, 3])).unwrap();
    }

    #[test]
    fn embedded_mnist_subset_loads_with_its_documented_split() {
        let splits = load("mnist", None).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (8004, 1996));
        assert_eq!(splits.train.class_counts(), vec![801, 902, 793, 826, 784, 691, 812, 856, 756, 783]);
        assert_eq!((splits.train.height, splits.train.width, splits.train.channels), (28, 28, 1));
        // Real digits: mostly background with some bright strokes.
        let bright = splits.test.pixels.iter().filter(|&&p| p > 200).count() as f64 / splits.test.pixels.len() as f64;
        assert!((0.05..0.2).contains(&bright), "{bright}");
    }

    #[test]
    fn data_dir_is_used_and_raw_files_accepted() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 20, None);
        let splits = load("mnist", Some(dir.path())).unwrap();
        assert_eq!((splits.train.len(), splits.test.labels.clone()), (20, vec![1, 2, 3]));
    }

    #[test]
    fn count_mismatch_names_the_label_file() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 20, Some(vec![0; 19]));
        let msg = load("mnist", Some(dir.path())).unwrap_err().to_string();
        assert!(msg.contains("train-labels-idx1-ubyte: 19 labels, but") && msg.contains("holds 20 images"), "{msg}");
    }

    #[test]
    fn missing_data_lists_where_it_looked_and_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let msg = load("fashion-mnist", Some(dir.path())).unwrap_err().to_string();
        assert!(msg.starts_with("dataset 'fashion-mnist' not found (looked in: "), "{msg}");
        assert!(
            msg.contains("fetch-datasets.sh") && msg.ends_with("or train with --download (needs internet)"),
            "{msg}"
        );
        let msg = load("cifar-11", None).unwrap_err().to_string();
        assert!(
            msg.starts_with("unknown dataset 'cifar-11' (known: mnist, mnist-full, fashion-mnist, cifar-10, cifar-100"),
            "{msg}"
        );
    }

    #[test]
    fn lookup_order_is_data_dir_repo_env_system() {
        let spec = DatasetSpec::get("fashion-mnist").unwrap();
        let dirs = spec.candidates(Some(Path::new("/d")));
        assert_eq!(dirs[0], Path::new("/d"));
        assert_eq!(dirs[1], Path::new("datasets/fashion-mnist"));
        assert!(dirs[2].ends_with("datasets/fashion-mnist"));
        assert_eq!(dirs.last().unwrap(), Path::new("/usr/share/datasets/fashion-mnist"));
    }

    #[test]
    fn cifar_is_found_directly_or_in_the_archive_folder() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("cifar-10-batches-bin");
        std::fs::create_dir_all(&inner).unwrap();
        let pixels = vec![128u8; 2 * 3072];
        for (i, file) in DatasetSpec::get("cifar-10").unwrap().files.iter().enumerate() {
            let labels = [i as u8, 9 - i as u8];
            std::fs::write(inner.join(file.name), cifar::encode(Labels::Ten, &labels, &pixels)).unwrap();
        }
        let splits = load("cifar-10", Some(dir.path())).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (10, 2));
        assert_eq!(splits.test.labels, vec![5, 4]);
        assert_eq!(splits.train.class_names[3], "cat");
        let splits = load("cifar-10", Some(&inner)).unwrap();
        assert_eq!(splits.train.labels[..4], [0, 9, 1, 8]);
        std::fs::remove_file(inner.join("data_batch_3.bin")).unwrap();
        let msg = load("cifar-10", Some(dir.path())).unwrap_err().to_string();
        assert!(msg.starts_with("dataset 'cifar-10' not found") && msg.contains("--download"), "{msg}");
    }

    #[test]
    fn download_refuses_the_embedded_set() {
        let dir = tempfile::tempdir().unwrap();
        let msg = download("mnist", dir.path()).unwrap_err().to_string();
        assert!(msg.contains("nothing to download"), "{msg}");
    }
}
