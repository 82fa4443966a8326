use burn::config::Config;
use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, Initializer};
use burn::tensor::{Device, Distribution, Tensor};

/// Configuration of a DCGAN's [`Generator`](crate::Generator) and
/// [`Discriminator`](crate::Discriminator); the defaults are the paper's widths.
#[derive(Config, Debug)]
pub struct DcganConfig {
    /// Side of the square images: 4·2^n to 7·2^n for some n ≥ 1 (e.g. 28, 32, 64).
    pub image_size: usize,
    /// Channels of the images (1 for grayscale, 3 for RGB).
    pub channels: usize,
    /// Length of the latent vector z.
    #[config(default = 100)]
    pub latent_dim: usize,
    /// Feature maps of the generator's last hidden layer; each coarser layer has twice as many.
    #[config(default = 64)]
    pub generator_width: usize,
    /// Feature maps of the discriminator's first layer; each coarser layer has twice as many.
    #[config(default = 64)]
    pub discriminator_width: usize,
}

impl DcganConfig {
    /// The number of resolution doublings n and the side of the smallest feature map
    /// (`image_size / 2^n`, between 4 and 7), or `None` for a size the networks cannot produce.
    ///
    /// The smallest map is kept at 4 or more so the discriminator's last convolution still sees
    /// a spatial pattern, as in the paper's 4x4.
    pub fn geometry(&self) -> Option<(usize, usize)> {
        (1..8).rev().find_map(|n| {
            let base = self.image_size >> n;
            (self.image_size.is_multiple_of(1 << n) && (4..=7).contains(&base)).then_some((n, base))
        })
    }

    /// [`geometry`](Self::geometry), panicking with a message when the size is unsupported.
    pub(crate) fn checked_geometry(&self) -> (usize, usize) {
        assert!(self.channels >= 1, "a DCGAN needs at least one image channel");
        self.geometry().unwrap_or_else(|| {
            panic!("DCGAN image size must be 4·2^n to 7·2^n (e.g. 28, 32, 64), got {}", self.image_size)
        })
    }
}

/// The paper's initialisation: "all weights were initialized from a zero-centered Normal
/// distribution with standard deviation 0.02".
pub(crate) const WEIGHT_INIT: Initializer = Initializer::Normal { mean: 0.0, std: 0.02 };

/// Batch norm whose scales start near 1 (N(1, 0.02)), as in the reference implementations:
/// N(0, 0.02) scales would all but switch the layer off.
pub(crate) fn batch_norm(features: usize, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(features).init(device);
    bn.gamma = Param::from_tensor(Tensor::random([features], Distribution::Normal(1.0, 0.02), device));
    bn
}
