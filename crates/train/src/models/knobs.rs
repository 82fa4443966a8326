//! The architecture tables of a config (`[lenet]`, `[resnet]`, `[alexnet]`, `[dcgan]`,
//! `[diffusion]`): the knobs of each
//! model family beyond its variant.

use anyhow::bail;
use diffusion::{Objective, ScheduleKind};
use lenet::{Activation, Pooling};
use resnet::Shortcut;
use serde::{Deserialize, Serialize};

/// The `[lenet]` table: LeNet-5's knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeNetKnobs {
    /// relu, tanh or sigmoid.
    pub activation: Activation,
    /// max or avg.
    pub pooling: Pooling,
    /// Batch normalisation after every hidden layer.
    pub batch_norm: bool,
    /// Dropout probability before the last two linear layers.
    pub dropout: f64,
}

impl Default for LeNetKnobs {
    fn default() -> Self {
        LeNetKnobs { activation: Activation::Relu, pooling: Pooling::Max, batch_norm: false, dropout: 0.0 }
    }
}

/// The `[resnet]` table: the switches of He et al.'s networks that the experiments turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResNetKnobs {
    /// none (plain network), identity (option A) or projection (option B); unset: the
    /// variant's own (identity for the CIFAR networks, projection for the ImageNet ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortcut: Option<Shortcut>,
    /// Convolutions bridged by one shortcut: 2 (the paper) or 1.
    pub skip_span: usize,
    /// Batch normalisation after every convolution.
    pub batch_norm: bool,
    /// Drop probability of the last block under stochastic depth (0: off).
    pub stochastic_depth: f64,
    /// Width multiplier of every layer.
    pub width: f64,
}

impl Default for ResNetKnobs {
    fn default() -> Self {
        ResNetKnobs { shortcut: None, skip_span: 2, batch_norm: true, stochastic_depth: 0.0, width: 1.0 }
    }
}

/// The `[alexnet]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlexNetKnobs {
    /// Width multiplier of the convolutions.
    pub width: f64,
    /// Units of the two hidden linear layers; unset: the variant's own (4096, or 1024 small).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// Dropout probability before the hidden linear layers.
    pub dropout: f64,
}

impl Default for AlexNetKnobs {
    fn default() -> Self {
        AlexNetKnobs { width: 1.0, hidden: None, dropout: 0.5 }
    }
}

/// The `[dcgan]` table: the widths of the generator and discriminator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcganKnobs {
    /// Length of the latent vector z.
    pub latent_dim: usize,
    /// Feature maps of the generator's finest hidden layer (doubling towards z).
    pub generator_width: usize,
    /// Feature maps of the discriminator's first layer (doubling towards the logit).
    pub discriminator_width: usize,
}

impl Default for DcganKnobs {
    fn default() -> Self {
        DcganKnobs { latent_dim: 100, generator_width: 64, discriminator_width: 64 }
    }
}

/// The `[diffusion]` table: the UNet, the forward process and the weight average.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffusionKnobs {
    /// Feature maps at full resolution.
    pub base_channels: usize,
    /// Width multiplier per resolution level (each further level halves the side).
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level on the way down.
    pub blocks_per_level: usize,
    /// Self-attention at the lowest resolution.
    pub attention: bool,
    /// Groups of the group norms.
    pub groups: usize,
    /// Dropout in the residual blocks.
    pub dropout: f64,
    /// linear (Ho et al.) or cosine (Nichol & Dhariwal) noise schedule.
    pub noise_schedule: ScheduleKind,
    /// Steps T of the forward process.
    pub timesteps: usize,
    /// epsilon (predict the noise) or v (predict the velocity).
    pub objective: Objective,
    /// Decay of the exponential moving average of the weights used for sampling (with a
    /// warmup: min(decay, (1 + step) / (10 + step))).
    pub ema_decay: f64,
    /// DDIM steps of the sample grid drawn after every epoch.
    pub sample_steps: usize,
}

impl Default for DiffusionKnobs {
    fn default() -> Self {
        DiffusionKnobs {
            base_channels: 16,
            channel_mults: vec![1, 2, 4],
            blocks_per_level: 2,
            attention: true,
            groups: 8,
            dropout: 0.0,
            noise_schedule: ScheduleKind::Linear,
            timesteps: 1000,
            objective: Objective::Epsilon,
            ema_decay: 0.995,
            sample_steps: 50,
        }
    }
}

fn check(ok: bool, field: &str, what: &str, value: &dyn std::fmt::Display) -> anyhow::Result<()> {
    if ok { Ok(()) } else { bail!("config field `{field}`: {what}, got {value}") }
}

impl LeNetKnobs {
    /// Reject values the architecture cannot take, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        check((0.0..1.0).contains(&self.dropout), "lenet.dropout", "must lie in [0, 1)", &self.dropout)
    }
}

impl ResNetKnobs {
    /// Reject values the architecture cannot take, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        check(matches!(self.skip_span, 1 | 2), "resnet.skip_span", "must be 1 or 2", &self.skip_span)?;
        check(
            (0.0..1.0).contains(&self.stochastic_depth),
            "resnet.stochastic_depth",
            "must lie in [0, 1)",
            &self.stochastic_depth,
        )?;
        check(self.width > 0.0 && self.width <= 16.0, "resnet.width", "must lie in (0, 16]", &self.width)
    }
}

impl AlexNetKnobs {
    /// Reject values the architecture cannot take, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        check(self.width > 0.0 && self.width <= 16.0, "alexnet.width", "must lie in (0, 16]", &self.width)?;
        check((0.0..1.0).contains(&self.dropout), "alexnet.dropout", "must lie in [0, 1)", &self.dropout)?;
        if let Some(h) = self.hidden {
            check(h >= 1, "alexnet.hidden", "must be at least 1", &h)?;
        }
        Ok(())
    }
}

impl DcganKnobs {
    /// Reject values the architecture cannot take, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        check((1..=4096).contains(&self.latent_dim), "dcgan.latent_dim", "must lie in [1, 4096]", &self.latent_dim)?;
        for (field, width) in
            [("dcgan.generator_width", self.generator_width), ("dcgan.discriminator_width", self.discriminator_width)]
        {
            check((1..=1024).contains(&width), field, "must lie in [1, 1024]", &width)?;
        }
        Ok(())
    }
}

impl DiffusionKnobs {
    /// Reject values the model cannot take, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        check(
            (1..=512).contains(&self.base_channels),
            "diffusion.base_channels",
            "must lie in [1, 512]",
            &self.base_channels,
        )?;
        let mults = format!("{:?}", self.channel_mults);
        check(
            (1..=4).contains(&self.channel_mults.len()) && self.channel_mults.iter().all(|&m| (1..=16).contains(&m)),
            "diffusion.channel_mults",
            "must be 1 to 4 multipliers in [1, 16]",
            &mults,
        )?;
        check(
            (1..=4).contains(&self.blocks_per_level),
            "diffusion.blocks_per_level",
            "must lie in [1, 4]",
            &self.blocks_per_level,
        )?;
        check(
            self.groups >= 1 && self.channel_mults.iter().all(|m| (m * self.base_channels).is_multiple_of(self.groups)),
            "diffusion.groups",
            "must divide every level's width (base_channels x multiplier)",
            &self.groups,
        )?;
        check((0.0..1.0).contains(&self.dropout), "diffusion.dropout", "must lie in [0, 1)", &self.dropout)?;
        check(
            (2..=10_000).contains(&self.timesteps),
            "diffusion.timesteps",
            "must lie in [2, 10000]",
            &self.timesteps,
        )?;
        check((0.0..1.0).contains(&self.ema_decay), "diffusion.ema_decay", "must lie in [0, 1)", &self.ema_decay)?;
        check(
            (1..=self.timesteps).contains(&self.sample_steps),
            "diffusion.sample_steps",
            "must lie in [1, timesteps]",
            &self.sample_steps,
        )
    }
}
