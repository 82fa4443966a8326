//! Direct convolution of few channels at stride 1 (LeNet-5's two convolutions): outputs summed
//! in vector registers from a zero-padded copy of the input, with no column matrix. With so few
//! channels im2col's copy cost more than its GEMM: per image, LeNet's conv1 unfolded 25 values per
//! output position in 3 µs and multiplied them in 1.8 µs, and its weight gradient unfolded the
//! same input a second time.
//!
//! Two layouts of the vectors: [`channels`] holds one output position's channels in a vector,
//! for exactly a vector's worth of output channels (conv2's 16 with AVX-512); [`pixels`] holds a
//! row's output positions, for any number of channels (conv1's 6), wasting the lanes past the
//! row's end. The input gradient of few channels stays with im2col: as a direct convolution of the
//! output gradient it sums over the zero padding too, twice LeNet conv2's products.
//!
//! [`channels`]' forward kernel also takes 3x3 convolutions of many channels on rows at least 14
//! wide (the UNet's, ResNet-20's first two stages), forward and, as the convolution of the output
//! gradient by the flipped kernels, backward to the input; their weight gradient stays with
//! im2col and Winograd.

mod channels;
mod pixels;

use super::Geometry;
use crate::batching::{per_thread, sum_over_runs};
use crate::copy_short;
use crate::output::in_pieces;
use crate::winograd;
use pulp::{Simd, WithSimd};

/// The lanes of the vectors the kernels take: AVX-512's. With AVX2's 8 (forced on an AVX-512
/// machine) LeNet-5's conv2 ran slower than im2col and AVX-512's GEMM, 644 against 557 µs
/// forward on one thread, and the kernels were never measured on an AVX2 processor, which keeps
/// im2col.
const LANES: usize = 16;

/// The widest output row the kernels take: two vectors.
const MAX_WIDTH: usize = 2 * LANES;

/// Convolutions with fewer channels in or out than this take the direct kernels...
const FEW_CHANNELS: usize = 8;

/// ...and no more than this on the other side.
const MAX_CHANNELS: usize = 16;

/// The narrowest output rows of convolutions with many channels the kernels take: from 14, a
/// row fills whole tiles of 14 or 16 positions. Measured forward and backward at batch 128 on 2
/// threads of a Xeon with AVX-512, they beat im2col on the UNet's 14x14 level (32 to 32
/// channels: 5.9 ms where im2col took 6.6) and Winograd at 28x28 (16 to 16: 7.3 where it took
/// 9.5) and at ResNet-20's 32x32 (8.6 against 9.6); on 7x7 rows, tiles of 7 positions took 64 to
/// 64 channels from 5.2 to 5.5 ms and 128 to 64 from 10.5 to 12.8.
const MANY_CHANNELS_WIDTH: usize = 14;

/// See [`Geometry::is_direct_many`]: Winograd's transforms kept ResNet-18's 32x32 stage (64
/// channels) at 78 ms forward and backward where the direct kernel took 106, and its 16x16 (128
/// channels) at 80 against 98.
const WINOGRAD_CHANNELS: usize = 64;

/// Images whose padded inputs and output gradients the weight gradient's tiles sweep together:
/// they stay in cache.
const GRADIENT_IMAGES: usize = 8;

/// Images per task of the forward kernel: their padded copy, and their output once zeroed,
/// stay in cache for the tiles.
const FORWARD_IMAGES: usize = 1;

impl Geometry {
    /// Whether the direct kernels take this convolution: stride and dilation 1, a kernel 3 or 5
    /// wide, output rows at most [`MAX_WIDTH`] wide, few channels, and AVX-512.
    pub(super) fn is_direct(&self) -> bool {
        let few = self.in_channels.min(self.out_channels) < FEW_CHANNELS;
        let not_many = self.in_channels.max(self.out_channels) <= MAX_CHANNELS;
        self.stride == [1, 1]
            && self.dilation == [1, 1]
            && matches!(self.kernel[1], 3 | 5)
            && self.output()[1] <= MAX_WIDTH
            && few
            && not_many
            && lanes() == LANES
    }

    /// Whether the [`channels`] kernels take this convolution: whole vectors of output channels,
    /// a square kernel, and output rows at least [`channels::NARROWEST`] wide.
    fn by_channels(&self) -> bool {
        self.out_channels.is_multiple_of(LANES)
            && self.kernel[0] == self.kernel[1]
            && self.output()[1] >= channels::NARROWEST
    }

    /// Whether the [`channels`] kernel takes this convolution of more channels than
    /// [`Geometry::is_direct`]'s: a 3x3 kernel at stride 1, whole vectors of output channels, at
    /// least [`FEW_CHANNELS`] in, and output rows at least [`MANY_CHANNELS_WIDTH`] wide; with
    /// [`WINOGRAD_CHANNELS`] or more on both sides, only where Winograd's transforms do not apply.
    pub(super) fn is_direct_many(&self) -> bool {
        self.stride == [1, 1]
            && self.dilation == [1, 1]
            && self.kernel == [3, 3]
            && self.out_channels.is_multiple_of(LANES)
            && self.in_channels >= FEW_CHANNELS
            && self.output()[1] >= MANY_CHANNELS_WIDTH
            && (self.in_channels.min(self.out_channels) < WINOGRAD_CHANNELS || !winograd::applies(self))
            && lanes() == LANES
    }

    /// The input gradient's convolution, for stride and dilation 1 and padding narrower than the
    /// kernel: the output gradient's, by the flipped kernels with the channels' roles swapped,
    /// padded so that it gives back the input's size.
    pub(super) fn adjoint(&self) -> Option<Geometry> {
        if self.stride != [1, 1] || self.dilation != [1, 1] {
            return None;
        }
        let pad = |d: usize| {
            let reach = self.kernel[d] - 1;
            let (before, after) = self.padding[d];
            (before <= reach && after <= reach).then_some((reach - before, reach - after))
        };
        Some(Geometry {
            in_channels: self.out_channels,
            out_channels: self.in_channels,
            input: self.output(),
            padding: [pad(0)?, pad(1)?],
            ..*self
        })
    }
}

/// The input gradient `dx` (`[N, C, H, W]`) of the convolution `g`: the forward convolution
/// `adjoint` ([`Geometry::adjoint`]) of `dy` by the flipped kernels, plus `bias` (`[C]`) where it
/// serves as a transposed convolution.
pub(super) fn input_gradient(
    g: &Geometry,
    adjoint: &Geometry,
    w: &[f32],
    dy: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let ([kh, kw], c_n, o_n) = (g.kernel, g.in_channels, g.out_channels);
    let mut flipped = vec![0.0; w.len()];
    for (o, filters) in w.chunks_exact(c_n * kh * kw).enumerate() {
        for (c, kernel) in filters.chunks_exact(kh * kw).enumerate() {
            for (k, &v) in kernel.iter().enumerate() {
                flipped[((c * o_n + o) * kh + kh - 1 - k / kw) * kw + kw - 1 - k % kw] = v;
            }
        }
    }
    forward(adjoint, dy, &flipped, bias)
}

/// `f32` lanes of this processor's widest vectors (16 with AVX-512, 8 with AVX2).
fn lanes() -> usize {
    struct Lanes;
    impl WithSimd for Lanes {
        type Output = usize;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> usize {
            S::F32_LANES
        }
    }
    pulp::Arch::new().dispatch(Lanes)
}

/// A vector of the `S::F32_LANES` values from the start of `values`, at any alignment.
#[inline(always)]
fn load<S: Simd>(values: &[f32]) -> S::f32s {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(&values[..S::F32_LANES]))
}

/// Where an image sits in its zero-padded copy: per channel, `rows` rows of `pitch` values, the
/// image's pixel `(0, 0)` at `(top, left)`. Every value the kernels read for an output row of
/// `vectors` vectors lies inside.
struct Padded {
    rows: usize,
    pitch: usize,
    top: usize,
    left: usize,
    vectors: usize,
}

impl Padded {
    fn new(g: &Geometry) -> Self {
        let [ho, wo] = g.output();
        let vectors = wo.div_ceil(LANES);
        Padded {
            rows: ho + g.kernel[0] - 1,
            pitch: vectors * LANES + g.kernel[1] - 1,
            top: g.padding[0].0,
            left: g.padding[1].0,
            vectors,
        }
    }

    /// Values in one image's padded copy.
    fn image_len(&self, channels: usize) -> usize {
        channels * self.rows * self.pitch
    }

    /// Writes the padded copy of `images` (`[N, C, H, W]`) into `dst`, one image after another.
    /// It writes the images' values alone: `dst` must be empty or hold earlier copies by this
    /// `Padded`, whose padding is zero still (and what `dst` grows by is zeroed).
    fn fill(&self, g: &Geometry, images: &[f32], dst: &mut Vec<f32>) {
        let [h, w] = g.input;
        dst.resize(images.len() / (h * w) * self.rows * self.pitch, 0.0);
        for (plane, padded) in images.chunks_exact(h * w).zip(dst.chunks_exact_mut(self.rows * self.pitch)) {
            for (row, src) in plane.chunks_exact(w).enumerate() {
                copy_short(&mut padded[(self.top + row) * self.pitch + self.left..][..w], src);
            }
        }
    }
}

/// `y = conv(x, w) + bias`, as [`super::forward`].
pub(super) fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let padded = Padded::new(g);
    let by_channels = g.by_channels();
    let (weights, bias) =
        if by_channels { channels::weights(g, w, bias) } else { pixels::weights(g, w, bias, padded.vectors) };
    let out_len = g.out_channels * g.positions();
    in_pieces(g.batch * out_len, FORWARD_IMAGES * out_len, Vec::new, |xp, i, y| {
        let x = &x[i * FORWARD_IMAGES * g.image_len()..][..y.len() / out_len * g.image_len()];
        padded.fill(g, x, xp);
        let images = Images { g, padded: &padded, xp, weights: &weights, bias: &bias, y };
        if by_channels {
            pulp::Arch::new().dispatch(channels::Forward(images));
        } else {
            pulp::Arch::new().dispatch(pixels::Forward(images));
        }
    })
}

/// A group of images' outputs `y` (`[N, O, HO, WO]`) to compute from their padded inputs `xp`,
/// with the weights and bias as the kernel arranged them.
struct Images<'a> {
    g: &'a Geometry,
    padded: &'a Padded,
    xp: &'a [f32],
    weights: &'a [f32],
    bias: &'a [f32],
    y: &'a mut [f32],
}

/// The weight gradient `Σ_images Σ_positions dY · x`, `[O, C, KH, KW]`.
pub(super) fn weight_gradient(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let padded = Padded::new(g);
    let by_channels = g.by_channels();
    let out_len = g.out_channels * g.positions();
    let per = per_thread(g.batch);
    let runs: Vec<_> = x.chunks(per * g.image_len()).zip(dy.chunks(per * out_len)).collect();
    let len = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
    sum_over_runs(runs, len, |(x, dy), sums| {
        let (mut xp, mut grads) = (Vec::new(), Vec::new());
        let groups = x.chunks(GRADIENT_IMAGES * g.image_len()).zip(dy.chunks(GRADIENT_IMAGES * out_len));
        for (x, dy) in groups {
            padded.fill(g, x, &mut xp);
            if by_channels {
                channels::gradient_rows(g, dy, &mut grads);
            } else {
                pixels::gradient_rows(g, dy, &padded, &mut grads);
            }
            let group = Gradients { g, padded: &padded, xp: &xp, grads: &grads, sums: &mut *sums };
            if by_channels {
                pulp::Arch::new().dispatch(channels::WeightSums(group));
            } else {
                pulp::Arch::new().dispatch(pixels::WeightSums(group));
            }
        }
    })
}

/// A group of images' padded inputs `xp` and output gradients `grads`, as the kernel arranged
/// them, whose weight gradient is added into `sums` (`[O, C, KH, KW]`).
struct Gradients<'a> {
    g: &'a Geometry,
    padded: &'a Padded,
    xp: &'a [f32],
    grads: &'a [f32],
    sums: &'a mut [f32],
}
