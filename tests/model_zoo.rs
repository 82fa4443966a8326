//! End to end for the ResNet and AlexNet families and the new data sources: train each with a
//! small config, resume a ResNet exactly, classify with the checkpoints, and train on an image
//! folder and on CIFAR-format files made here from real MNIST digits.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use rikai_data::cifar::{self, Labels};
use train::run_info::RunInfo;

/// A config file in `dir` for a narrow, quick network of `model`.
fn small_config(dir: &Path, model: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{model}.toml"));
    std::fs::write(&path, format!("model = \"{model}\"\ncrop_padding = 1\n{body}")).unwrap();
    path
}

const NARROW_RESNET: &str = "optimizer = \"sgd\"\nlr = 0.05\nweight_decay = 5e-4\nwarmup_epochs = 0.5\n\
                             [resnet]\nwidth = 0.25\nstochastic_depth = 0.2\n";

/// A small run on the embedded MNIST, at the learning rate of the model's config.
const SMALL: &[&str] =
    &["--limit-train", "640", "--limit-test", "200", "--batch-size", "32", "--valid-fraction", "0.1"];

fn results(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap()
}

fn save_digit(path: &Path, pixels: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_raw(28, 28, pixels.to_vec()).unwrap().save(path).unwrap();
}

#[test]
fn resnet_trains_resumes_exactly_and_serves_infer() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path(), "resnet", NARROW_RESNET);
    let (_a, straight) = temp_run();
    let base = ["resnet", "--config", config.to_str().unwrap(), "--epochs", "2"];
    let mut args = base.to_vec();
    args.extend_from_slice(&["--output", straight.to_str().unwrap()]);
    args.extend_from_slice(SMALL);
    train(&args).unwrap();
    let acc = results(&straight)["test_accuracy"].as_f64().unwrap();
    // 40 steps of a quarter-width net: well above chance (10%), far from trained.
    assert!(acc > 0.18, "a narrow ResNet-20 starts to learn digits in two short epochs: {acc}");
    let info = RunInfo::load(&straight).unwrap();
    assert_eq!(info.config.variant.as_deref(), Some("resnet20"), "the default variant is saved");
    assert_eq!(info.config.resnet.stochastic_depth, 0.2);

    // Killed after epoch 1 and resumed: stochastic depth, batch-norm statistics and momentum
    // all continue exactly.
    let (_b, killed) = temp_run();
    let mut args = base.to_vec();
    args.extend_from_slice(&["--halt-after", "1", "--output", killed.to_str().unwrap()]);
    args.extend_from_slice(SMALL);
    train(&args).unwrap();
    train(&["resnet", "--resume", killed.to_str().unwrap()]).unwrap();
    assert_eq!(results(&killed)["test_loss"], results(&straight)["test_loss"]);

    let digit = dir.path().join("digit.png");
    save_digit(&digit, rikai_data::load("mnist", None).unwrap().test.image(0));
    infer(&["resnet", "--checkpoint", straight.to_str().unwrap(), digit.to_str().unwrap()]).unwrap();
    infer(&["resnet", "--checkpoint", straight.to_str().unwrap(), "--eval"]).unwrap();
    let msg = error_of(infer(&["alexnet", "--checkpoint", straight.to_str().unwrap(), "--eval"]));
    assert!(msg.ends_with("checkpoint of a 'resnet' model, not 'alexnet'"), "{msg}");
    let msg = error_of(train(&["resnet", "--resume", straight.to_str().unwrap(), "--model-variant", "resnet56"]));
    assert!(msg.starts_with("`variant` cannot change when resuming"), "{msg}");
}

#[test]
fn model_variant_picks_the_depth_and_bad_variants_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path(), "resnet", NARROW_RESNET);
    let (_a, run) = temp_run();
    let cfg = config.to_str().unwrap();
    let out = run.to_str().unwrap();
    let limits = ["--limit-train", "64", "--limit-test", "32", "--valid-fraction", "0"];
    let mut args = vec!["resnet", "--config", cfg, "--model-variant", "resnet32", "--epochs", "1", "--output", out];
    args.extend_from_slice(&limits);
    train(&args).unwrap();
    let info = RunInfo::load(&run).unwrap();
    assert_eq!(info.config.variant.as_deref(), Some("resnet32"));

    let msg = error_of(train(&["resnet", "--model-variant", "resnet21"]));
    assert!(msg.starts_with("config field `variant`: resnet has no variant 'resnet21' (known: resnet20,"), "{msg}");
    let msg = error_of(train(&["lenet", "--model-variant", "resnet20"]));
    assert!(msg.starts_with("config field `variant`: lenet has no variant 'resnet20'"), "{msg}");
}

#[test]
fn alexnet_small_trains_and_classifies() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(
        dir.path(),
        "alexnet",
        "optimizer = \"adamw\"\nweight_decay = 0.05\n[alexnet]\nwidth = 0.25\nhidden = 128\ndropout = 0.3\n",
    );
    let (_a, run) = temp_run();
    let mut args = vec!["alexnet", "--config", config.to_str().unwrap(), "--epochs", "2"];
    args.extend_from_slice(&["--output", run.to_str().unwrap()]);
    args.extend_from_slice(SMALL);
    train(&args).unwrap();
    let acc = results(&run)["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.18, "small AlexNet starts to learn digits in two short epochs: {acc}");
    assert_eq!(RunInfo::load(&run).unwrap().config.variant.as_deref(), Some("alexnet-small"));
    let digit = dir.path().join("digit.png");
    save_digit(&digit, rikai_data::load("mnist", None).unwrap().test.image(1));
    infer(&["alexnet", "--checkpoint", run.to_str().unwrap(), digit.to_str().unwrap()]).unwrap();
}

#[test]
fn an_image_folder_of_pngs_is_a_dataset() {
    // Zeros and ones from the embedded MNIST, written as PNG files in class folders.
    let mnist = rikai_data::load("mnist", None).unwrap().train;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("digits");
    let mut counts = [0usize; 2];
    for i in 0..mnist.len() {
        let label = mnist.labels[i] as usize;
        if label < 2 && counts[label] < 100 {
            let class = ["zero", "one"][label];
            save_digit(&root.join(class).join(format!("{:03}.png", counts[label])), mnist.image(i));
            counts[label] += 1;
        }
    }
    let (_a, run) = temp_run();
    let dataset = format!("folder:{}", root.display());
    let args = ["lenet", "--dataset", &dataset, "--image-size", "28", "--channels", "1", "--epochs", "3"];
    let mut args = args.to_vec();
    args.extend_from_slice(&["--batch-size", "16", "--valid-fraction", "0", "--output", run.to_str().unwrap()]);
    train(&args).unwrap();
    let info = RunInfo::load(&run).unwrap();
    assert_eq!(info.class_names, vec!["one", "zero"], "classes are the sorted folder names");
    assert_eq!(info.input.channels, 1);
    let acc = results(&run)["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "zeros and ones are easy: {acc}");
    let png = root.join("zero/000.png");
    infer(&["lenet", "--checkpoint", run.to_str().unwrap(), png.to_str().unwrap()]).unwrap();

    std::fs::write(root.join("one/broken.png"), b"not an image").unwrap();
    let msg = error_of(train(&["lenet", "--dataset", &dataset, "--channels", "1"]));
    assert!(msg.contains("broken.png: cannot decode image"), "{msg}");
}

#[test]
fn cifar_format_files_train_an_rgb_model() {
    // Real digits dressed as CIFAR-10 records: 32x32, three planes, one label byte.
    let splits = rikai_data::load("mnist", None).unwrap();
    let as_cifar = |ds: &rikai_data::ImageDataset, n: usize| -> Vec<u8> {
        let mut pixels = Vec::new();
        for i in 0..n {
            let mut plane = vec![0u8; 32 * 32];
            for (y, row) in ds.image(i).chunks_exact(28).enumerate() {
                plane[(y + 2) * 32 + 2..(y + 2) * 32 + 30].copy_from_slice(row);
            }
            for c in 0..3 {
                pixels.extend(plane.iter().map(|&p| (p as u16 * (c + 1) as u16 / 3) as u8));
            }
        }
        cifar::encode(Labels::Ten, &ds.labels[..n], &pixels)
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&data).unwrap();
    for b in 1..=5 {
        let part = splits.train.subset(&((b - 1) * 120..b * 120).collect::<Vec<_>>());
        std::fs::write(data.join(format!("data_batch_{b}.bin")), as_cifar(&part, 120)).unwrap();
    }
    std::fs::write(data.join("test_batch.bin"), as_cifar(&splits.test, 200)).unwrap();
    let (_a, run) = temp_run();
    let out = run.to_str().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = ["lenet", "--dataset", "cifar-10", "--data-dir", data_dir, "--epochs", "3", "--hflip", "false"];
    let mut args = args.to_vec();
    args.extend_from_slice(&["--batch-size", "16", "--lr", "0.003", "--output", out]);
    train(&args).unwrap();
    let info = RunInfo::load(&run).unwrap();
    assert_eq!((info.input.channels, info.input.height), (3, 32));
    assert_eq!(info.class_names[0], "airplane");
    assert_eq!(info.normalization.mean.len(), 3);
    let acc = results(&run)["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.5, "600 digits are enough to beat chance by far: {acc}");

    // A truncated batch is named.
    let test = data.join("test_batch.bin");
    let bytes = std::fs::read(&test).unwrap();
    std::fs::write(&test, &bytes[..bytes.len() - 10]).unwrap();
    let msg = error_of(train(&["lenet", "--dataset", "cifar-10", "--data-dir", data_dir]));
    assert!(msg.starts_with(&format!("{}: 614590 bytes is not a whole number", test.display())), "{msg}");
}
