//! Bad input of every kind ends in a one-line error that names the file or field, never a panic.

mod common;

use std::path::Path;

use common::*;

fn train_on(dir: &Path) -> String {
    let mut args = vec!["lenet", "--epochs", "1", "--data-dir", dir.to_str().unwrap()];
    let out = dir.join("run");
    args.extend_from_slice(&["--output", out.to_str().unwrap()]);
    args.extend_from_slice(QUICK);
    error_of(train(&args))
}

/// Train on a copy of the embedded MNIST whose `file` was changed by `damage`.
fn train_with_damaged(file: &str, damage: impl FnOnce(&mut Vec<u8>)) -> String {
    let dir = tempfile::tempdir().unwrap();
    copy_mnist_raw(dir.path());
    let path = dir.path().join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    train_on(dir.path())
}

#[test]
fn truncated_idx_file_is_named() {
    let msg = train_with_damaged("t10k-images-idx3-ubyte", |b| b.truncate(b.len() - 100));
    assert!(msg.contains("t10k-images-idx3-ubyte: truncated"), "{msg}");
}

#[test]
fn wrong_magic_is_named() {
    let msg = train_with_damaged("train-images-idx3-ubyte", |b| b[2] = 0x0b);
    assert!(msg.contains("train-images-idx3-ubyte: wrong magic number 0x00000b03"), "{msg}");
}

#[test]
fn label_out_of_range_is_named() {
    let msg = train_with_damaged("train-labels-idx1-ubyte", |b| b[8 + 5] = 12);
    assert!(msg.contains("train-labels-idx1-ubyte: label 12 at index 5 is out of range"), "{msg}");
}

#[test]
fn corrupt_gzip_is_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_mnist_raw(dir.path());
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), [0x1f, 0x8b, 8, 0, 9, 9, 9]).unwrap();
    let msg = train_on(dir.path());
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz: corrupt gzip stream"), "{msg}");
}

#[test]
fn missing_dataset_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let msg = train_on(dir.path());
    assert!(msg.contains("dataset 'mnist' not found"), "{msg}");
    let msg = error_of(train(&["lenet", "--dataset", "imagenet"]));
    assert!(msg.starts_with("unknown dataset 'imagenet'"), "{msg}");
}

#[test]
fn unknown_model_is_rejected_by_both_binaries() {
    assert_eq!(
        error_of(train(&["lenet7"])),
        "unknown model 'lenet7' (known: lenet, resnet, alexnet, dcgan, diffusion)"
    );
    let msg = error_of(infer(&["vgg", "--checkpoint", "x", "a.png"]));
    assert_eq!(msg, "unknown model 'vgg' (known: lenet, resnet, alexnet, dcgan, diffusion)");
}

#[test]
fn bad_config_values_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let cfg = config.to_str().unwrap();
    std::fs::write(&config, "epochs = 2\nlr = -0.5\n").unwrap();
    assert_eq!(error_of(train(&["lenet", "--config", cfg])), "config field `lr`: must be a positive number, got -0.5");
    std::fs::write(&config, "epochs = 2\n[lenet]\npooling = \"median\"\n").unwrap();
    let msg = error_of(train(&["lenet", "--config", cfg]));
    assert!(msg.starts_with(&format!("{cfg}: line 3: unknown variant `median`")), "{msg}");
    std::fs::write(&config, "epoch = 2\n").unwrap();
    assert!(error_of(train(&["lenet", "--config", cfg])).contains("line 1: unknown field `epoch`"));
    let msg = error_of(train(&["lenet", "--config", dir.path().join("missing.toml").to_str().unwrap()]));
    assert!(msg.contains("missing.toml: cannot read"), "{msg}");
    let msg = error_of(train(&["lenet", "--epochs", "ten"]));
    assert!(msg.starts_with("invalid value 'ten' for '--epochs <EPOCHS>'"), "{msg}");
    assert!(error_of(train(&["lenet", "--batch-size", "0"])).starts_with("config field `batch_size`"));
    let msg = error_of(train(&[]));
    assert!(msg.contains("required arguments were not provided: <MODEL>"), "{msg}");
    assert!(error_of(train(&["lenet", "--device", "tpu"])).contains("unknown backend"));
}

#[test]
fn checkpoint_problems_are_named() {
    let run = trained_run();
    let msg = error_of(infer(&["lenet", "--checkpoint", "/nonexistent/run", "a.png"]));
    assert_eq!(msg, "/nonexistent/run: no such checkpoint or run directory");

    // A copy of the run whose weights are garbage.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in ["run.json", "config.toml"] {
        std::fs::copy(run.join(f), copy.join(f)).unwrap();
    }
    std::fs::write(copy.join("best.bpk"), b"definitely not burnpack").unwrap();
    let msg = error_of(infer(&["lenet", "--checkpoint", copy.to_str().unwrap(), "--eval"]));
    assert!(msg.contains("best.bpk: not a checkpoint of this model"), "{msg}");

    // Weights of another configuration: the run says batch norm, the weights have none.
    std::fs::copy(run.join("best.bpk"), copy.join("best.bpk")).unwrap();
    let json =
        std::fs::read_to_string(run.join("run.json")).unwrap().replace("\"batch_norm\": false", "\"batch_norm\": true");
    std::fs::write(copy.join("run.json"), json).unwrap();
    let msg = error_of(infer(&["lenet", "--checkpoint", copy.to_str().unwrap(), "--eval"]));
    assert!(msg.contains("best.bpk: not a checkpoint of this model"), "{msg}");

    // A checkpoint of another model family.
    let json =
        std::fs::read_to_string(run.join("run.json")).unwrap().replace("\"model\": \"lenet\"", "\"model\": \"resnet\"");
    std::fs::write(copy.join("run.json"), json).unwrap();
    let msg = error_of(infer(&["lenet", "--checkpoint", copy.to_str().unwrap(), "--eval"]));
    assert!(msg.ends_with("checkpoint of a 'resnet' model, not 'lenet'"), "{msg}");

    // Corrupt run description and resume of something that is no run.
    std::fs::write(copy.join("run.json"), "{").unwrap();
    assert!(
        error_of(infer(&["lenet", "--checkpoint", copy.to_str().unwrap(), "--eval"]))
            .contains("run.json: corrupt run description")
    );
    let msg = error_of(train(&["lenet", "--resume", dir.path().to_str().unwrap()]));
    assert!(msg.contains("config.toml: cannot read"), "{msg}");
    // A resumed run keeps its settings, except its length.
    let msg = error_of(train(&["lenet", "--resume", run.to_str().unwrap(), "--lr", "0.1"]));
    assert!(msg.starts_with("`lr` cannot change when resuming"), "{msg}");
    // An existing run is not overwritten by a new one.
    let msg = error_of(train(&["lenet", "--output", run.to_str().unwrap()]));
    assert!(msg.contains("already holds a run"), "{msg}");
}

#[test]
fn unreadable_images_are_named_and_fail_the_command() {
    let run = trained_run();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.png");
    std::fs::write(&bad, b"not an image").unwrap();
    let good = dir.path().join("good.png");
    image::GrayImage::from_fn(40, 40, |x, _| image::Luma([if x > 20 { 255 } else { 0 }])).save(&good).unwrap();
    let msg = error_of(infer(&[
        "lenet",
        "--checkpoint",
        run.to_str().unwrap(),
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]));
    assert_eq!(msg, "1 of 2 images could not be classified");
    let device = burn::tensor::Device::flex();
    let (model, info) = {
        let _guard = exclusive();
        train::run_info::load_classifier(run, "lenet", &device).unwrap()
    };
    let batcher = rikai_data::Batcher::new(info.normalization.clone(), device);
    let msg =
        format!("{:#}", infer::classify_image(&model, &info, &batcher, &bad, rikai_data::Invert::Auto).unwrap_err());
    assert!(msg.starts_with(&format!("{}: cannot decode image", bad.display())), "{msg}");
    assert!(error_of(infer(&["lenet", "--checkpoint", run.to_str().unwrap()])).starts_with("nothing to do"));
}
