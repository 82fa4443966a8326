//! What every experiment gets (seed, mode, output folder, device, data) and what it writes:
//! CSV tables, and a markdown report beside its plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use burn::tensor::Device;
use train::checkpoint;
use train::classify::{self, Data, Outcome};
use train::config::TrainConfig;
use train::models::Classifier;
use train::run_dir::write_atomic;
use train::run_info::RunInfo;

/// The settings of one experiment run.
pub struct Ctx {
    /// Run directory: CSV, PNG and `report.md` go here, trained networks under `runs/`.
    pub out: PathBuf,
    /// Seed of every random choice.
    pub seed: u64,
    /// Small sizes that finish in seconds (for tests), instead of the documented defaults.
    pub quick: bool,
    /// Where networks run.
    pub device: Device,
    /// The backend's name, for reports.
    pub device_name: String,
    /// Dataset the experiment trains on (see `rikai_data::SPECS`).
    pub dataset: String,
    /// Folder holding the dataset files, overriding the lookup order.
    pub data_dir: Option<PathBuf>,
    /// A trained classifier to study instead of training one (`landscape`).
    pub checkpoint: Option<PathBuf>,
    /// When the experiment started.
    pub started: Instant,
}

impl Ctx {
    /// `name` inside the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    /// `quick` in quick mode, else `full`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    /// The settings every network of an experiment starts from: this run's data and seed, no
    /// validation split (experiments report test figures), no augmentation.
    pub fn base_config(&self, model: &str) -> TrainConfig {
        TrainConfig {
            model: model.into(),
            dataset: self.dataset.clone(),
            data_dir: self.data_dir.clone(),
            seed: self.seed,
            valid_fraction: 0.0,
            ..Default::default()
        }
    }

    /// Train a classifier with `train`'s own loop into `runs/<name>` (resuming it if a killed
    /// experiment left it there) and return its final weights, ready for inference, with what
    /// training reported and the data it trained on.
    pub fn train_classifier(&self, name: &str, cfg: &TrainConfig) -> anyhow::Result<(Classifier, Outcome, Data)> {
        cfg.validate()?;
        let data = Data::load(cfg)?;
        let run = self.out.join("runs").join(name);
        let resume = run.join("checkpoints").exists();
        let outcome =
            classify::train_on(cfg, &data, &run, &self.device, resume, None)?.context("training stopped early")?;
        Ok((load_final(&run, &self.device)?, outcome, data))
    }

    /// Write a CSV table `name` with a header row.
    pub fn write_csv(&self, name: &str, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
        let mut text = header.join(",") + "\n";
        for row in rows {
            text += &(row.join(",") + "\n");
        }
        write_atomic(&self.file(name), text.as_bytes())
    }
}

/// The weights of the latest checkpoint of the classifier run in `run`.
fn load_final(run: &Path, device: &Device) -> anyhow::Result<Classifier> {
    let info = RunInfo::load(run)?;
    let model = Classifier::build(&info.config, &info.input, device)?;
    checkpoint::load_model(model, &checkpoint::latest(run)?.join("model.bpk"))
}

/// A number as a CSV or table cell.
pub fn cell(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v == 0.0 || (1e-3..1e5).contains(&v.abs()) {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// A share as a percentage with two decimals.
pub fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// The markdown report of one experiment.
pub struct Report {
    text: String,
}

impl Report {
    /// A report titled `title`, opening with what the experiment does.
    pub fn new(title: &str, what: &str) -> Report {
        Report { text: format!("# {title}\n\n{what}\n") }
    }

    /// A second-level heading.
    pub fn section(&mut self, heading: &str) -> &mut Self {
        let _ = write!(self.text, "\n## {heading}\n\n");
        self
    }

    /// A paragraph.
    pub fn para(&mut self, text: &str) -> &mut Self {
        let _ = writeln!(self.text, "{text}\n");
        self
    }

    /// A table with a header row.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> &mut Self {
        let _ = writeln!(self.text, "| {} |", header.join(" | "));
        let _ = writeln!(self.text, "|{}|", vec!["---"; header.len()].join("|"));
        for row in rows {
            let _ = writeln!(self.text, "| {} |", row.join(" | "));
        }
        self.text.push('\n');
        self
    }

    /// An image of the run directory.
    pub fn image(&mut self, file: &str, caption: &str) -> &mut Self {
        let _ = write!(self.text, "![{caption}]({file})\n\n");
        self
    }

    /// What the literature predicts and whether this run agrees.
    pub fn verdict(&mut self, prediction: &str, agrees: bool, evidence: &str) -> &mut Self {
        self.section("Prediction and verdict");
        let word = if agrees { "**Agrees.**" } else { "**Does not agree.**" };
        let _ = write!(self.text, "Literature: {prediction}\n\nThis run: {word} {evidence}\n");
        self
    }

    /// Write `report.md` into the run directory, with the run's settings and wall time.
    pub fn write(&mut self, ctx: &Ctx, command: &str) -> anyhow::Result<()> {
        self.section("Run");
        let _ = writeln!(
            self.text,
            "`{command}` (seed {}, dataset {}, {} mode) took {:.0} s on `{}`.",
            ctx.seed,
            ctx.dataset,
            if ctx.quick { "quick" } else { "default" },
            ctx.started.elapsed().as_secs_f64(),
            ctx.device_name,
        );
        write_atomic(&ctx.file("report.md"), self.text.as_bytes())
    }
}
