use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::block::{BasicBlock, Block, BlockOptions, Bottleneck, ConvBn, Shortcut};

/// Which residual block a network stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// [`BasicBlock`]: two 3x3 convolutions.
    Basic,
    /// [`Bottleneck`]: 1x1, 3x3, 1x1 convolutions, four times wider at the output.
    Bottleneck,
}

/// The layers before the first stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 7x7 convolution with stride 2, then 3x3 max pooling with stride 2: for 224x224 images.
    ImageNet,
    /// One 3x3 convolution with stride 1 and no pooling: for 28x28 and 32x32 images.
    Cifar,
}

/// Configuration of a [`ResNet`]. The constructors named after the paper ([`ResNetConfig::resnet18`],
/// [`ResNetConfig::resnet20`], ...) fill in the architecture; the `with_*` methods turn the
/// switches the theory experiments compare.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Blocks per stage; the first stage keeps the resolution, each later one halves it and
    /// doubles the width.
    pub stages: Vec<usize>,
    /// Kind of residual block.
    pub block: BlockKind,
    /// Width of the stem and the first stage (64 for ImageNet networks, 16 for the CIFAR ones).
    pub base_width: usize,
    /// Layers before the first stage.
    pub stem: Stem,
    /// Number of output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Channels of the input image (1 for grayscale, 3 for RGB).
    #[config(default = 3)]
    pub in_channels: usize,
    /// Shortcut connections; [`Shortcut::None`] gives the plain network.
    #[config(default = "Shortcut::Projection")]
    pub shortcut: Shortcut,
    /// Convolutions bridged by one shortcut: 2 as in the paper, or 1 (a shortcut around every
    /// convolution, as Furusho & Ikeda compare). Basic blocks only.
    #[config(default = 2)]
    pub skip_span: usize,
    /// Batch normalisation after every convolution; without it the convolutions get biases.
    #[config(default = true)]
    pub batch_norm: bool,
    /// Stochastic depth: drop probability p_L of the last block; block l of L drops its branch
    /// with probability l / L * p_L while training (Huang et al. 2016's linear decay). 0 disables it;
    /// a plain network (no shortcut) has no branch to skip and ignores it.
    #[config(default = 0.0)]
    pub stochastic_depth: f64,
    /// Multiplies every width (stem and stages), rounded, at least 1 channel.
    #[config(default = 1.0)]
    pub width_multiplier: f64,
}

/// A residual network (He et al. 2016). Field names follow torchvision's `ResNet`
/// (`conv1`, `layer1`..`layer4`, `fc`); CIFAR networks leave `layer4` empty.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: ConvBn,
    layer1: Vec<Block>,
    layer2: Vec<Block>,
    layer3: Vec<Block>,
    layer4: Vec<Block>,
    fc: Linear,
    #[module(skip)]
    stem: Stem,
}

impl ResNetConfig {
    fn imagenet(block: BlockKind, stages: [usize; 4], num_classes: usize, in_channels: usize) -> Self {
        ResNetConfig::new(stages.to_vec(), block, 64, Stem::ImageNet)
            .with_num_classes(num_classes)
            .with_in_channels(in_channels)
    }

    /// ResNet-18 for ImageNet-sized input: 11,689,512 parameters with 1000 classes.
    pub fn resnet18(num_classes: usize, in_channels: usize) -> Self {
        Self::imagenet(BlockKind::Basic, [2, 2, 2, 2], num_classes, in_channels)
    }

    /// ResNet-34: 21,797,672 parameters with 1000 classes.
    pub fn resnet34(num_classes: usize, in_channels: usize) -> Self {
        Self::imagenet(BlockKind::Basic, [3, 4, 6, 3], num_classes, in_channels)
    }

    /// ResNet-50 (bottleneck blocks): 25,557,032 parameters with 1000 classes.
    pub fn resnet50(num_classes: usize, in_channels: usize) -> Self {
        Self::imagenet(BlockKind::Bottleneck, [3, 4, 6, 3], num_classes, in_channels)
    }

    /// The common CIFAR adaptation of ResNet-18: a 3x3 stem without max pooling, so 32x32
    /// input keeps its resolution into the first stage; 11,173,962 parameters for RGB and 10 classes.
    pub fn cifar_resnet18(num_classes: usize, in_channels: usize) -> Self {
        ResNetConfig { stem: Stem::Cifar, ..Self::resnet18(num_classes, in_channels) }
    }

    /// The CIFAR ResNet of the paper's section 4.2 with `depth` = 6n + 2 layers: three stages of
    /// n basic blocks at 16, 32 and 64 channels, option-A shortcuts.
    ///
    /// # Panics
    /// If `depth` is not of the form 6n + 2 with n >= 1.
    pub fn cifar(depth: usize, num_classes: usize, in_channels: usize) -> Self {
        assert!(depth >= 8 && (depth - 2).is_multiple_of(6), "CIFAR ResNet depth must be 6n + 2, got {depth}");
        let n = (depth - 2) / 6;
        ResNetConfig::new(vec![n; 3], BlockKind::Basic, 16, Stem::Cifar)
            .with_num_classes(num_classes)
            .with_in_channels(in_channels)
            .with_shortcut(Shortcut::Identity)
    }

    /// ResNet-20: 0.27M parameters (269,722 with 10 classes).
    pub fn resnet20(num_classes: usize, in_channels: usize) -> Self {
        Self::cifar(20, num_classes, in_channels)
    }

    /// ResNet-32: 0.46M parameters.
    pub fn resnet32(num_classes: usize, in_channels: usize) -> Self {
        Self::cifar(32, num_classes, in_channels)
    }

    /// ResNet-44: 0.66M parameters.
    pub fn resnet44(num_classes: usize, in_channels: usize) -> Self {
        Self::cifar(44, num_classes, in_channels)
    }

    /// ResNet-56: 0.85M parameters.
    pub fn resnet56(num_classes: usize, in_channels: usize) -> Self {
        Self::cifar(56, num_classes, in_channels)
    }

    /// ResNet-110: 1.7M parameters.
    pub fn resnet110(num_classes: usize, in_channels: usize) -> Self {
        Self::cifar(110, num_classes, in_channels)
    }

    /// Depth in weighted layers: the stem, every convolution of every block, and `fc`.
    pub fn depth(&self) -> usize {
        let per_block = match self.block {
            BlockKind::Basic => 2,
            BlockKind::Bottleneck => 3,
        };
        2 + per_block * self.stages.iter().sum::<usize>()
    }

    fn width(&self, base: usize) -> usize {
        ((base as f64 * self.width_multiplier).round() as usize).max(1)
    }

    /// Build the network with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// On a configuration no network has: no stages or more than four, a skip span other than
    /// 1 or 2 (or 1 with bottleneck blocks), a drop probability outside [0, 1), or a width
    /// multiplier that is not positive.
    pub fn init(&self, device: &Device) -> ResNet {
        assert!((1..=4).contains(&self.stages.len()), "a ResNet has 1 to 4 stages, got {}", self.stages.len());
        assert!(
            self.skip_span == 2 || (self.skip_span == 1 && self.block == BlockKind::Basic),
            "skip_span must be 2, or 1 with basic blocks; got {} with {:?} blocks",
            self.skip_span,
            self.block
        );
        assert!((0.0..1.0).contains(&self.stochastic_depth), "stochastic_depth must lie in [0, 1)");
        assert!(self.width_multiplier > 0.0, "width_multiplier must be positive");

        let (kernel, stride) = match self.stem {
            Stem::ImageNet => (7, 2),
            Stem::Cifar => (3, 1),
        };
        let stem_width = self.width(self.base_width);
        let conv1 = ConvBn::new([self.in_channels, stem_width], kernel, stride, self.batch_norm, device);
        let opts = BlockOptions { shortcut: self.shortcut, skip_span: self.skip_span, batch_norm: self.batch_norm };
        let total_blocks: usize = self.stages.iter().sum();
        let mut block_index = 0;
        let mut channels = stem_width;
        let mut layers: Vec<Vec<Block>> = Vec::new();
        for (stage, &blocks) in self.stages.iter().enumerate() {
            let width = self.width(self.base_width << stage);
            let layer = (0..blocks)
                .map(|i| {
                    block_index += 1;
                    let drop = self.stochastic_depth * block_index as f64 / total_blocks as f64;
                    let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                    let block = match self.block {
                        BlockKind::Basic => {
                            Block::Basic(BasicBlock::new([channels, width], stride, opts, drop, device))
                        }
                        BlockKind::Bottleneck => {
                            Block::Bottleneck(Bottleneck::new([channels, width], stride, opts, drop, device))
                        }
                    };
                    channels = match self.block {
                        BlockKind::Basic => width,
                        BlockKind::Bottleneck => width * Bottleneck::EXPANSION,
                    };
                    block
                })
                .collect();
            layers.push(layer);
        }
        layers.resize_with(4, Vec::new);
        let mut layers = layers.into_iter();
        let mut next = || layers.next().expect("four stages");
        ResNet {
            conv1,
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            fc: LinearConfig::new(channels, self.num_classes).init(device),
            stem: self.stem,
        }
    }
}

impl ResNet {
    /// Class scores (logits).
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`; any size that survives the
    ///   downsampling (at least 32x32 for the ImageNet stem, 8x8 for the CIFAR one)
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.features(images))
    }

    /// The globally pooled activations of the last stage, the input of `fc`.
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`
    /// - output: `[batch, channels of the last stage]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.conv1.forward_relu(images);
        if self.stem == Stem::ImageNet {
            x = kernels::max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]));
        }
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4) {
            x = block.forward(x);
        }
        adaptive_avg_pool2d(x, [1, 1]).flatten(1, 3)
    }
}
