//! Residual networks after K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image
//! recognition", CVPR 2016.
//!
//! - ImageNet networks: [`ResNetConfig::resnet18`], [`ResNetConfig::resnet34`] (basic blocks) and
//!   [`ResNetConfig::resnet50`] (bottleneck blocks), with torchvision's layout and parameter names.
//! - The CIFAR networks of the paper's section 4.2: [`ResNetConfig::resnet20`], `resnet32`,
//!   `resnet44`, `resnet56`, `resnet110` (6n + 2 layers, 16-32-64 channels, option-A shortcuts).
//! - [`ResNetConfig::cifar_resnet18`]: ResNet-18 with a 3x3 stem and no max pooling, the usual
//!   choice for 32x32 images.
//!
//! Every network takes 1- or 3-channel input. The switches the theory experiments need are
//! fields of [`ResNetConfig`]: shortcuts off (the paper's "plain" networks), a shortcut span of
//! one or two convolutions (Furusho & Ikeda 2019), batch norm off, stochastic depth (Huang et al.
//! 2016, "Deep networks with stochastic depth") and a width multiplier.
//!
//! The crate holds the architecture only and names no backend.

mod block;
mod model;
#[cfg(test)]
mod tests;

pub use block::{BasicBlock, Block, Bottleneck, Shortcut, StochasticDepth};
pub use model::{BlockKind, ResNet, ResNetConfig, Stem};
