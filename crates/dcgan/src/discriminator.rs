use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use kernels::pointwise::Pointwise;

use crate::DcganConfig;
use crate::config::{WEIGHT_INIT, batch_norm};

/// The paper's LeakyReLU slope.
const SLOPE: f64 = 0.2;

/// Scores images as real (large logit) or generated (small logit).
///
/// Strided 4x4 convolutions halve the side and double the maps from `discriminator_width` down
/// to the `base`x`base` map, which one last convolution of that size turns into a logit.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// First downsampling, without batch norm (the paper found it destabilised the sample).
    input: Conv2d,
    /// The following downsamplings, each with batch norm.
    hidden: Vec<(Conv2d, BatchNorm)>,
    /// The `base`x`base` convolution to one logit.
    output: Conv2d,
}

impl DcganConfig {
    /// Build the discriminator with the paper's initialisation on `device`.
    ///
    /// # Panics
    /// If `image_size` is not 4·2^n to 7·2^n.
    pub fn init_discriminator(&self, device: &Device) -> Discriminator {
        let (n, base) = self.checked_geometry();
        let width = |i: usize| self.discriminator_width << i;
        let down = |from: usize, to: usize| {
            Conv2dConfig::new([from, to], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(WEIGHT_INIT)
        };
        let hidden = (1..n)
            .map(|i| (down(width(i - 1), width(i)).with_bias(false).init(device), batch_norm(width(i), device)))
            .collect();
        Discriminator {
            input: down(self.channels, width(0)).init(device),
            hidden,
            output: Conv2dConfig::new([width(n - 1), 1], [base, base]).with_initializer(WEIGHT_INIT).init(device),
        }
    }
}

impl Discriminator {
    /// One logit per image: the log-odds that it is real.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, image_size, image_size]`, values in [-1, 1]
    /// - output: `[batch]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<1> {
        let mut x = kernels::leaky_relu(kernels::conv(&self.input, images), SLOPE);
        for (conv, bn) in &self.hidden {
            x = kernels::batch_norm_then(bn, kernels::conv(conv, x), Pointwise::LeakyRelu(SLOPE as f32));
        }
        kernels::conv(&self.output, x).flatten(0, 3)
    }
}
