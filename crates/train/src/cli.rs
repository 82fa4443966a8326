//! The `train` command line: parse, merge the configuration, train, report.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;

use crate::config::{Overrides, TrainConfig};
use crate::models::{FAMILIES, Task, check_model_name, resolve_variant, task};
use crate::{classify, ddpm, device, gan, run_dir};

/// Train a rikai model.
///
/// Settings come from built-in defaults, then the TOML file (`--config`, or `configs/<model>.toml`
/// when it exists), then the flags below; the merged result is saved in the run directory.
#[derive(Debug, Parser)]
#[command(name = "train", version)]
pub struct Cli {
    /// Model family to train: lenet, resnet, alexnet, dcgan or diffusion (`--model-variant` picks
    /// the depth or size).
    pub model: String,
    /// TOML file of settings (default: configs/<variant>.toml, else configs/<model>.toml, else the
    /// family's default variant's file).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory to create (default: runs/<model>-<dataset>-<UTC time>).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Continue the killed or finished run in this directory from its last checkpoint; its saved
    /// config is used (only --epochs, --data-dir and --device may change).
    #[arg(long, conflicts_with_all = ["config", "output"])]
    pub resume: Option<PathBuf>,
    /// Backend and device: flex, ndarray, wgpu, vulkan, cuda or cuda:N (default: first compiled).
    #[arg(long)]
    pub device: Option<String>,
    /// Download the dataset's published files (checking SHA-256) before training.
    #[arg(long)]
    pub download: bool,
    /// Stop after this many epochs of the run, as if the process were killed there (tests use it
    /// to check that --resume continues exactly).
    #[arg(long, hide = true)]
    pub halt_after: Option<usize>,
    /// Settings that override the config file.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Parse `args` as clap would, but turn usage errors into one-line `anyhow` errors; `Ok(None)`
/// when help or version was printed.
pub fn parse_args<P: Parser, I, T>(args: I) -> anyhow::Result<Option<P>>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match P::try_parse_from(args) {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            e.print()?;
            Ok(None)
        }
        Err(e) => {
            // clap spreads one error over several lines (the message, the missing arguments,
            // usage, a hint); keep the message and its details on one line.
            let text = e.render().to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .collect();
            bail!("{} (see --help)", parts.join(" ").trim_start_matches("error: "))
        }
    }
}

/// The config file used when `--config` is not given: `configs/<variant>.toml`, else
/// `configs/<model>.toml`, else the file of the family's default variant, each looked for in
/// the current directory and then in this checkout.
fn default_config(model: &str, variant: Option<&str>) -> Option<PathBuf> {
    let variants = FAMILIES.iter().find(|f| f.name == model).map(|f| f.variants).unwrap_or_default();
    // Another family's variant is left to `resolve_variant` to reject, not read as a config.
    let own_variant = variant.filter(|v| variants.contains(v));
    let names = own_variant.into_iter().chain([model]).chain(variants.first().copied());
    let dirs = [PathBuf::from("configs"), Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")];
    names.flat_map(|n| dirs.iter().map(move |d| d.join(format!("{n}.toml")))).find(|p| p.is_file())
}

/// The name of the first setting in which `a` and `b` differ.
fn first_difference(a: &TrainConfig, b: &TrainConfig) -> Option<String> {
    let (a, b) = (toml::Table::try_from(a).ok()?, toml::Table::try_from(b).ok()?);
    a.keys().chain(b.keys()).find(|k| a.get(*k) != b.get(*k)).cloned()
}

/// Build the merged configuration and the run directory from the parsed command line.
pub fn resolve(cli: &Cli) -> anyhow::Result<(TrainConfig, PathBuf, bool)> {
    check_model_name(&cli.model)?;
    if let Some(run) = &cli.resume {
        let mut cfg = TrainConfig::from_saved(&run.join("config.toml"))?;
        if cfg.model != cli.model {
            bail!("{}: a '{}' run, not '{}'", run.display(), cfg.model, cli.model);
        }
        // Only the length of the run and where its data lives may change; any other flag must
        // leave the saved configuration as it is.
        let saved = cfg.clone();
        cfg.apply(cli.overrides.clone());
        let mut rest = cfg.clone();
        (rest.epochs, rest.data_dir) = (saved.epochs, saved.data_dir.clone());
        if let Some(field) = first_difference(&rest, &saved) {
            bail!("`{field}` cannot change when resuming: {} fixes it", run.join("config.toml").display());
        }
        cfg.validate()?;
        return Ok((cfg, run.clone(), true));
    }
    let mut cfg = TrainConfig { model: cli.model.clone(), ..Default::default() };
    let variant = cli.overrides.variant.as_deref();
    if let Some(path) = cli.config.clone().or_else(|| default_config(&cli.model, variant)) {
        let file = TrainConfig::read_toml(&path)?;
        if let Some(model) = &file.model
            && model != &cli.model
        {
            bail!("{}: config for model '{model}', not '{}'", path.display(), cli.model);
        }
        cfg.apply(file);
        println!("config: {}", path.display());
    }
    cfg.apply(cli.overrides.clone());
    cfg.variant = Some(resolve_variant(&cfg.model, cfg.variant.as_deref())?);
    cfg.validate()?;
    let name = cfg.variant.as_deref().unwrap_or(&cfg.model);
    let run = cli.output.clone().unwrap_or_else(|| run_dir::default_run_dir(name, &cfg.dataset));
    if run.join("checkpoints").exists() {
        bail!("{}: already holds a run; continue it with --resume {0} or choose another --output", run.display());
    }
    Ok((cfg, run, false))
}

/// Everything `train` does, from arguments to report; `main` only prints the error.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let Some(cli) = parse_args::<Cli, _, _>(args)? else { return Ok(()) };
    let (cfg, run, resume) = resolve(&cli)?;
    if cli.download {
        let dest = cfg.data_dir.clone().unwrap_or_else(|| Path::new("datasets").join(&cfg.dataset));
        println!("downloading {} into {}", cfg.dataset, dest.display());
        rikai_data::download(&cfg.dataset, &dest)?;
    }
    let device = device::parse(cli.device.as_deref())?;
    match task(&cfg.model)? {
        Task::Classify => train_classifier(&cfg, &run, &device, resume, cli.halt_after),
        Task::Adversarial => train_gan(&cfg, &run, &device, resume, cli.halt_after),
        Task::Diffusion => train_diffusion(&cfg, &run, &device, resume, cli.halt_after),
    }
}

fn halted(run: &Path) -> anyhow::Result<()> {
    println!("halted as asked; continue with --resume {}", run.display());
    Ok(())
}

/// Total seconds and mean throughput over epochs given as (seconds, images per second).
fn totals(epochs: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let (seconds, images) = epochs.fold((0.0, 0.0), |(s, i), (sec, ips)| (s + sec, i + sec * ips));
    (seconds, images / f64::max(seconds, 1e-9))
}

fn train_classifier(
    cfg: &TrainConfig,
    run: &Path,
    device: &burn::tensor::Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<()> {
    let Some(outcome) = classify::train(cfg, run, device, resume, halt_after)? else { return halted(run) };
    let (seconds, throughput) = totals(outcome.history.iter().map(|m| (m.seconds, m.images_per_sec)));
    println!(
        "test accuracy {:.2}% (loss {:.4}) after {} epochs; training {seconds:.1}s at {throughput:.0} img/s",
        100.0 * outcome.test.accuracy,
        outcome.test.loss,
        cfg.epochs,
    );
    if let Some((epoch, best)) = &outcome.best {
        println!("best-validation weights (epoch {epoch}): test accuracy {:.2}%", 100.0 * best.accuracy);
    }
    let results = serde_json::json!({
        "test_accuracy": outcome.test.accuracy,
        "test_loss": outcome.test.loss,
        "epochs": cfg.epochs,
        "train_seconds": seconds,
        "train_images_per_sec": throughput,
        "best_epoch": outcome.best.as_ref().map(|(e, _)| e),
        "best_test_accuracy": outcome.best.as_ref().map(|(_, b)| b.accuracy),
    });
    finish(run, &results, &format!("{} --checkpoint {} <image.png>", cfg.model, run.display()))
}

/// Save `results.json` and say where the run is and how to use it (`try` holds infer's arguments).
fn finish(run: &Path, results: &serde_json::Value, try_args: &str) -> anyhow::Result<()> {
    run_dir::write_atomic(&run.join("results.json"), serde_json::to_string_pretty(results)?.as_bytes())
        .context("saving results")?;
    println!("run saved in {}; try: cargo run --release -p infer -- {try_args}", run.display());
    Ok(())
}

fn train_gan(
    cfg: &TrainConfig,
    run: &Path,
    device: &burn::tensor::Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<()> {
    let Some(history) = gan::train(cfg, run, device, resume, halt_after)? else { return halted(run) };
    let (seconds, throughput) = totals(history.iter().map(|m| (m.seconds, m.images_per_sec)));
    let last = history.last().context("a finished run has at least one epoch")?;
    println!("{} epochs; training {seconds:.1}s at {throughput:.0} real img/s", cfg.epochs);
    let results = serde_json::json!({
        "epochs": cfg.epochs,
        "d_loss": last.d_loss,
        "g_loss": last.g_loss,
        "d_real": last.d_real,
        "d_fake": last.d_fake,
        "diversity": last.diversity,
        "train_seconds": seconds,
        "train_images_per_sec": throughput,
    });
    finish(run, &results, &format!("dcgan --checkpoint {} --out grid.png", run.display()))
}

fn train_diffusion(
    cfg: &TrainConfig,
    run: &Path,
    device: &burn::tensor::Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<()> {
    let Some(history) = ddpm::train(cfg, run, device, resume, halt_after)? else { return halted(run) };
    let (seconds, throughput) = totals(history.iter().map(|m| (m.seconds, m.images_per_sec)));
    let last = history.last().context("a finished run has at least one epoch")?;
    println!("{} epochs, final loss {:.4}; training {seconds:.1}s at {throughput:.0} img/s", cfg.epochs, last.loss);
    let results = serde_json::json!({
        "epochs": cfg.epochs,
        "loss": last.loss,
        "train_seconds": seconds,
        "train_images_per_sec": throughput,
    });
    finish(run, &results, &format!("diffusion --checkpoint {} --sampler ddim --steps 50 --out grid.png", run.display()))
}
