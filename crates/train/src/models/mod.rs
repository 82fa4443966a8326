//! The model registry: every architecture `train` and `infer` know, built from a config.
//! Adding a classifier means one family entry, one enum variant and one constructor arm here;
//! nothing else branches on it. Generative families name their task, which picks the training
//! loop and the inference path.

mod knobs;

use alexnet::{AlexNet, AlexNetConfig};
use anyhow::bail;
use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor};
use dcgan::DcganConfig;
use diffusion::UNetConfig;
use lenet::{LeNet, LeNetConfig};
use resnet::{ResNet, ResNetConfig};
use serde::{Deserialize, Serialize};

pub use knobs::{AlexNetKnobs, DcganKnobs, DiffusionKnobs, LeNetKnobs, ResNetKnobs};

use crate::config::TrainConfig;

/// What a family's models do, which decides how they are trained and used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Image classification: the supervised loop of [`crate::classify`].
    Classify,
    /// A generative adversarial network: the loop of [`crate::gan`].
    Adversarial,
    /// A denoising diffusion model: the loop of [`crate::ddpm`].
    Diffusion,
}

/// A model family as named on the command line, and its variants (the first is the default).
#[derive(Debug)]
pub struct Family {
    /// Name on the command line.
    pub name: &'static str,
    /// Variants, as `--model-variant` or `variant = "..."` name them; the first is the default.
    pub variants: &'static [&'static str],
    /// How the family is trained and used.
    pub task: Task,
}

/// Every model family.
pub const FAMILIES: &[Family] = &[
    Family { name: "lenet", variants: &["lenet5"], task: Task::Classify },
    Family {
        name: "resnet",
        variants: &[
            "resnet20",
            "resnet32",
            "resnet44",
            "resnet56",
            "resnet110",
            "resnet18-cifar",
            "resnet18",
            "resnet34",
            "resnet50",
        ],
        task: Task::Classify,
    },
    Family { name: "alexnet", variants: &["alexnet-small", "alexnet"], task: Task::Classify },
    Family { name: "dcgan", variants: &["dcgan"], task: Task::Adversarial },
    Family { name: "diffusion", variants: &["ddpm"], task: Task::Diffusion },
];

fn family(name: &str) -> anyhow::Result<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name).ok_or_else(|| {
        let known: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        anyhow::anyhow!("unknown model '{name}' (known: {})", known.join(", "))
    })
}

/// Fail with a one-line message unless `name` is a known model family.
pub fn check_model_name(name: &str) -> anyhow::Result<()> {
    family(name).map(|_| ())
}

/// The task of model family `name`.
pub fn task(name: &str) -> anyhow::Result<Task> {
    family(name).map(|f| f.task)
}

/// The variant a run of `model` uses: `variant` if the family has it, else its default.
pub fn resolve_variant(model: &str, variant: Option<&str>) -> anyhow::Result<String> {
    let family = family(model)?;
    match variant {
        None => Ok(family.variants[0].to_string()),
        Some(v) if family.variants.contains(&v) => Ok(v.to_string()),
        Some(v) => {
            bail!("config field `variant`: {model} has no variant '{v}' (known: {})", family.variants.join(", "))
        }
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
// One per run, never in a collection: boxing the larger variants would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Classifier {
    /// LeNet-5.
    LeNet(LeNet),
    /// A residual network.
    ResNet(ResNet),
    /// AlexNet.
    AlexNet(AlexNet),
}

impl Classifier {
    /// Build the model `cfg` describes (family, variant, knobs) with fresh weights for data
    /// shaped like `input`.
    pub fn build(cfg: &TrainConfig, input: &InputSpec, device: &Device) -> anyhow::Result<Classifier> {
        let variant = resolve_variant(&cfg.model, cfg.variant.as_deref())?;
        let (c, side, classes) = (input.channels, input.height, input.num_classes);
        if input.height != input.width {
            bail!("{variant} takes square images, the data has {}x{}", input.height, input.width);
        }
        let min_side = match variant.as_str() {
            "lenet5" => 12,
            "resnet18" | "resnet34" | "resnet50" => 32,
            "alexnet" => 63,
            _ => 8,
        };
        if side < min_side {
            bail!("{variant} needs images of at least {min_side}x{min_side}, the data has {side}x{side}");
        }
        Ok(match cfg.model.as_str() {
            "lenet" => {
                let k = &cfg.lenet;
                let config = LeNetConfig::new()
                    .with_num_classes(classes)
                    .with_in_channels(c)
                    .with_image_size(side)
                    .with_activation(k.activation)
                    .with_pooling(k.pooling)
                    .with_batch_norm(k.batch_norm)
                    .with_dropout(k.dropout);
                Classifier::LeNet(config.init(device))
            }
            "resnet" => {
                let base = match variant.as_str() {
                    "resnet18" => ResNetConfig::resnet18(classes, c),
                    "resnet34" => ResNetConfig::resnet34(classes, c),
                    "resnet50" => ResNetConfig::resnet50(classes, c),
                    "resnet18-cifar" => ResNetConfig::cifar_resnet18(classes, c),
                    cifar => {
                        let depth = cifar.trim_start_matches("resnet").parse().expect("registry lists resnet<depth>");
                        ResNetConfig::cifar(depth, classes, c)
                    }
                };
                let k = &cfg.resnet;
                if k.skip_span == 1 && base.block == resnet::BlockKind::Bottleneck {
                    bail!("config field `resnet.skip_span`: 1 needs basic blocks, {variant} has bottlenecks");
                }
                let shortcut = k.shortcut.unwrap_or(base.shortcut);
                let config = base
                    .with_shortcut(shortcut)
                    .with_skip_span(k.skip_span)
                    .with_batch_norm(k.batch_norm)
                    .with_stochastic_depth(k.stochastic_depth)
                    .with_width_multiplier(k.width);
                Classifier::ResNet(config.init(device))
            }
            "alexnet" => {
                let base = match variant.as_str() {
                    "alexnet" => AlexNetConfig::imagenet(classes, c),
                    _ => AlexNetConfig::small(classes, c),
                };
                let k = &cfg.alexnet;
                let hidden = k.hidden.unwrap_or(base.hidden);
                let config = base.with_width_multiplier(k.width).with_hidden(hidden).with_dropout(k.dropout);
                Classifier::AlexNet(config.init(device))
            }
            other => bail!("{other} is not an image classifier"),
        })
    }

    /// Class scores.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::LeNet(m) => m.forward(images),
            Classifier::ResNet(m) => m.forward(images),
            Classifier::AlexNet(m) => m.forward(images),
        }
    }
}

/// The DCGAN `cfg` describes, for images shaped like `input`.
pub fn dcgan_config(cfg: &TrainConfig, input: &InputSpec) -> anyhow::Result<DcganConfig> {
    let k = &cfg.dcgan;
    let config = DcganConfig::new(input.height, input.channels)
        .with_latent_dim(k.latent_dim)
        .with_generator_width(k.generator_width)
        .with_discriminator_width(k.discriminator_width);
    if input.height != input.width || config.geometry().is_none() {
        bail!(
            "dcgan cannot generate {}x{} images: the side must be 4·2^n to 7·2^n (e.g. 28, 32, 64)",
            input.height,
            input.width
        );
    }
    Ok(config)
}

/// The UNet `cfg` describes, for images with `channels` channels.
pub fn unet_config(cfg: &TrainConfig, channels: usize) -> UNetConfig {
    let k = &cfg.diffusion;
    UNetConfig::new(channels)
        .with_base_channels(k.base_channels)
        .with_channel_mults(k.channel_mults.clone())
        .with_blocks_per_level(k.blocks_per_level)
        .with_attention(k.attention)
        .with_groups(k.groups)
        .with_dropout(k.dropout)
}

/// Learned parameters, as papers count them: burn's `num_params` also counts batch norm's
/// running mean and variance, which are statistics, not parameters.
pub fn trainable_params(model: &impl ModuleSnapshot) -> usize {
    let tensors = model.collect(None, None, false);
    let learned = tensors.iter().filter(|t| !t.name.ends_with(".running_mean") && !t.name.ends_with(".running_var"));
    learned.map(|t| t.shape.iter().product::<usize>()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(channels: usize, side: usize) -> InputSpec {
        InputSpec { channels, height: side, width: side, num_classes: 10 }
    }

    fn cfg(model: &str, variant: Option<&str>) -> TrainConfig {
        TrainConfig { model: model.into(), variant: variant.map(String::from), ..Default::default() }
    }

    #[test]
    fn every_variant_builds_and_classifies() {
        let d = Device::flex();
        for family in FAMILIES.iter().filter(|f| f.task == Task::Classify) {
            for variant in family.variants {
                let side = match *variant {
                    "alexnet" => 64,
                    "resnet18" | "resnet34" | "resnet50" => 32,
                    _ => 28,
                };
                let model = Classifier::build(&cfg(family.name, Some(variant)), &spec(1, side), &d).unwrap();
                assert_eq!(model.forward(Tensor::zeros([2, 1, side, side], &d)).dims(), [2, 10], "{variant}");
            }
        }
    }

    #[test]
    fn knobs_reach_the_network() {
        let d = Device::flex();
        let mut c = cfg("resnet", None);
        let plain = |c: &TrainConfig| trainable_params(&Classifier::build(c, &spec(3, 32), &d).unwrap());
        assert_eq!(plain(&c), 269_722);
        c.resnet.shortcut = Some(resnet::Shortcut::Projection);
        assert_eq!(plain(&c), 269_722 + 576 + 2176);
        c.resnet.width = 2.0;
        assert!(plain(&c) > 4 * 269_722);
        let mut a = cfg("alexnet", None);
        a.alexnet.hidden = Some(64);
        a.alexnet.width = 0.25;
        assert_eq!(
            trainable_params(&Classifier::build(&a, &spec(1, 28), &d).unwrap()),
            (25 * 16 + 16)
                + (16 * 48 * 25 + 48)
                + (48 * 96 * 9 + 96)
                + (96 * 64 * 9 + 64)
                + (64 * 64 * 9 + 64)
                + (1024 * 64 + 64)
                + (64 * 64 + 64)
                + (64 * 10 + 10)
        );
    }

    #[test]
    fn bad_choices_are_one_line_errors() {
        let d = Device::flex();
        let err = |c: TrainConfig, s: InputSpec| Classifier::build(&c, &s, &d).unwrap_err().to_string();
        assert_eq!(
            err(cfg("resnet", Some("resnet19")), spec(1, 28)),
            "config field `variant`: resnet has no variant 'resnet19' (known: resnet20, resnet32, resnet44, resnet56, resnet110, resnet18-cifar, resnet18, resnet34, resnet50)"
        );
        assert_eq!(
            err(cfg("alexnet", Some("alexnet")), spec(1, 28)),
            "alexnet needs images of at least 63x63, the data has 28x28"
        );
        let mut c = cfg("resnet", Some("resnet50"));
        c.resnet.skip_span = 1;
        assert!(err(c, spec(3, 32)).starts_with("config field `resnet.skip_span`: 1 needs basic blocks"));
        assert!(
            check_model_name("vgg")
                .unwrap_err()
                .to_string()
                .starts_with("unknown model 'vgg' (known: lenet, resnet, alexnet, dcgan, diffusion)")
        );
    }
}
