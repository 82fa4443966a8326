//! The architecture tables of a config (`[lenet]`, `[resnet]`, `[alexnet]`, `[dcgan]`): the knobs of each
//! model family beyond its variant.

use anyhow::bail;
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
