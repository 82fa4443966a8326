//! Classifiers: label image files, or evaluate on a test split.

use std::path::Path;

use anyhow::bail;
use burn::tensor::Device;
use burn::tensor::activation::softmax;
use rikai_data::{Batcher, ImageDataset, Invert, load_image};
use train::evaluate::{confusion_table, evaluate};
use train::models::Classifier;
use train::run_info::{RunInfo, load_classifier};

use crate::{Cli, InvertArg};

/// Classify `cli.images` and, with `--eval`, evaluate on the test split.
pub fn run(cli: &Cli, device: Device) -> anyhow::Result<()> {
    if cli.images.is_empty() && !cli.eval {
        bail!("nothing to do: give image files to classify, or --eval");
    }
    let (model, info) = load_classifier(&cli.checkpoint, &cli.model, &device)?;
    let batcher = Batcher::new(info.normalization.clone(), device);
    let failures = classify_files(cli, &model, &info, &batcher);
    if cli.eval {
        let dataset = cli.dataset.clone().unwrap_or_else(|| info.config.dataset.clone());
        let data_dir = cli.data_dir.clone().or_else(|| info.config.data_dir.clone());
        let test = rikai_data::load(&dataset, data_dir.as_deref())?.test;
        if (test.channels, test.height, test.width) != (info.input.channels, info.input.height, info.input.width) {
            bail!(
                "dataset '{dataset}' has {}x{}x{} images, the model takes {}x{}x{}",
                test.channels,
                test.height,
                test.width,
                info.input.channels,
                info.input.height,
                info.input.width
            );
        }
        let result = evaluate(&model, &test, &batcher, 256, "evaluate");
        println!(
            "{dataset} test split: {} images, accuracy {:.2}%, loss {:.4}",
            test.len(),
            100.0 * result.accuracy,
            result.loss
        );
        print!("{}", confusion_table(&result.confusion, &info.class_names));
    }
    if failures > 0 {
        bail!("{failures} of {} images could not be classified", cli.images.len());
    }
    Ok(())
}

/// Class probabilities of one image file, most probable first: the file is converted to the
/// model's input shape and normalised exactly as the training images were.
pub fn classify_image(
    model: &Classifier,
    info: &RunInfo,
    batcher: &Batcher,
    path: &Path,
    invert: Invert,
) -> anyhow::Result<Vec<(usize, f32)>> {
    let spec = &info.input;
    let pixels = load_image(path, spec.channels, spec.height, spec.width, invert)?;
    // A one-image dataset goes through the same batcher, hence the same normalisation, as training.
    let image = ImageDataset {
        pixels,
        labels: vec![0],
        channels: spec.channels,
        height: spec.height,
        width: spec.width,
        class_names: info.class_names.clone(),
    };
    let logits = model.forward(batcher.batch(&image, &[0]).images);
    let probs: Vec<f32> =
        softmax(logits, 1).into_data_as::<f32>().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut ranked: Vec<(usize, f32)> = probs.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(ranked)
}

/// Print one line per image; report unreadable files on stderr and return how many failed.
fn classify_files(cli: &Cli, model: &Classifier, info: &RunInfo, batcher: &Batcher) -> usize {
    let invert = match cli.invert {
        InvertArg::Auto => Invert::Auto,
        InvertArg::Always => Invert::Always,
        InvertArg::Never => Invert::Never,
    };
    let name = |c: usize| info.class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut failures = 0;
    for path in &cli.images {
        match classify_image(model, info, batcher, path, invert) {
            Ok(ranked) => {
                let top: Vec<String> = ranked
                    .iter()
                    .take(cli.top.max(1))
                    .map(|&(c, p)| format!("{} {:.2}%", name(c), 100.0 * p))
                    .collect();
                println!("{}: {} ({})", path.display(), name(ranked[0].0), top.join(", "));
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failures += 1;
            }
        }
    }
    failures
}
