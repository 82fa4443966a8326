//! The theory lab end to end: every experiment in quick mode writes its data, plots and report;
//! a run is reproducible; bad requests are one-line errors.

mod common;

use std::path::Path;

use common::{error_of, exclusive};

fn experiments(args: &[&str]) -> anyhow::Result<()> {
    let _guard = exclusive();
    experiments::cli::run(std::iter::once("experiments").chain(args.iter().copied()))
}

/// The files each experiment must leave in its run directory.
const FILES: &[(&str, &[&str])] = &[
    ("skip-connections", &["skip_connections.csv", "curves.csv", "slices.csv", "skip_connections.png"]),
    ("landscape", &["slice_1d.csv", "slice_2d.csv", "slice_1d.png", "contour.png"]),
    ("sharpness", &["sharpness.csv", "slices.csv", "sharpness.png"]),
    ("memorization", &["memorization.csv", "curves.csv", "memorization.png"]),
    ("batchnorm", &["lr_sweep.csv", "fisher.csv", "batchnorm.png"]),
    ("pruning", &["pruning.csv", "eigenvalues.csv", "degrees_of_freedom.csv", "pruning.png"]),
    ("adversarial", &["fgsm.csv", "fgsm.png"]),
];

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn every_experiment_writes_its_files_in_quick_mode() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lab");
    experiments(&["all", "--quick", "--output", root.to_str().unwrap()]).unwrap();
    assert_eq!(FILES.len(), experiments::EXPERIMENTS.len(), "every experiment is checked");
    for (name, files) in FILES {
        let out = root.join(name);
        let report =
            std::fs::read_to_string(out.join("report.md")).unwrap_or_else(|e| panic!("{name}: report.md: {e}"));
        assert!(report.starts_with("# ") && report.contains("## Prediction and verdict"), "{name}: {report}");
        assert!(report.contains("**Agrees.**") || report.contains("**Does not agree.**"), "{name}: no verdict");
        for file in *files {
            let path = out.join(file);
            let len = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).len();
            assert!(len > 0, "{} is empty", path.display());
            if file.ends_with(".png") {
                let img = image::open(&path).unwrap();
                assert!(img.width() >= 500 && img.height() >= 400, "{}", path.display());
            }
            if file.ends_with(".csv") {
                let rows = csv_rows(&path);
                assert!(rows.len() >= 2, "{}: header and data", path.display());
                assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{}: ragged rows", path.display());
            }
        }
    }
    // The sweep covers every learning rate with and without batch norm.
    assert_eq!(csv_rows(&root.join("batchnorm/lr_sweep.csv")).len(), 1 + 2 * 7);
    // FGSM at ε = 0 leaves the clean accuracy; larger ε never helps the standard network much.
    let fgsm = csv_rows(&root.join("adversarial/fgsm.csv"));
    let acc: Vec<f64> = fgsm[1..].iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(acc[4] < acc[0], "ε = 0.3 must cost accuracy: {acc:?}");

    // The landscape of a checkpoint trained elsewhere: here the LeNet the adversarial run trained.
    let lenet_run = root.join("adversarial/runs/lenet");
    let sliced = dir.path().join("landscape-of-checkpoint");
    experiments(&[
        "landscape",
        "--quick",
        "--checkpoint",
        lenet_run.to_str().unwrap(),
        "--output",
        sliced.to_str().unwrap(),
    ])
    .unwrap();
    let report = std::fs::read_to_string(sliced.join("report.md")).unwrap();
    assert!(report.contains("the checkpoint") && !sliced.join("runs").exists(), "{report}");
}

#[test]
fn same_seed_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        experiments(&["pruning", "--quick", "--seed", seed, "--output", out.to_str().unwrap()]).unwrap();
        std::fs::read_to_string(out.join("pruning.csv")).unwrap()
    };
    let (a, b, c) = (run("a", "7"), run("b", "7"), run("c", "8"));
    assert_eq!(a, b, "same seed, same result");
    assert_ne!(a, c, "the seed matters");
}

#[test]
fn bad_requests_are_one_line_errors() {
    let msg = error_of(experiments(&["resnet"]));
    assert!(msg.starts_with("unknown experiment 'resnet' (known: skip-connections, landscape"), "{msg}");
    let msg = error_of(experiments(&["adversarial", "--checkpoint", "runs/x"]));
    assert_eq!(msg, "--checkpoint is for `experiments landscape` only");
    let dir = tempfile::tempdir().unwrap();
    let msg = error_of(experiments(&["landscape", "--quick", "--checkpoint", dir.path().to_str().unwrap()]));
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    let msg = error_of(experiments(&[
        "memorization",
        "--quick",
        "--dataset",
        "imagenet",
        "--output",
        dir.path().join("m").to_str().unwrap(),
    ]));
    assert!(msg.contains("imagenet"), "{msg}");
    let msg = error_of(experiments(&["adversarial", "--quick", "--seed", "x"]));
    assert!(msg.contains("--seed"), "{msg}");
}
