//! Datasets for rikai: the project's own IDX (MNIST family) and CIFAR readers, image folders,
//! where each dataset is looked up on disk, augmentation, seeded shuffling and batching into normalised tensors, and the conversion
//! of arbitrary image files into the form a model was trained on.
//!
//! Every reader validates what it reads and reports a [`DataError`] that names the file and
//! the problem, so a corrupt download is a one-line message rather than a panic.

pub mod augment;
mod batch;
pub mod cifar;
mod cifar_names;
mod dataset;
mod error;
pub mod folder;
pub mod idx;
mod image_file;
mod rng;
mod sources;

pub use batch::{Batch, Batcher};
pub use dataset::{ImageDataset, Normalization, Splits};
pub use error::DataError;
pub use image_file::{Invert, load_image};
pub use rng::Rng;
pub use sources::{
    Archive, DatasetSpec, ENV_VAR, FOLDER_PREFIX, FileSpec, FolderShape, Format, SPECS, download, find_dataset_dir,
    load, load_dataset,
};
