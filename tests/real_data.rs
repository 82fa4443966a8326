//! The real datasets load through the lookup order with their published sizes.

use std::path::Path;

#[test]
fn embedded_mnist_is_found_from_any_working_directory() {
    let splits = rikai_data::load("mnist", None).unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (8004, 1996));
    let dir = rikai_data::find_dataset_dir("mnist", None).unwrap();
    assert!(dir.ends_with("datasets/mnist"), "{}", dir.display());
}

#[test]
fn full_fashion_mnist_from_the_system_package() {
    let system = Path::new("/usr/share/datasets/fashion-mnist");
    if !system.is_dir() {
        // CI installs it (scripts/fetch-datasets.sh); elsewhere it is optional.
        assert!(std::env::var_os("CI").is_none(), "CI must install dataset-fashion-mnist first");
        eprintln!("skipped: run scripts/fetch-datasets.sh to test the full Fashion-MNIST");
        return;
    }
    let splits = rikai_data::load("fashion-mnist", None).unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
    assert_eq!(splits.train.class_counts(), vec![6000; 10]);
    assert_eq!(splits.test.class_counts(), vec![1000; 10]);
    assert_eq!(splits.train.class_names[9], "Ankle boot");
    let norm = rikai_data::Normalization::from_dataset(&splits.train);
    // The published statistics of Fashion-MNIST's training images.
    assert!((norm.mean[0] - 0.2860).abs() < 1e-3 && (norm.std[0] - 0.3530).abs() < 1e-3, "{norm:?}");
}
