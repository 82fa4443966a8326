//! End to end: train LeNet on the embedded data, check the run directory, classify image files
//! with the checkpoint, evaluate it, and resume a killed run.

mod common;

use std::path::Path;

use common::*;
use rikai_data::{Batcher, Invert};
use train::checkpoint;
use train::run_info::{RunInfo, load_classifier};

#[test]
fn a_run_directory_holds_config_metrics_plot_and_checkpoints() {
    let run = trained_run();
    for file in
        ["config.toml", "run.json", "metrics.csv", "curves.png", "best.bpk", "results.json", "checkpoints/latest"]
    {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let latest = checkpoint::latest(run).unwrap();
    assert!(latest.ends_with("epoch-0002"));
    for file in ["model.bpk", "optim.bpk", "state.json"] {
        assert!(latest.join(file).is_file(), "{file} missing");
    }
    // Only the latest checkpoint is kept, and no temporary files are left behind.
    let entries: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");

    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], train::metrics::HEADER);
    assert_eq!(rows.len(), 3);
    let loss = |row: &str| row.split(',').nth(1).unwrap().parse::<f64>().unwrap();
    assert!(loss(rows[2]) < loss(rows[1]), "training loss falls: {csv}");

    let saved = train::config::TrainConfig::from_saved(&run.join("config.toml")).unwrap();
    assert_eq!((saved.epochs, saved.batch_size, saved.limit_train), (2, 32, 640));

    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let acc = results["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.5, "two short epochs already beat chance by far: {acc}");

    let plot = image::open(run.join("curves.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (1120, 420));
}

#[test]
fn infer_converts_image_files_exactly_as_the_training_data() {
    let run = trained_run();
    let device = burn::tensor::Device::flex();
    let (model, info) = {
        let _guard = exclusive();
        load_classifier(run, "lenet", &device).unwrap()
    };
    let batcher = Batcher::new(info.normalization.clone(), device);
    let test = rikai_data::load("mnist", None).unwrap().test;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        let pixels = test.image(i).to_vec();
        // The same digit as an 8-bit grayscale PNG and as a 16-bit RGBA PNG.
        let gray = dir.path().join(format!("{i}.png"));
        image::GrayImage::from_raw(28, 28, pixels.clone()).unwrap().save(&gray).unwrap();
        let rgba16 = dir.path().join(format!("{i}-rgba16.png"));
        image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(28, 28, |x, y| {
            let v = pixels[(y * 28 + x) as usize] as u16 * 257;
            image::Rgba([v, v, v, 65535])
        })
        .save(&rgba16)
        .unwrap();

        let direct = model.forward(batcher.batch(&test, &[i]).images);
        let direct: Vec<f32> =
            burn::tensor::activation::softmax(direct, 1).into_data_as::<f32>().try_into_vec::<f32>().unwrap();
        for path in [&gray, &rgba16] {
            let ranked = infer::classify_image(&model, &info, &batcher, path, Invert::Auto).unwrap();
            let (class, p) = ranked[0];
            let best = direct.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
            assert_eq!(class, best.0, "{}", path.display());
            assert!((p - best.1).abs() < 1e-5, "{}: {p} vs {}", path.display(), best.1);
        }
    }
    let png = dir.path().join("0.png");
    infer(&["lenet", "--checkpoint", run.to_str().unwrap(), png.to_str().unwrap()]).unwrap();
}

#[test]
fn infer_eval_reports_on_the_test_split() {
    let run = trained_run();
    infer(&["lenet", "--checkpoint", run.to_str().unwrap(), "--eval"]).unwrap();
    // A checkpoint folder and a weight file work as well as the run directory.
    let latest = checkpoint::latest(run).unwrap();
    infer(&["lenet", "--checkpoint", latest.to_str().unwrap(), "--eval"]).unwrap();
    let info = RunInfo::load(run).unwrap();
    assert_eq!(info.class_names.len(), 10);
    assert_eq!(info.input.channels, 1);
}

fn metrics_without_timing(run: &Path) -> Vec<String> {
    // Drop the wall-time and throughput columns, which differ between runs.
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn a_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let (_a, straight) = temp_run();
    let (_b, killed) = temp_run();
    let mut args = vec!["lenet", "--epochs", "3", "--crop-padding", "1", "--output", straight.to_str().unwrap()];
    args.extend_from_slice(QUICK);
    train(&args).unwrap();

    let mut args = vec![
        "lenet",
        "--epochs",
        "3",
        "--crop-padding",
        "1",
        "--halt-after",
        "1",
        "--output",
        killed.to_str().unwrap(),
    ];
    args.extend_from_slice(QUICK);
    train(&args).unwrap();
    assert_eq!(metrics_without_timing(&killed).len(), 2, "halted after one epoch");
    assert!(!killed.join("results.json").exists());
    train(&["lenet", "--resume", killed.to_str().unwrap()]).unwrap();

    assert_eq!(metrics_without_timing(&killed), metrics_without_timing(&straight));
    let state =
        |run: &Path| -> checkpoint::TrainState { checkpoint::load_state(&checkpoint::latest(run).unwrap()).unwrap() };
    assert_eq!(state(&killed).epochs_done, 3);
    assert_eq!(state(&killed).best_epoch, state(&straight).best_epoch);
    let results = |run: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap()
    };
    assert_eq!(results(&killed)["test_accuracy"], results(&straight)["test_accuracy"]);
    assert_eq!(results(&killed)["test_loss"], results(&straight)["test_loss"]);

    // Killed during its first epoch, before any checkpoint: the resume starts over, identically.
    let (_d, early) = temp_run();
    let mut args =
        vec!["lenet", "--epochs", "3", "--crop-padding", "1", "--halt-after", "1", "--output", early.to_str().unwrap()];
    args.extend_from_slice(QUICK);
    train(&args).unwrap();
    std::fs::remove_dir_all(early.join("checkpoints")).unwrap();
    train(&["lenet", "--resume", early.to_str().unwrap()]).unwrap();
    assert_eq!(metrics_without_timing(&early), metrics_without_timing(&straight));

    // Resuming a finished run has nothing to do but still reports; a different seed differs.
    train(&["lenet", "--resume", killed.to_str().unwrap()]).unwrap();
    let (_c, other) = temp_run();
    let mut args = vec!["lenet", "--epochs", "1", "--seed", "7", "--output", other.to_str().unwrap()];
    args.extend_from_slice(QUICK);
    train(&args).unwrap();
    assert_ne!(metrics_without_timing(&other)[1], metrics_without_timing(&straight)[1]);
}
