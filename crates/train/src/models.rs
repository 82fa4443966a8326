//! The model registry: every architecture `train` and `infer` know, built from a config.
//! Adding a model means one variant here and one constructor arm; nothing else branches on it.

use anyhow::bail;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use lenet::{Activation, LeNet, LeNetConfig, Pooling};
use serde::{Deserialize, Serialize};

/// Model families, as named on the command line.
pub const MODELS: &[&str] = &["lenet"];

/// Fail with a one-line message unless `name` is a known model.
pub fn check_model_name(name: &str) -> anyhow::Result<()> {
    if MODELS.contains(&name) { Ok(()) } else { bail!("unknown model '{name}' (known: {})", MODELS.join(", ")) }
}

/// The `[lenet]` table of a config: LeNet-5's architecture knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelKnobs {
    /// relu, tanh or sigmoid.
    pub activation: Activation,
    /// max or avg.
    pub pooling: Pooling,
    /// Batch normalisation after every hidden layer.
    pub batch_norm: bool,
    /// Dropout probability before the last two linear layers.
    pub dropout: f64,
}

impl Default for ModelKnobs {
    fn default() -> Self {
        ModelKnobs { activation: Activation::Relu, pooling: Pooling::Max, batch_norm: false, dropout: 0.0 }
    }
}

impl ModelKnobs {
    /// Reject values the architecture cannot take, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("config field `lenet.dropout`: must lie in [0, 1), got {}", self.dropout);
        }
        Ok(())
    }
}

/// What the data looks like to a model: recorded with every run so `infer` rebuilds the same
/// network and feeds it images prepared the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Channels per image.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Number of classes.
    pub num_classes: usize,
}

/// Any image classifier of the registry.
#[derive(Module, Debug)]
pub enum Classifier {
    /// LeNet-5.
    LeNet(LeNet),
}

impl Classifier {
    /// Build model `name` with fresh weights for data shaped like `input`.
    pub fn build(name: &str, knobs: &ModelKnobs, input: &InputSpec, device: &Device) -> anyhow::Result<Classifier> {
        check_model_name(name)?;
        if input.height != input.width {
            bail!("{name} takes square images, the data has {}x{}", input.height, input.width);
        }
        match name {
            "lenet" => {
                if input.height < 12 {
                    bail!("lenet needs images of at least 12x12, the data has {}x{}", input.height, input.width);
                }
                let config = LeNetConfig::new()
                    .with_num_classes(input.num_classes)
                    .with_in_channels(input.channels)
                    .with_image_size(input.height)
                    .with_activation(knobs.activation)
                    .with_pooling(knobs.pooling)
                    .with_batch_norm(knobs.batch_norm)
                    .with_dropout(knobs.dropout);
                Ok(Classifier::LeNet(config.init(device)))
            }
            _ => unreachable!("check_model_name accepted {name}"),
        }
    }

    /// Class scores.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::LeNet(m) => m.forward(images),
        }
    }
}
