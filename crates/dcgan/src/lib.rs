//! Deep convolutional GANs after A. Radford, L. Metz and S. Chintala, "Unsupervised
//! representation learning with deep convolutional generative adversarial networks", ICLR 2016.
//!
//! The paper's architecture guidelines, for any square image whose side is 4·2^n to 7·2^n
//! (28 for the MNIST family, 32 for CIFAR, 64 as in the paper):
//! - the [`Generator`] projects a latent vector z to a small feature map with a transposed
//!   convolution, then doubles the resolution with strided transposed convolutions, with batch
//!   norm and ReLU everywhere except the tanh output;
//! - the [`Discriminator`] mirrors it with strided convolutions and LeakyReLU(0.2), batch norm on
//!   every layer but the first, and ends in one logit (no pooling, no fully connected layers);
//! - every convolution weight is drawn from N(0, 0.02), batch-norm scales from N(1, 0.02).
//!
//! With [`DcganConfig::new`]`(64, 3)` the networks are the paper's LSUN/ImageNet ones (z of 100,
//! 512-256-128-64 feature maps). The crate holds the architecture only: the adversarial losses
//! and the training loop live in the `train` crate.

mod config;
mod discriminator;
mod generator;
#[cfg(test)]
mod tests;

pub use config::DcganConfig;
pub use discriminator::Discriminator;
pub use generator::Generator;
