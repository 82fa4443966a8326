//! The training configuration: built-in defaults, overridden by a TOML file, overridden by
//! command-line flags. The merged result is saved as `config.toml` in the run directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::models::ModelKnobs;

/// Optimizer choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015).
    Adam,
    /// Stochastic gradient descent with momentum.
    Sgd,
}

/// Every setting of a training run, after merging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model family, as named on the command line.
    pub model: String,
    /// Dataset name (see `rikai_data::SPECS`).
    pub dataset: String,
    /// Folder holding the dataset files, overriding the lookup order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimisation step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Momentum for SGD.
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Cosine decay of the learning rate to zero over the run (otherwise constant).
    pub cosine: bool,
    /// Seed of every random choice: initialisation, validation split, shuffling, dropout.
    pub seed: u64,
    /// Share of the training split held out for validation (0 disables validation).
    pub valid_fraction: f64,
    /// Use only the first N training images (0: all); for quick runs and tests.
    pub limit_train: usize,
    /// Use only the first N test images (0: all).
    pub limit_test: usize,
    /// Random translation of training images by up to this many pixels (0: no augmentation).
    pub shift: usize,
    /// Architecture knobs of the chosen model.
    #[serde(default)]
    pub lenet: ModelKnobs,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: "lenet".into(),
            dataset: "mnist".into(),
            data_dir: None,
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            weight_decay: 0.0,
            cosine: true,
            seed: 42,
            valid_fraction: 0.1,
            limit_train: 0,
            limit_test: 0,
            shift: 0,
            lenet: ModelKnobs::default(),
        }
    }
}

/// The same settings, each optional: what a TOML file or the command line sets.
#[derive(Clone, Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Dataset: mnist (embedded subset), mnist-full, fashion-mnist.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder holding the dataset's IDX files (first in the lookup order).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// L2 weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Cosine learning-rate decay (true/false).
    #[arg(long)]
    pub cosine: Option<bool>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of the training split held out for validation.
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Train on the first N training images only.
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub limit_test: Option<usize>,
    /// Random translation augmentation, in pixels.
    #[arg(long)]
    pub shift: Option<usize>,
    /// Model architecture knobs (TOML only).
    #[arg(skip)]
    pub lenet: Option<ModelKnobs>,
    /// The model family (TOML only; on the command line it is the first argument).
    #[arg(skip)]
    pub model: Option<String>,
}

macro_rules! apply {
    ($cfg:expr, $o:expr, $($field:ident),*) => { $( if let Some(v) = $o.$field { $cfg.$field = v; } )* };
}

impl TrainConfig {
    /// Apply every setting present in `o`.
    pub fn apply(&mut self, o: Overrides) {
        if o.data_dir.is_some() {
            self.data_dir = o.data_dir;
        }
        apply!(
            self,
            o,
            model,
            dataset,
            epochs,
            batch_size,
            lr,
            optimizer,
            momentum,
            weight_decay,
            cosine,
            seed,
            valid_fraction,
            limit_train,
            limit_test,
            shift,
            lenet
        );
    }

    /// Reject values no run can use, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        let field = |name: &str, ok: bool, what: &str, value: &dyn std::fmt::Display| -> anyhow::Result<()> {
            if ok { Ok(()) } else { bail!("config field `{name}`: {what}, got {value}") }
        };
        field("epochs", self.epochs >= 1, "must be at least 1", &self.epochs)?;
        field("batch_size", self.batch_size >= 1, "must be at least 1", &self.batch_size)?;
        field("lr", self.lr.is_finite() && self.lr > 0.0, "must be a positive number", &self.lr)?;
        field("momentum", (0.0..1.0).contains(&self.momentum), "must lie in [0, 1)", &self.momentum)?;
        field(
            "weight_decay",
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "must be >= 0",
            &self.weight_decay,
        )?;
        field(
            "valid_fraction",
            (0.0..0.9).contains(&self.valid_fraction),
            "must lie in [0, 0.9)",
            &self.valid_fraction,
        )?;
        field("shift", self.shift <= 8, "must be at most 8 pixels", &self.shift)?;
        self.lenet.validate()
    }

    /// Read a TOML file of settings into [`Overrides`], with one-line errors naming the file.
    pub fn read_toml(path: &Path) -> anyhow::Result<Overrides> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        parse_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The TOML text saved in a run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a TrainConfig always serialises")
    }

    /// Read back a saved `config.toml`.
    pub fn from_saved(path: &Path) -> anyhow::Result<TrainConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), one_line(&text, &e)))
    }
}

fn parse_toml(text: &str) -> Result<Overrides, String> {
    toml::from_str(text).map_err(|e| one_line(text, &e))
}

/// toml's errors span several lines with a source excerpt; keep the position and the message.
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_toml_which_overrides_defaults() {
        let mut cfg = TrainConfig::default();
        cfg.apply(parse_toml("epochs = 3\nlr = 0.01\n[lenet]\nactivation = \"tanh\"\n").unwrap());
        cfg.apply(Overrides { lr: Some(0.5), ..Default::default() });
        assert_eq!((cfg.epochs, cfg.lr, cfg.batch_size), (3, 0.5, 64));
        assert_eq!(cfg.lenet.activation, lenet::Activation::Tanh);
        cfg.validate().unwrap();
    }

    #[test]
    fn saved_config_round_trips() {
        let cfg = TrainConfig {
            data_dir: Some("/x".into()),
            lenet: ModelKnobs { dropout: 0.25, ..Default::default() },
            ..Default::default()
        };
        let back: TrainConfig = toml::from_str(&cfg.to_toml()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn bad_values_name_the_field() {
        let bad = |o: Overrides| {
            let mut cfg = TrainConfig::default();
            cfg.apply(o);
            cfg.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(Overrides { lr: Some(-1.0), ..Default::default() }),
            "config field `lr`: must be a positive number, got -1"
        );
        assert!(bad(Overrides { batch_size: Some(0), ..Default::default() }).starts_with("config field `batch_size`"));
        let knobs = ModelKnobs { dropout: 1.5, ..Default::default() };
        assert!(
            bad(Overrides { lenet: Some(knobs), ..Default::default() }).starts_with("config field `lenet.dropout`")
        );
    }

    #[test]
    fn toml_errors_are_one_line_with_position() {
        let e = parse_toml("epochs = 3\nlearning_rate = 0.1\n").unwrap_err();
        assert!(e.starts_with("line 2: unknown field `learning_rate`"), "{e}");
        assert!(!e.contains('\n'));
        let e = parse_toml("[lenet]\nactivation = \"relux\"\n").unwrap_err();
        assert!(e.starts_with("line 2: unknown variant `relux`"), "{e}");
        let e = parse_toml("epochs = \"ten\"\n").unwrap_err();
        assert!(e.starts_with("line 1: invalid type"), "{e}");
    }
}
