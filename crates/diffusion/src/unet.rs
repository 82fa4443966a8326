use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use kernels::pointwise::Pointwise;

use crate::blocks::{Attention, ResBlock, conv3, downsample, timestep_embedding, upsample, zero_conv};

/// Configuration of a [`UNet`]; the defaults give a 1M-parameter network (widths 16, 32, 64) for
/// 28x28 grayscale images, small enough to train on a CPU.
#[derive(Config, Debug)]
pub struct UNetConfig {
    /// Channels of the images (1 for grayscale, 3 for RGB).
    pub channels: usize,
    /// Feature maps at full resolution; level i has `base_channels * channel_mults[i]`.
    #[config(default = 16)]
    pub base_channels: usize,
    /// Width multiplier of each resolution level; each level after the first halves the side
    /// (28 -> 14 -> 7 with three levels).
    #[config(default = "vec![1, 2, 4]")]
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level on the way down (one more on the way up).
    #[config(default = 2)]
    pub blocks_per_level: usize,
    /// Self-attention after every block of the lowest resolution and in the middle.
    #[config(default = true)]
    pub attention: bool,
    /// Groups of every group norm (must divide every width).
    #[config(default = 8)]
    pub groups: usize,
    /// Dropout inside the residual blocks.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// The noise-prediction network of DDPM: a UNet whose every residual block receives an
/// embedding of the time step.
#[derive(Module, Debug)]
pub struct UNet {
    time1: Linear,
    time2: Linear,
    conv_in: Conv2d,
    down: Vec<ResBlock>,
    down_attention: Vec<Option<Attention>>,
    downsample: Vec<Conv2d>,
    mid1: ResBlock,
    mid_attention: Option<Attention>,
    mid2: ResBlock,
    up: Vec<ResBlock>,
    up_attention: Vec<Option<Attention>>,
    upsample: Vec<Conv2d>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    #[module(skip)]
    base_channels: usize,
    #[module(skip)]
    blocks_per_level: usize,
    #[module(skip)]
    levels: usize,
}

impl UNetConfig {
    /// Build the network on `device`.
    ///
    /// # Panics
    /// If a width is not divisible by `groups`, or there are no levels or blocks.
    pub fn init(&self, device: &Device) -> UNet {
        let levels = self.channel_mults.len();
        assert!(levels >= 1 && self.blocks_per_level >= 1, "a UNet needs at least one level and one block per level");
        let widths: Vec<usize> = self.channel_mults.iter().map(|m| m * self.base_channels).collect();
        assert!(
            widths.iter().all(|w| *w > 0 && w % self.groups == 0),
            "every UNet width {widths:?} must be a positive multiple of groups = {}",
            self.groups
        );
        let time_dim = 4 * self.base_channels;
        let block = |from, to| ResBlock::new(from, to, time_dim, self.groups, self.dropout, device);
        let attention = |level: usize, width| {
            (self.attention && level == levels - 1).then(|| Attention::new(width, self.groups, device))
        };

        // The skip connections the up path consumes: the width of every stored activation.
        let mut skips = vec![self.base_channels];
        let (mut down, mut down_attention, mut downsamples) = (vec![], vec![], vec![]);
        let mut width = self.base_channels;
        for (level, &out) in widths.iter().enumerate() {
            for _ in 0..self.blocks_per_level {
                down.push(block(width, out));
                down_attention.push(attention(level, out));
                width = out;
                skips.push(width);
            }
            if level + 1 < levels {
                downsamples.push(downsample(width, device));
                skips.push(width);
            }
        }
        let middle = width;
        let mid1 = block(middle, middle);
        let mid_attention = self.attention.then(|| Attention::new(middle, self.groups, device));
        let mid2 = block(middle, middle);
        let (mut up, mut up_attention, mut upsamples) = (vec![], vec![], vec![]);
        for (level, &out) in widths.iter().enumerate().rev() {
            for _ in 0..=self.blocks_per_level {
                let skip = skips.pop().expect("one stored activation per up block");
                up.push(block(width + skip, out));
                up_attention.push(attention(level, out));
                width = out;
            }
            if level > 0 {
                upsamples.push(conv3(width, width, device));
            }
        }
        UNet {
            time1: LinearConfig::new(self.base_channels, time_dim).init(device),
            time2: LinearConfig::new(time_dim, time_dim).init(device),
            conv_in: conv3(self.channels, self.base_channels, device),
            down,
            down_attention,
            downsample: downsamples,
            mid1,
            mid_attention,
            mid2,
            up,
            up_attention,
            upsample: upsamples,
            norm_out: GroupNormConfig::new(self.groups, width).init(device),
            conv_out: zero_conv(width, self.channels, 3, device),
            base_channels: self.base_channels,
            blocks_per_level: self.blocks_per_level,
            levels,
        }
    }
}

fn attend(attention: &Option<Attention>, x: Tensor<4>) -> Tensor<4> {
    match attention {
        Some(a) => a.forward(x),
        None => x,
    }
}

impl UNet {
    /// The network's prediction (noise or velocity) for noisy images `x` at time steps `t`.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`
    /// - `t`: `[batch]`, the step index 0..T-1 as a float
    /// - output: `[batch, channels, height, width]`
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        let time = self.time2.forward(kernels::silu(self.time1.forward(timestep_embedding(t, self.base_channels))));
        let mut h = kernels::conv(&self.conv_in, x);
        let mut skips = vec![h.clone()];
        let mut blocks = self.down.iter().zip(&self.down_attention);
        for level in 0..self.levels {
            for (block, attention) in blocks.by_ref().take(self.blocks_per_level) {
                h = attend(attention, block.forward(h, time.clone()));
                skips.push(h.clone());
            }
            if let Some(down) = self.downsample.get(level) {
                h = kernels::conv(down, h);
                skips.push(h.clone());
            }
        }
        h = self.mid2.forward(attend(&self.mid_attention, self.mid1.forward(h, time.clone())), time.clone());
        let mut blocks = self.up.iter().zip(&self.up_attention);
        for level in 0..self.levels {
            for (block, attention) in blocks.by_ref().take(self.blocks_per_level + 1) {
                let skip = skips.pop().expect("one stored activation per up block");
                h = attend(attention, block.forward(Tensor::cat(vec![h, skip], 1), time.clone()));
            }
            if let (Some(conv), Some(next)) = (self.upsample.get(level), skips.last()) {
                let [_, _, height, width] = next.dims();
                h = kernels::conv(conv, upsample(h, [height, width]));
            }
        }
        kernels::conv(&self.conv_out, kernels::group_norm_then(&self.norm_out, h, Pointwise::Silu))
    }
}
