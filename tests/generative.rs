//! End to end for the generative models: train a narrow DCGAN and a tiny diffusion model,
//! resume each exactly, draw grids and latent walks with `infer`, and score generators with
//! the LeNet-FID judge.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::*;
use rikai_data::Rng;
use train::quality::Judge;

/// A narrow DCGAN config for quick runs.
fn small_gan_config(dir: &Path) -> PathBuf {
    let path = dir.join("dcgan.toml");
    let body = "model = \"dcgan\"\noptimizer = \"adam\"\nlr = 2e-4\nbeta1 = 0.5\nschedule = \"constant\"\n\
                valid_fraction = 0.0\n[dcgan]\ngenerator_width = 16\ndiscriminator_width = 16\n";
    std::fs::write(&path, body).unwrap();
    path
}

/// `train <model>` arguments for a 2-epoch run of `config` into `run` on a subset of MNIST.
fn run_args<'a>(model: &'a str, config: &'a Path, run: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec![model, "--config", config.to_str().unwrap(), "--output", run.to_str().unwrap(), "--epochs", "2"];
    args.extend_from_slice(extra);
    args
}

fn gan_args<'a>(config: &'a Path, run: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = run_args("dcgan", config, run, &["--limit-train", "512", "--batch-size", "64"]);
    args.extend_from_slice(extra);
    args
}

/// metrics.csv without the timing columns, which differ between runs.
fn gan_metrics(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    text.lines().map(|l| l.split(',').take(6).collect::<Vec<_>>().join(",")).collect()
}

#[test]
fn dcgan_trains_writes_samples_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_gan_config(dir.path());
    let straight = dir.path().join("straight");
    train(&gan_args(&config, &straight, &[])).unwrap();

    let metrics = gan_metrics(&straight);
    assert_eq!(metrics[0], "epoch,d_loss,g_loss,d_real,d_fake,diversity");
    assert_eq!(metrics.len(), 3, "one row per epoch");
    let row: Vec<f64> = metrics[2].split(',').map(|v| v.parse().unwrap()).collect();
    assert!(row[1] > 0.0 && row[2] > 0.0, "positive losses: {row:?}");
    assert!((0.0..=1.0).contains(&row[3]) && (0.0..=1.0).contains(&row[4]), "D outputs are probabilities");
    assert!(row[3] > row[4], "after two epochs D tells real (D(x) {}) from generated ({})", row[3], row[4]);
    for file in ["curves.png", "samples/epoch-0001.png", "samples/epoch-0002.png", "results.json", "run.json"] {
        assert!(straight.join(file).is_file(), "{file} written");
    }
    let checkpoint = straight.join("checkpoints/epoch-0002");
    for file in ["generator.bpk", "discriminator.bpk", "optim-generator.bpk", "optim-discriminator.bpk", "state.json"] {
        assert!(checkpoint.join(file).is_file(), "checkpoint holds {file}");
    }
    let grid = image::open(straight.join("samples/epoch-0002.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * 58 + 2, 8 * 58 + 2), "8x8 grid of 56-pixel cells");

    // Killed after epoch 1, resumed: same metrics and the same generator.
    let killed = dir.path().join("killed");
    train(&gan_args(&config, &killed, &["--halt-after", "1"])).unwrap();
    assert_eq!(gan_metrics(&killed).len(), 2);
    train(&["dcgan", "--resume", killed.to_str().unwrap()]).unwrap();
    assert_eq!(gan_metrics(&killed), metrics);
    let grid_of = |run: &Path, seed: &str| {
        let out = dir.path().join(format!("grid-{}-{seed}.png", run.file_name().unwrap().to_string_lossy()));
        infer(&[
            "dcgan",
            "--checkpoint",
            run.to_str().unwrap(),
            "--samples",
            "16",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        std::fs::read(out).unwrap()
    };
    let a = grid_of(&straight, "7");
    assert_eq!(a, grid_of(&killed, "7"), "the resumed run ends with the same generator");
    assert_ne!(a, grid_of(&straight, "8"), "another seed draws other images");
    let img = image::load_from_memory(&a).unwrap();
    assert_eq!((img.width(), img.height()), (4 * 58 + 2, 4 * 58 + 2), "16 samples in a 4x4 grid");

    // A latent walk: 3 rows of 6 steps.
    let walk = dir.path().join("walk.png");
    let run = straight.to_str().unwrap();
    infer(&["dcgan", "--checkpoint", run, "--interpolate", "6", "--rows", "3", "--out", walk.to_str().unwrap()])
        .unwrap();
    let img = image::open(&walk).unwrap();
    assert_eq!((img.width(), img.height()), (6 * 58 + 2, 3 * 58 + 2));

    // Wrong uses are one-line errors.
    let lenet = trained_run().to_str().unwrap();
    assert!(error_of(infer(&["dcgan", "--checkpoint", lenet])).ends_with("checkpoint of a 'lenet' model, not 'dcgan'"));
    let e = error_of(infer(&["dcgan", "--checkpoint", run, "--evaluate", "--classifier", run]));
    assert!(e.ends_with("checkpoint of a 'dcgan' model, not 'lenet'"), "{e}");
    let e = error_of(infer(&["dcgan", "--checkpoint", run, "--evaluate"]));
    assert!(e.starts_with("--evaluate needs --classifier"), "{e}");
    let e = error_of(infer(&["dcgan", "--checkpoint", run, "digit.png"]));
    assert!(e.starts_with("dcgan generates images"), "{e}");
    let e = error_of(infer(&["dcgan", "--checkpoint", run, "--interpolate", "1"]));
    assert!(e.starts_with("--interpolate needs at least 2 steps"), "{e}");
}

/// A tiny diffusion config: a two-level UNet and a 50-step forward process.
fn tiny_diffusion_config(dir: &Path) -> PathBuf {
    let path = dir.join("diffusion.toml");
    let body = "model = \"diffusion\"\noptimizer = \"adam\"\nlr = 1e-3\nschedule = \"constant\"\nvalid_fraction = 0.0\n\
                [diffusion]\nbase_channels = 8\nchannel_mults = [1, 2]\nblocks_per_level = 1\ngroups = 4\n\
                timesteps = 50\nsample_steps = 5\nobjective = \"v\"\nnoise_schedule = \"cosine\"\n";
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn diffusion_trains_resumes_exactly_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_diffusion_config(dir.path());
    let small = ["--limit-train", "192", "--batch-size", "32"];
    let straight = dir.path().join("straight");
    train(&run_args("diffusion", &config, &straight, &small)).unwrap();
    let metrics = std::fs::read_to_string(straight.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert_eq!(lines[0], "epoch,loss,lr,seconds,images_per_sec");
    let loss = |line: &str| line.split(',').nth(1).unwrap().parse::<f64>().unwrap();
    assert!(loss(lines[2]) < loss(lines[1]), "the denoising loss falls: {metrics}");
    for file in
        ["samples/epoch-0002.png", "curves.png", "checkpoints/epoch-0002/ema.bpk", "checkpoints/epoch-0002/unet.bpk"]
    {
        assert!(straight.join(file).is_file(), "{file} written");
    }

    let killed = dir.path().join("killed");
    let mut args = run_args("diffusion", &config, &killed, &small);
    args.extend_from_slice(&["--halt-after", "1"]);
    train(&args).unwrap();
    train(&["diffusion", "--resume", killed.to_str().unwrap()]).unwrap();
    let strip = |run: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        text.lines().map(|l| l.split(',').take(3).collect::<Vec<_>>().join(",")).collect()
    };
    assert_eq!(strip(&killed), strip(&straight), "resumed exactly");

    let grid = |run: &Path, sampler: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut a = vec!["diffusion", "--checkpoint", run.to_str().unwrap(), "--samples", "9", "--seed", "3"];
        a.extend_from_slice(sampler);
        a.extend_from_slice(&["--out", out.to_str().unwrap()]);
        infer(&a).unwrap();
        std::fs::read(out).unwrap()
    };
    let ddim = grid(&straight, &["--sampler", "ddim", "--steps", "10"], "ddim.png");
    assert_eq!(ddim, grid(&killed, &["--sampler", "ddim", "--steps", "10"], "ddim-resumed.png"));
    let ddpm = grid(&straight, &["--sampler", "ddpm"], "ddpm.png");
    assert_ne!(ddim, ddpm, "the samplers differ");
    assert_eq!(ddpm, grid(&straight, &["--sampler", "ddpm"], "ddpm-again.png"), "seeded");
    let img = image::load_from_memory(&ddpm).unwrap();
    assert_eq!((img.width(), img.height()), (3 * 58 + 2, 3 * 58 + 2));

    let run = straight.to_str().unwrap();
    let e = error_of(infer(&["diffusion", "--checkpoint", run, "--interpolate", "5"]));
    assert!(e.starts_with("--interpolate walks a GAN's latent space"), "{e}");
    let e = error_of(infer(&["dcgan", "--checkpoint", run]));
    assert!(e.ends_with("checkpoint of a 'diffusion' model, not 'dcgan'"), "{e}");
    let e = error_of(infer(&["diffusion", "--checkpoint", run, "--steps", "0"]));
    assert!(e.starts_with("--steps must be at least 1"), "{e}");
}

#[test]
fn divergence_stops_the_run_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_gan_config(dir.path());
    let run = dir.path().join("diverged");
    let e = error_of(train(&gan_args(&config, &run, &["--optimizer", "sgd", "--lr", "1e6"])));
    assert!(e.starts_with("training diverged at epoch 1, step "), "{e}");
    assert!(e.ends_with("no checkpoint had been written yet; try a lower --lr"), "{e}");
}

#[test]
fn walk_runs_in_a_straight_line_between_its_ends() {
    let d = Device::flex();
    let generator = {
        let _guard = exclusive();
        dcgan::DcganConfig::new(28, 1).with_latent_dim(4).init_generator(&d)
    };
    let z = infer::generate::walk(&generator, 3, 5, 2, &d);
    assert_eq!(z.dims(), [10, 4]);
    let rows: Vec<f32> = z.into_data().iter::<f32>().collect();
    let ends = Rng::new(3).normals(16);
    for (row, (from, to)) in [(0, (0, 4)), (1, (8, 12))] {
        for step in 0..5 {
            let t = step as f32 / 4.0;
            for k in 0..4 {
                let expected = (1.0 - t) * ends[from + k] + t * ends[to + k];
                assert!((rows[(row * 5 + step) * 4 + k] - expected).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn lenet_fid_separates_real_from_generated_images() {
    let d = Device::flex();
    let lenet = trained_run();
    let judge = {
        let _guard = exclusive();
        Judge::load(lenet, &d).unwrap()
    };
    let splits = rikai_data::load("mnist", None).unwrap();
    let order = Rng::new(5).permutation(splits.train.len());
    let real_a = splits.train.subset(&order[..1000]);
    let real_b = splits.train.subset(&order[1000..2000]);

    // Real against real: the floor, small, and 0 for identical sets.
    let same = judge.score(&real_a, &real_a, &splits.test).unwrap();
    assert!(same.fid < 1e-6, "identical sets: {}", same.fid);
    let real = judge.score(&real_b, &real_a, &splits.test).unwrap();
    assert!(real.fid > 0.0 && real.floor > 0.0);

    // An untrained generator's images are far from digits, and the report shows it.
    let generator = {
        let _guard = exclusive();
        dcgan::DcganConfig::new(28, 1).init_generator(&d)
    };
    let z = train::gan::latents(&mut Rng::new(1), 1000, 100, &d);
    let fake = infer::generate::generate(&generator, z, &splits.train.class_names, "test").unwrap();
    let quality = judge.score(&fake, &real_a, &splits.test).unwrap();
    assert!(quality.fid > 10.0 * real.fid, "generated {} vs real {}", quality.fid, real.fid);
    assert_eq!(quality.generated.class_counts.iter().sum::<usize>(), 1000);
    assert!(real.generated.mean_confidence > quality.generated.mean_confidence);
    let report = quality.report(judge.class_names());
    assert!(report.starts_with("LeNet-FID ") && report.contains("floor") && report.contains("mean confidence"));

    // Images of another shape are refused.
    let rgb = rikai_data::ImageDataset {
        channels: 3,
        pixels: vec![0; 2 * 3 * 28 * 28],
        labels: vec![0, 0],
        ..real_a.take(0)
    };
    let e = judge.judge(&rgb, "rgb").unwrap_err().to_string();
    assert_eq!(e, "rgb: images of 3x28x28, the judging LeNet takes 1x28x28");
}
