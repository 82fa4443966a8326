//! `bench`: training and inference throughput of every model family, per backend.
//!
//! Each row is timed the way PyTorch users time theirs (and `scripts/bench_pytorch.py` times the
//! same rows): a few warm-up steps, then several windows of about `window_secs` each, ending in
//! a device sync; the row reports the median window's images per second. Batches are made once
//! on the device, so data loading is not in the figures.

pub mod ops;
pub mod workloads;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;

use crate::run_dir::write_atomic;
use workloads::{SPECS, Spec};

/// Measure training and inference throughput of rikai's models on the compiled-in backends.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
pub struct Cli {
    /// Backends to measure, comma-separated (default: every one compiled in).
    #[arg(long, value_delimiter = ',')]
    pub device: Vec<String>,
    /// Rows to run, comma-separated (default: all; `--list` names them); with `--ops`, operations.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Timed windows per measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub windows: usize,
    /// Target length of one window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub window_secs: f64,
    /// Untimed steps before the windows (the first steps allocate, autotune, compile kernels).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Seed of the weights and the random batches.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// CSV file to write the rows to.
    #[arg(long, default_value = "bench.csv")]
    pub csv: PathBuf,
    /// Skip the inference measurement.
    #[arg(long)]
    pub train_only: bool,
    /// List the rows and exit.
    #[arg(long)]
    pub list: bool,
    /// Time single operations (convolutions, pooling, ReLU, a linear layer) at the models'
    /// shapes instead of whole steps, to find which operation a gap comes from.
    #[arg(long)]
    pub ops: bool,
}

/// One measured row.
#[derive(Clone, Debug)]
pub struct Row {
    /// Backend name as `--device` takes it.
    pub backend: String,
    /// The row's shapes and optimizer.
    pub spec: Spec,
    /// Learned parameters.
    pub params: usize,
    /// Training images per second (forward, backward, optimizer step).
    pub train: f64,
    /// Inference images per second (forward only), when measured.
    pub infer: Option<f64>,
    /// The backend's fp32 matmul GFLOP/s, measured in the same run just before the rows: a
    /// shared machine's speed drifts over minutes (this project's by a fifth), so a share of the
    /// peak is fairest against the peak of the same moment.
    pub peak: f64,
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed windows; the median counts.
    pub windows: usize,
    /// Target seconds per window.
    pub window_secs: f64,
}

fn sync(device: &Device) -> anyhow::Result<()> {
    device.sync().map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))
}

/// Median images per second of `step`, which processes `images` images per call.
pub fn throughput(mut step: impl FnMut(), device: &Device, images: usize, timing: Timing) -> anyhow::Result<f64> {
    // The fastest warm-up step sizes the windows: the first ones include one-off costs.
    let mut fastest = f64::INFINITY;
    for _ in 0..timing.warmup.max(1) {
        let started = Instant::now();
        step();
        sync(device)?;
        fastest = fastest.min(started.elapsed().as_secs_f64());
    }
    let steps = ((timing.window_secs / fastest).round() as usize).clamp(1, 100_000);
    let mut rates = Vec::with_capacity(timing.windows);
    for _ in 0..timing.windows.max(1) {
        let started = Instant::now();
        for _ in 0..steps {
            step();
        }
        sync(device)?;
        rates.push((steps * images) as f64 / started.elapsed().as_secs_f64());
    }
    Ok(median(&mut rates))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// GFLOP/s of a square fp32 matrix product of side `n` on `device`: the ceiling that
/// convolution-heavy rows approach.
pub fn matmul_gflops(device: &Device, n: usize, timing: Timing) -> anyhow::Result<f64> {
    let a: Tensor<2> = Tensor::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    let b: Tensor<2> = Tensor::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    // `throughput` counts "images"; one product is one item here.
    let per_sec = throughput(|| drop(a.clone().matmul(b.clone())), device, 1, timing)?;
    Ok(per_sec * 2.0 * (n as f64).powi(3) / 1e9)
}

/// Parse `args` and run the benchmark.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let Some(cli) = crate::cli::parse_args::<Cli, _, _>(args)? else { return Ok(()) };
    if cli.list {
        for s in &SPECS {
            let [c, h, w] = s.input;
            println!(
                "{:<16} {} {}, batch {}, {}x{}x{}, {}",
                s.name, s.model[0], s.model[1], s.batch, c, h, w, s.optimizer
            );
        }
        return Ok(());
    }
    if cli.windows == 0 || cli.window_secs.is_nan() || cli.window_secs <= 0.0 {
        bail!("--windows and --window-secs must be positive");
    }
    let backends: Vec<String> = if cli.device.is_empty() {
        crate::device::compiled().iter().map(|s| s.to_string()).collect()
    } else {
        cli.device.clone()
    };
    let timing = Timing { warmup: cli.warmup, windows: cli.windows, window_secs: cli.window_secs };
    if cli.ops {
        return run_ops(&backends, &cli, timing);
    }
    let specs: Vec<&Spec> = if cli.only.is_empty() {
        SPECS.iter().collect()
    } else {
        let mut picked = Vec::new();
        for name in &cli.only {
            match SPECS.iter().find(|s| s.name == name) {
                Some(s) => picked.push(s),
                None => bail!("--only {name}: no such row (see bench --list)"),
            }
        }
        picked
    };
    let mut rows = Vec::new();
    for backend in &backends {
        let device = crate::device::parse(Some(backend))?;
        device.seed(cli.seed);
        let gflops = matmul_gflops(&device, 1024, timing)?;
        println!("{backend}: fp32 matmul 1024x1024x1024: {gflops:.1} GFLOP/s");
        for spec in &specs {
            device.seed(cli.seed);
            let mut workload = workloads::build(spec, &device)?;
            let train = throughput(|| workload.train_step(), &device, spec.batch, timing)?;
            let infer = if cli.train_only {
                None
            } else {
                Some(throughput(|| workload.infer_step(), &device, spec.batch, timing)?)
            };
            let row = Row {
                backend: backend.clone(),
                spec: (*spec).clone(),
                params: workload.params(),
                train,
                infer,
                peak: gflops,
            };
            println!("{}", format_row(&row));
            rows.push(row);
        }
    }
    println!("\n{}", table(&rows));
    write_atomic(&cli.csv, csv(&rows).as_bytes()).with_context(|| format!("writing {}", cli.csv.display()))?;
    println!("wrote {}", cli.csv.display());
    Ok(())
}

/// `--ops`: microseconds per call of every operation on every backend, as a table and CSV.
fn run_ops(backends: &[String], cli: &Cli, timing: Timing) -> anyhow::Result<()> {
    for name in &cli.only {
        if !ops::OPS.iter().any(|op| op.name == name) {
            bail!("--only {name}: no such operation (see the list in bench --ops)");
        }
    }
    let chosen: Vec<&ops::Op> =
        ops::OPS.iter().filter(|op| cli.only.is_empty() || cli.only.iter().any(|n| n == op.name)).collect();
    let mut text = String::from("impl,backend,op,microseconds\n");
    for backend in backends {
        let device = crate::device::parse(Some(backend))?;
        device.seed(cli.seed);
        for op in chosen.iter().copied() {
            let mut step = ops::build(op, &device);
            let micros = 1e6 / throughput(&mut step, &device, 1, timing)?;
            println!("{backend:<8} {:<27} {micros:>10.1} µs  {}", op.name, op.what);
            let _ = writeln!(text, "rikai,{backend},{},{micros:.2}", op.name);
        }
    }
    write_atomic(&cli.csv, text.as_bytes()).with_context(|| format!("writing {}", cli.csv.display()))?;
    println!("wrote {}", cli.csv.display());
    Ok(())
}

fn format_row(row: &Row) -> String {
    let infer = row.infer.map_or(String::new(), |r| format!(", infer {r:.0} img/s"));
    format!("{} on {}: train {:.0} img/s{infer}", row.spec.name, row.backend, row.train)
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<8} {:<16} {:>5} {:<13} {:>11} {:>12} {:>12} {:>10}\n",
        "backend", "model", "batch", "optimizer", "params", "train img/s", "infer img/s", "ms/step"
    );
    for r in rows {
        let infer = r.infer.map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:>5} {:<13} {:>11} {:>12.0} {:>12} {:>10.2}",
            r.backend,
            r.spec.name,
            r.spec.batch,
            r.spec.optimizer,
            r.params,
            r.train,
            infer,
            1000.0 * r.spec.batch as f64 / r.train
        );
    }
    out
}

/// The rows as CSV, one line per (backend, model).
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "impl,backend,model,batch,input,optimizer,params,train_images_per_s,infer_images_per_s,matmul_gflops\n",
    );
    for r in rows {
        let [c, h, w] = r.spec.input;
        let infer = r.infer.map_or(String::new(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "rikai,{},{},{},{c}x{h}x{w},{},{},{:.1},{infer},{:.1}",
            r.backend, r.spec.name, r.spec.batch, r.spec.optimizer, r.params, r.train, r.peak
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_counts_images_per_second_of_the_median_window() {
        let device = Device::flex();
        let timing = Timing { warmup: 1, windows: 3, window_secs: 0.02 };
        let rate = throughput(|| std::thread::sleep(std::time::Duration::from_millis(5)), &device, 10, timing).unwrap();
        // 10 images every ~5 ms: at most 2,000 per second, and sleep overshoots only a little.
        assert!((1_000.0..=2_000.0).contains(&rate), "{rate}");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_quick_run_writes_every_row_it_was_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("b.csv");
        let args = ["bench", "--only", "lenet5-b64,dcgan", "--windows", "1", "--window-secs", "0.01", "--warmup", "1"];
        let args: Vec<String> =
            args.iter().map(|s| s.to_string()).chain(["--csv".into(), csv_path.display().to_string()]).collect();
        run(args).unwrap();
        let text = std::fs::read_to_string(&csv_path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("rikai,flex,lenet5-b64,64,1x28x28,adam,61706,"), "{}", lines[1]);
        assert!(lines[2].starts_with("rikai,flex,dcgan,128,1x28x28,adam,898370,"), "{}", lines[2]);
        assert!(lines[0].ends_with(",matmul_gflops"), "{}", lines[0]);
        // Every row carries the backend's matmul peak of the same run.
        let peaks: Vec<f64> = lines[1..].iter().map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
        assert!(peaks[0] > 0.0 && peaks[0] == peaks[1], "{peaks:?}");
        let err = run(["bench", "--only", "vgg"]).unwrap_err().to_string();
        assert_eq!(err, "--only vgg: no such row (see bench --list)");
    }
}
