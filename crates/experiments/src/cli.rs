//! The `experiments` command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Parser;

use crate::EXPERIMENTS;
use crate::ctx::Ctx;

/// Run an experiment of rikai's theory lab.
///
/// Each writes CSV data, PNG plots and report.md into its run directory and prints its headline
/// numbers. `experiments list` describes them; `experiments all` runs every one.
#[derive(Debug, Parser)]
#[command(name = "experiments", version)]
pub struct Cli {
    /// An experiment's name, `list` or `all`.
    pub name: String,
    /// Small sizes that finish in seconds (for tests and a first look).
    #[arg(long)]
    pub quick: bool,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run directory (default: runs/<experiment>-<UTC time>; for `all`, one folder per experiment inside it).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Backend and device: flex, ndarray, wgpu, vulkan, cuda or cuda:N (default: first compiled).
    #[arg(long)]
    pub device: Option<String>,
    /// Dataset to train on (the embedded `mnist` subset by default; `fashion-mnist` works too).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Folder holding the dataset files, overriding the lookup order.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `landscape` only: a classifier run directory (or .bpk file of one) to slice instead of
    /// training a LeNet.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

/// `experiments list`: one paragraph per experiment.
pub fn listing() -> String {
    let width = EXPERIMENTS.iter().map(|e| e.name.len()).max().unwrap_or(0);
    EXPERIMENTS.iter().map(|e| format!("{:<width$}  {} ({})\n", e.name, e.summary, e.papers)).collect()
}

/// Everything `experiments` does, from arguments to report.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let Some(cli) = train::cli::parse_args::<Cli, _, _>(args)? else { return Ok(()) };
    if cli.name == "list" {
        print!("{}", listing());
        return Ok(());
    }
    let chosen: Vec<_> = match cli.name.as_str() {
        "all" => EXPERIMENTS.iter().collect(),
        name => match EXPERIMENTS.iter().find(|e| e.name == name) {
            Some(e) => vec![e],
            None => {
                let known: Vec<&str> = EXPERIMENTS.iter().map(|e| e.name).collect();
                bail!("unknown experiment '{name}' (known: {}, or list, all)", known.join(", "))
            }
        },
    };
    if cli.checkpoint.is_some() && cli.name != "landscape" {
        bail!("--checkpoint is for `experiments landscape` only");
    }
    let device = train::device::parse(cli.device.as_deref())?;
    let root = cli.output.clone().unwrap_or_else(|| train::run_dir::default_run_dir(&cli.name, &cli.dataset));
    let mut summary = Vec::new();
    for e in chosen {
        let out = if cli.name == "all" { root.join(e.name) } else { root.clone() };
        println!("== {}: {} ({})\nrun directory {}", e.name, e.summary, e.papers, out.display());
        let ctx = Ctx {
            out,
            seed: cli.seed,
            quick: cli.quick,
            device: device.clone(),
            device_name: cli.device.clone().unwrap_or_else(|| train::device::compiled()[0].to_string()),
            dataset: cli.dataset.clone(),
            data_dir: cli.data_dir.clone(),
            checkpoint: cli.checkpoint.clone(),
            started: Instant::now(),
        };
        std::fs::create_dir_all(&ctx.out)?;
        let lines = (e.run)(&ctx).map_err(|err| err.context(format!("experiment {}", e.name)))?;
        let seconds = ctx.started.elapsed().as_secs_f64();
        println!("-- {} ({seconds:.0} s; report {}):", e.name, ctx.file("report.md").display());
        for line in &lines {
            println!("   {line}");
        }
        summary.push((e.name, seconds, lines));
    }
    if summary.len() > 1 {
        println!("== all experiments ({} s)", summary.iter().map(|s| s.1).sum::<f64>().round());
        for (name, seconds, lines) in &summary {
            println!("{name} ({seconds:.0} s): {}", lines.first().map(String::as_str).unwrap_or(""));
        }
    }
    Ok(())
}
