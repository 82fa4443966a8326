use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Tensor};
use kernels::pointwise::Pointwise;

use crate::DcganConfig;
use crate::config::{WEIGHT_INIT, batch_norm};

/// Maps latent vectors to images in [-1, 1].
///
/// A transposed convolution projects z (as a 1x1 map) to `base`x`base` with
/// `generator_width·2^(n-1)` maps; each following transposed convolution (4x4, stride 2) doubles
/// the side and halves the maps, the last one producing the image channels.
#[derive(Module, Debug)]
pub struct Generator {
    /// Projection of z and the hidden upsamplings, each followed by batch norm and ReLU.
    pub(crate) hidden: Vec<(ConvTranspose2d, BatchNorm)>,
    /// The last upsampling, to the image channels (tanh follows).
    output: ConvTranspose2d,
    #[module(skip)]
    latent_dim: usize,
}

impl DcganConfig {
    /// Build the generator with the paper's initialisation on `device`.
    ///
    /// # Panics
    /// If `image_size` is not 4·2^n to 7·2^n.
    pub fn init_generator(&self, device: &Device) -> Generator {
        let (n, base) = self.checked_geometry();
        let width = |i: usize| self.generator_width << (n - 1 - i);
        let up = |from: usize, to: usize| {
            ConvTranspose2dConfig::new([from, to], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_initializer(WEIGHT_INIT)
        };
        // A bias before batch norm is cancelled by its mean subtraction.
        let project = ConvTranspose2dConfig::new([self.latent_dim, width(0)], [base, base])
            .with_bias(false)
            .with_initializer(WEIGHT_INIT);
        let mut hidden = vec![(project.init(device), batch_norm(width(0), device))];
        for i in 1..n {
            hidden.push((up(width(i - 1), width(i)).with_bias(false).init(device), batch_norm(width(i), device)));
        }
        Generator { hidden, output: up(width(n - 1), self.channels).init(device), latent_dim: self.latent_dim }
    }
}

impl Generator {
    /// Images for latent vectors `z` (usually drawn from N(0, I)).
    ///
    /// # Shapes
    /// - `z`: `[batch, latent_dim]`
    /// - output: `[batch, channels, image_size, image_size]`, values in [-1, 1]
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let mut x: Tensor<4> = z.reshape([batch, self.latent_dim, 1, 1]);
        for (conv, bn) in &self.hidden {
            x = kernels::batch_norm_then(bn, kernels::conv_transpose(conv, x), Pointwise::Relu);
        }
        tanh(kernels::conv_transpose(&self.output, x))
    }

    /// Length of the latent vectors the generator takes.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }
}
