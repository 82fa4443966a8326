//! The training configuration: built-in defaults, overridden by a TOML file, overridden by
//! command-line flags. The merged result is saved as `config.toml` in the run directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::models::{AlexNetKnobs, DcganKnobs, DiffusionKnobs, LeNetKnobs, ResNetKnobs};

/// Optimizer choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015).
    Adam,
    /// Stochastic gradient descent with momentum.
    Sgd,
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    Adamw,
}

/// Learning-rate schedule over the run (after any warmup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Multiplied by `gamma` at each of the `milestones` (He et al.'s CIFAR recipe).
    Step,
    /// Cosine decay to zero (Loshchilov & Hutter 2017, without restarts).
    Cosine,
}

/// Every setting of a training run, after merging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model family, as named on the command line.
    pub model: String,
    /// Architecture within the family (`resnet20`, `resnet18`, `alexnet-small`, ...); unset: the
    /// family's default. Saved resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Dataset name (see `rikai_data::SPECS`), or `folder:<path>` for an image folder.
    pub dataset: String,
    /// Folder holding the dataset files, overriding the lookup order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Side length images of an image folder are resized to.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// Channels images of an image folder are converted to (1 or 3).
    #[serde(default = "default_channels")]
    pub channels: usize,
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
    /// Adam's (and AdamW's) decay rate of the first-moment estimate; DCGAN uses 0.5.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Weight decay: L2 penalty for SGD and Adam, decoupled for AdamW.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Linear warmup from zero to `lr` over this many epochs (fractions allowed), before the schedule.
    #[serde(default)]
    pub warmup_epochs: f64,
    /// Epochs after which the step schedule multiplies the rate by `gamma`; empty: at 50% and
    /// 75% of the run.
    #[serde(default)]
    pub milestones: Vec<usize>,
    /// Factor of the step schedule.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// Clip each parameter tensor's gradient to this L2 norm (0: no clipping).
    #[serde(default)]
    pub grad_clip: f64,
    /// Seed of every random choice: initialisation, validation split, shuffling, augmentation, dropout.
    pub seed: u64,
    /// Share of the training split held out for validation (0 disables validation).
    pub valid_fraction: f64,
    /// Use only the first N training images (0: all); for quick runs and tests.
    pub limit_train: usize,
    /// Use only the first N test images (0: all).
    pub limit_test: usize,
    /// Random crop after zero padding by this many pixels, i.e. a random translation by up to
    /// that much (0: off).
    pub crop_padding: usize,
    /// Random horizontal flips (off for digits).
    #[serde(default)]
    pub hflip: bool,
    /// LeNet-5 knobs.
    #[serde(default)]
    pub lenet: LeNetKnobs,
    /// ResNet knobs.
    #[serde(default)]
    pub resnet: ResNetKnobs,
    /// AlexNet knobs.
    #[serde(default)]
    pub alexnet: AlexNetKnobs,
    /// DCGAN knobs.
    #[serde(default)]
    pub dcgan: DcganKnobs,
    /// Diffusion knobs.
    #[serde(default)]
    pub diffusion: DiffusionKnobs,
}

fn default_image_size() -> usize {
    32
}
fn default_channels() -> usize {
    3
}
fn default_gamma() -> f64 {
    0.1
}
fn default_beta1() -> f64 {
    0.9
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: "lenet".into(),
            variant: None,
            dataset: "mnist".into(),
            data_dir: None,
            image_size: default_image_size(),
            channels: default_channels(),
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            beta1: default_beta1(),
            weight_decay: 0.0,
            schedule: Schedule::Cosine,
            warmup_epochs: 0.0,
            milestones: Vec::new(),
            gamma: default_gamma(),
            grad_clip: 0.0,
            seed: 42,
            valid_fraction: 0.1,
            limit_train: 0,
            limit_test: 0,
            crop_padding: 0,
            hflip: false,
            lenet: LeNetKnobs::default(),
            resnet: ResNetKnobs::default(),
            alexnet: AlexNetKnobs::default(),
            dcgan: DcganKnobs::default(),
            diffusion: DiffusionKnobs::default(),
        }
    }
}

/// The same settings, each optional: what a TOML file or the command line sets.
#[derive(Clone, Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Architecture within the family, e.g. resnet20, resnet56, resnet18-cifar, alexnet-small.
    #[arg(long = "model-variant")]
    pub variant: Option<String>,
    /// Dataset: mnist (embedded subset), mnist-full, fashion-mnist, cifar-10, cifar-100, folder:<path>.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder holding the dataset's files (first in the lookup order).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Side length that image-folder images are resized to.
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Channels image-folder images are converted to (1 or 3).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Adam's first-moment decay rate.
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Epochs of linear learning-rate warmup.
    #[arg(long)]
    pub warmup_epochs: Option<f64>,
    /// Epochs at which the step schedule decays, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub milestones: Option<Vec<usize>>,
    /// Decay factor of the step schedule.
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Gradient clipping by L2 norm per parameter tensor (0: off).
    #[arg(long)]
    pub grad_clip: Option<f64>,
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
    /// Random-crop augmentation: zero padding in pixels.
    #[arg(long)]
    pub crop_padding: Option<usize>,
    /// Random horizontal flips (true/false).
    #[arg(long)]
    pub hflip: Option<bool>,
    /// LeNet knobs (TOML only).
    #[arg(skip)]
    pub lenet: Option<LeNetKnobs>,
    /// ResNet knobs (TOML only).
    #[arg(skip)]
    pub resnet: Option<ResNetKnobs>,
    /// AlexNet knobs (TOML only).
    #[arg(skip)]
    pub alexnet: Option<AlexNetKnobs>,
    /// DCGAN knobs (TOML only).
    #[arg(skip)]
    pub dcgan: Option<DcganKnobs>,
    /// Diffusion knobs (TOML only).
    #[arg(skip)]
    pub diffusion: Option<DiffusionKnobs>,
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
        if o.variant.is_some() {
            self.variant = o.variant;
        }
        apply!(
            self,
            o,
            model,
            dataset,
            image_size,
            channels,
            epochs,
            batch_size,
            lr,
            optimizer,
            momentum,
            beta1,
            weight_decay,
            schedule,
            warmup_epochs,
            milestones,
            gamma,
            grad_clip,
            seed,
            valid_fraction,
            limit_train,
            limit_test,
            crop_padding,
            hflip,
            lenet,
            resnet,
            alexnet,
            dcgan,
            diffusion
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
        field("beta1", (0.0..1.0).contains(&self.beta1), "must lie in [0, 1)", &self.beta1)?;
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
        field("crop_padding", self.crop_padding <= 8, "must be at most 8 pixels", &self.crop_padding)?;
        field("image_size", (8..=512).contains(&self.image_size), "must lie in [8, 512]", &self.image_size)?;
        field("channels", matches!(self.channels, 1 | 3), "must be 1 or 3", &self.channels)?;
        field(
            "warmup_epochs",
            self.warmup_epochs.is_finite() && self.warmup_epochs >= 0.0,
            "must be >= 0",
            &self.warmup_epochs,
        )?;
        field("gamma", self.gamma > 0.0 && self.gamma <= 1.0, "must lie in (0, 1]", &self.gamma)?;
        field("grad_clip", self.grad_clip.is_finite() && self.grad_clip >= 0.0, "must be >= 0", &self.grad_clip)?;
        if let Some(&m) = self.milestones.iter().find(|&&m| m == 0 || m > self.epochs) {
            bail!("config field `milestones`: epoch {m} lies outside the run's 1..={} epochs", self.epochs);
        }
        if self.milestones.windows(2).any(|w| w[0] >= w[1]) {
            bail!("config field `milestones`: must increase, got {:?}", self.milestones);
        }
        self.lenet.validate()?;
        self.resnet.validate()?;
        self.alexnet.validate()?;
        self.dcgan.validate()?;
        self.diffusion.validate()
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
        cfg.apply(
            parse_toml("epochs = 3\nlr = 0.01\n[lenet]\nactivation = \"tanh\"\n[resnet]\nshortcut = \"none\"\n")
                .unwrap(),
        );
        cfg.apply(Overrides { lr: Some(0.5), ..Default::default() });
        assert_eq!((cfg.epochs, cfg.lr, cfg.batch_size), (3, 0.5, 64));
        assert_eq!(cfg.lenet.activation, lenet::Activation::Tanh);
        assert_eq!(cfg.resnet.shortcut, Some(resnet::Shortcut::None));
        assert_eq!(cfg.resnet.skip_span, 2, "unset knobs keep their defaults");
        cfg.validate().unwrap();
    }

    #[test]
    fn saved_config_round_trips() {
        let cfg = TrainConfig {
            data_dir: Some("/x".into()),
            variant: Some("resnet56".into()),
            milestones: vec![3, 6],
            lenet: LeNetKnobs { dropout: 0.25, ..Default::default() },
            resnet: ResNetKnobs { stochastic_depth: 0.5, ..Default::default() },
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
        let knobs = LeNetKnobs { dropout: 1.5, ..Default::default() };
        assert!(
            bad(Overrides { lenet: Some(knobs), ..Default::default() }).starts_with("config field `lenet.dropout`")
        );
        let knobs = ResNetKnobs { skip_span: 3, ..Default::default() };
        assert_eq!(
            bad(Overrides { resnet: Some(knobs), ..Default::default() }),
            "config field `resnet.skip_span`: must be 1 or 2, got 3"
        );
        assert_eq!(
            bad(Overrides { milestones: Some(vec![5, 20]), ..Default::default() }),
            "config field `milestones`: epoch 20 lies outside the run's 1..=10 epochs"
        );
        assert!(bad(Overrides { channels: Some(2), ..Default::default() }).starts_with("config field `channels`"));
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
