//! Convolutions whose kernel covers the whole unpadded input, as in a DCGAN's projection of z and
//! its discriminator's last layer: one output position per image, so each image's column matrix
//! is the image itself and the convolution is a fully connected layer, one GEMM for the batch.

use super::{Geometry, add_bias};
use crate::gemm::{Mat, matmul};

impl Geometry {
    /// Whether the kernel covers the whole unpadded input (the stride then does not matter).
    pub(super) fn is_dense(&self) -> bool {
        self.kernel == self.input && self.padding == [(0, 0), (0, 0)] && self.dilation == [1, 1]
    }
}

/// `y = X · Wᵀ + bias`, `[N, O]`.
pub(super) fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (x, w) = (Mat::new(x, g.batch, g.patch_len()), Mat::new(w, g.out_channels, g.patch_len()));
    let mut y = vec![0.0; g.batch * g.out_channels];
    matmul(x, w.t(), &mut y, false, 0);
    add_bias(&mut y, bias, 1);
    y
}

/// `dx = dY · W`, `[N, patch]`, plus `bias` per input channel for a transposed convolution.
pub(super) fn input_gradient(g: &Geometry, w: &[f32], dy: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let w = Mat::new(w, g.out_channels, g.patch_len());
    let mut dx = vec![0.0; g.batch * g.patch_len()];
    matmul(Mat::new(dy, g.batch, g.out_channels), w, &mut dx, false, 0);
    add_bias(&mut dx, bias, g.input[0] * g.input[1]);
    dx
}

/// `dw = dYᵀ · X`, `[O, patch]`; the GEMM's threads split the output, never the sum over images,
/// so the result does not depend on their number.
pub(super) fn weight_gradient(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let x = Mat::new(x, g.batch, g.patch_len());
    let mut dw = vec![0.0; g.out_channels * g.patch_len()];
    matmul(Mat::new(dy, g.batch, g.out_channels).t(), x, &mut dw, false, 0);
    dw
}
