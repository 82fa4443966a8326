//! AlexNet, after A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet classification with
//! deep convolutional neural networks", NeurIPS 2012, in the single-tower form of torchvision
//! (itself after Krizhevsky's "One weird trick", 2014): five convolutions, three linear layers,
//! ReLU, max pooling and dropout; no local response normalisation.
//!
//! - [`AlexNetConfig::imagenet`]: 224x224 input, 61,100,840 parameters with 1000 classes.
//! - [`AlexNetConfig::small`]: the same layer sequence sized for 28x28 and 32x32 images (5x5
//!   stride-1 first convolution, padded pooling, a 4x4 final map and narrower linear layers), with
//!   a width multiplier for CPU budgets.
//!
//! Parameter paths are torchvision's (`features.0.weight`, ..., `classifier.6.bias`) so that its
//! weights can be imported. The crate holds the architecture only and names no backend.

mod model;

pub use model::{AlexNet, AlexNetConfig, InputSize};
