//! The kernels as a burn backend extension on flex, each with its own autodiff backward.

use crate::attention::{self, Heads};
use crate::conv::{self, Geometry};
use crate::norm::{self, Norm, Statistics};
use crate::pointwise::{self, Pointwise};
use crate::pool;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, DispatchDevice, Flex, TensorMetadata, backend_extension, ops::FloatTensorOps,
    tensor::FloatTensor,
};
use burn::tensor::{DType, Shape, Tensor, TensorData};
use std::sync::Arc;

/// How [`FlexKernels::fused_norm`] normalises.
#[derive(Clone, Copy, Debug)]
pub struct NormOptions {
    /// Which values share statistics.
    pub over: Statistics,
    /// Added to the variance before its square root.
    pub epsilon: f64,
    /// The activation applied to the normalised values, if any.
    pub then: Option<Pointwise>,
}

/// Which of the two operations, on which geometry. For a transposed convolution the geometry is
/// that of the convolution it is the adjoint of (its output is the transposed one's input).
#[derive(Clone, Copy, Debug)]
pub struct Conv {
    /// Shapes, strides, padding, dilation.
    pub geometry: Geometry,
    /// A transposed convolution rather than a convolution.
    pub transposed: bool,
}

#[backend_extension(Flex, Autodiff)]
pub trait FlexKernels: Backend {
    /// Convolution or transposed convolution without bias, one group.
    fn im2col_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>, conv: Conv) -> FloatTensor<Self>;
    /// The same with a `[out_channels]` bias, added as each piece of the output is written.
    fn im2col_conv_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        conv: Conv,
    ) -> FloatTensor<Self>;
    /// Max pooling of every plane; `plane.batch` is batch times channels.
    fn planes_max_pool(x: FloatTensor<Self>, plane: Geometry) -> FloatTensor<Self>;
    /// Batch or group normalisation with statistics of the values themselves, followed by the
    /// activation `then` if any: the output, and each set's mean and biased variance
    /// (untracked), which batch norm's running statistics take in.
    fn fused_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        options: NormOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// `(x - mean) · scale + shift` with one `[channels]` value of each per channel: batch
    /// normalisation in inference.
    fn normalize(
        x: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// An element-wise activation.
    fn activation(x: FloatTensor<Self>, f: Pointwise) -> FloatTensor<Self>;
    /// `x + bias` for a `[batch, channels, ...]` `x` and a `[channels]` or `[batch, channels]` bias.
    fn add_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Softmax attention of `[batch, 3 · channels, positions]` queries, keys and values.
    fn attention(qkv: FloatTensor<Self>, heads: Heads) -> FloatTensor<Self>;
}

/// Whether a tensor is `f32` on the flex device (with or without autodiff).
pub fn applies<const D: usize>(t: &Tensor<D>) -> bool {
    matches!(t.device().as_dispatch().clone().inner(), DispatchDevice::Flex(_)) && t.dtype() == DType::F32
}

/// The convolutions' entry point from the tensor API.
pub fn run(x: Tensor<4>, weight: Tensor<4>, conv: Conv) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::im2col_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        conv,
    ))
}

/// The entry point of the convolutions with a bias.
pub fn run_with_bias(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, conv: Conv) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::im2col_conv_bias(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        conv,
    ))
}

/// Max pooling's entry point from the tensor API.
pub fn max_pool(x: Tensor<4>, plane: Geometry) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::planes_max_pool(x.into_dispatch(), plane))
}

/// Batch and group normalisation's entry point: output, and each set's mean and variance.
pub fn fused_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    options: NormOptions,
) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    let (y, mean, variance) = <burn::backend::Dispatch as FlexKernels>::fused_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        options,
    );
    (Tensor::from_dispatch(y), Tensor::from_dispatch(mean), Tensor::from_dispatch(variance))
}

/// Batch normalisation in inference: `(x - mean) · scale + shift` per channel.
pub fn normalize<const D: usize>(x: Tensor<D>, mean: Tensor<1>, scale: Tensor<1>, shift: Tensor<1>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::normalize(
        x.into_dispatch(),
        mean.into_dispatch(),
        scale.into_dispatch(),
        shift.into_dispatch(),
    ))
}

/// The activations' entry point.
pub fn activation<const D: usize>(x: Tensor<D>, f: Pointwise) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::activation(x.into_dispatch(), f))
}

/// The biases' entry point.
pub fn add_bias<const D: usize, const E: usize>(x: Tensor<D>, bias: Tensor<E>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::add_bias(x.into_dispatch(), bias.into_dispatch()))
}

/// Attention's entry point: `[batch, 3 · channels, positions]` to `[batch, channels, positions]`.
pub fn attention(qkv: Tensor<3>, heads: Heads) -> Tensor<3> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::attention(qkv.into_dispatch(), heads))
}

/// A `[batch, channels, ...]` tensor's runs and which of them share statistics.
fn norm_of(x: &FlexTensor, over: Statistics) -> Norm {
    let dims = x.layout().shape();
    Norm { batch: dims[0], channels: dims[1], inner: dims.iter().skip(2).product(), over }
}

/// `[N, C, H, W]` to `[N, C, HO, WO]` by `plane`'s pooling.
fn pooled_shape(x: &FlexTensor, plane: &Geometry) -> Shape {
    let (dims, [ho, wo]) = (x.layout().shape(), plane.output());
    [dims[0], dims[1], ho, wo].into()
}

/// The tensor itself when its values lie in one row-major run, else a row-major copy.
fn values(t: &FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t.clone() } else { t.to_contiguous() }
}

/// The values of a tensor made by [`values`]: the view's own run, not the whole buffer it may
/// share with other views.
fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("an f32 tensor made contiguous by `values`")
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `conv` of `x` by `weight`, plus `bias` if given.
fn convolution(x: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>, conv: &Conv) -> FlexTensor {
    let g = &conv.geometry;
    let (x, weight, bias) = (values(x), values(weight), bias.map(values));
    let (x, weight, bias) = (slice(&x), slice(&weight), bias.as_ref().map(slice));
    let [ho, wo] = g.output();
    if conv.transposed {
        let shape = [g.batch, g.in_channels, g.input[0], g.input[1]];
        tensor(conv::transposed_forward(g, x, weight, bias), shape.into())
    } else {
        tensor(conv::forward(g, x, weight, bias), [g.batch, g.out_channels, ho, wo].into())
    }
}

impl FlexKernels for Flex {
    fn im2col_conv(x: FlexTensor, weight: FlexTensor, conv: Conv) -> FlexTensor {
        convolution(&x, &weight, None, &conv)
    }

    fn im2col_conv_bias(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, conv: Conv) -> FlexTensor {
        convolution(&x, &weight, Some(&bias), &conv)
    }

    fn planes_max_pool(x: FlexTensor, plane: Geometry) -> FlexTensor {
        let shape = pooled_shape(&x, &plane);
        tensor(pool::forward(&plane, slice(&values(&x))).0, shape)
    }

    fn fused_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        options: NormOptions,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (shape, norm) = (x.layout().shape().clone(), norm_of(&x, options.over));
        let (x, gamma, beta) = (values(&x), values(&gamma), values(&beta));
        let f = norm::forward(&norm, slice(&x), slice(&gamma), slice(&beta), options.epsilon, options.then);
        let sets = Shape::from([norm.sets()]);
        (tensor(f.output, shape), tensor(f.mean, sets.clone()), tensor(f.variance, sets))
    }

    fn normalize(x: FlexTensor, mean: FlexTensor, scale: FlexTensor, shift: FlexTensor) -> FlexTensor {
        let (shape, norm) = (x.layout().shape().clone(), norm_of(&x, Statistics::PerChannel));
        let [mean, scale, shift] = [mean, scale, shift].map(|t| values(&t));
        let affine: Vec<(f32, f32, f32)> =
            slice(&mean).iter().zip(slice(&scale)).zip(slice(&shift)).map(|((&m, &s), &b)| (m, s, b)).collect();
        tensor(norm::normalize(&norm, slice(&values(&x)), &affine), shape)
    }

    fn activation(x: FlexTensor, f: Pointwise) -> FlexTensor {
        let shape = x.layout().shape().clone();
        tensor(pointwise::forward(f, slice(&values(&x))), shape)
    }

    fn add_bias(x: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let (shape, norm) = (x.layout().shape().clone(), norm_of(&x, Statistics::PerChannel));
        tensor(norm::add_bias(&norm, slice(&values(&x)), slice(&values(&bias))), shape)
    }

    fn attention(qkv: FlexTensor, heads: Heads) -> FlexTensor {
        let shape = [heads.batch, heads.channels, heads.positions];
        tensor(attention::forward(&heads, slice(&values(&qkv))), shape.into())
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, Conv);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = values(&grads.consume::<Flex>(&ops.node));
        let [x, weight] = ops.parents.map(|node| node.map(|node| node.id));
        convolution_gradients([x, weight], ops.state, &dy, grads, checkpointer);
    }
}

#[derive(Debug)]
struct ConvBiasBackward;

impl Backward<Flex, 3> for ConvBiasBackward {
    type State = (NodeId, NodeId, Conv);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let dy = values(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_bias {
            // `dy` is `[batch, channels, ...]` for the channels the bias was added to.
            let norm = norm_of(&dy, Statistics::PerChannel);
            let db = norm::bias_gradient(&norm, slice(&dy), norm.channels);
            grads.register::<Flex>(node.id, tensor(db, [norm.channels].into()));
        }
        let [x, weight] = [node_x, node_weight].map(|node| node.map(|node| node.id));
        convolution_gradients([x, weight], ops.state, &dy, grads, checkpointer);
    }
}

/// Registers the gradients of a convolution's input and weight that are asked for, given `dy`.
fn convolution_gradients(
    [node_x, node_weight]: [Option<NodeId>; 2],
    (x_state, weight_state, conv): (NodeId, NodeId, Conv),
    dy: &FlexTensor,
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
) {
    let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
    let weight: FlexTensor = checkpointer.retrieve_node_output(weight_state);
    let (x_shape, weight_shape) = (x.layout().shape().clone(), weight.layout().shape().clone());
    let (x, weight) = (values(&x), values(&weight));
    let gradients = if conv.transposed { conv::transposed_backward } else { conv::backward };
    let (dx, dw) =
        gradients(&conv.geometry, slice(&x), slice(&weight), slice(dy), node_x.is_some(), node_weight.is_some());
    if let (Some(node), Some(dx)) = (node_x, dx) {
        grads.register::<Flex>(node, tensor(dx, x_shape));
    }
    if let (Some(node), Some(dw)) = (node_weight, dw) {
        grads.register::<Flex>(node, tensor(dw, weight_shape));
    }
}

impl<C: CheckpointStrategy> FlexKernels for Autodiff<Flex, C> {
    fn im2col_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>, conv: Conv) -> FloatTensor<Self> {
        match ConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = Flex::im2col_conv(x.into_primitive(), weight.into_primitive(), conv);
                prep.finish((x_state, weight_state, conv), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::im2col_conv(x.into_primitive(), weight.into_primitive(), conv))
            }
        }
    }

    fn im2col_conv_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        conv: Conv,
    ) -> FloatTensor<Self> {
        match ConvBiasBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y =
                    Flex::im2col_conv_bias(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), conv);
                prep.finish((x_state, weight_state, conv), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::im2col_conv_bias(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                conv,
            )),
        }
    }

    fn planes_max_pool(x: FloatTensor<Self>, plane: Geometry) -> FloatTensor<Self> {
        match MaxPoolBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let shape = pooled_shape(x.primitive(), &plane);
                let (y, winners) = pool::forward(&plane, slice(&values(x.primitive())));
                prep.finish((Arc::new(winners), plane), tensor(y, shape))
            }
            // Nothing will ask for the gradient: the plain forward, which keeps no winners.
            OpsKind::UnTracked(prep) => prep.finish(Flex::planes_max_pool(x.into_primitive(), plane)),
        }
    }

    fn fused_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        options: NormOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let statistic = <Self as AutodiffBackend>::from_inner;
        match NormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let [gamma_values, beta_values] = [&gamma, &beta].map(|t| slice(&values(t.primitive())).to_vec());
                let (y, mean, variance) =
                    Flex::fused_norm(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), options);
                let saved = NormState {
                    gamma: gamma_values,
                    beta: beta_values,
                    mean: slice(&mean).to_vec(),
                    variance: slice(&variance).to_vec(),
                    options,
                };
                (prep.finish((x_state, Arc::new(saved)), y), statistic(mean), statistic(variance))
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, variance) =
                    Flex::fused_norm(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), options);
                (prep.finish(y), statistic(mean), statistic(variance))
            }
        }
    }

    /// Composed of burn's operations, which autodiff differentiates; the models call the fused
    /// kernel only on devices without autodiff.
    fn normalize(
        x: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let mut per_channel = vec![1; x.shape().num_dims()];
        per_channel[1] = mean.shape()[0];
        let [mean, scale, shift] = [mean, scale, shift].map(|t| Self::float_reshape(t, per_channel.clone().into()));
        Self::float_add(Self::float_mul(Self::float_sub(x, mean), scale), shift)
    }

    fn activation(x: FloatTensor<Self>, f: Pointwise) -> FloatTensor<Self> {
        match ActivationBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                if f == Pointwise::Relu {
                    let y = Flex::activation(x.into_primitive(), f);
                    return prep.finish(Derivative::FromOutput(y.clone()), y);
                }
                let shape = x.primitive().layout().shape().clone();
                let (y, derivative) = pointwise::forward_with_derivative(f, slice(&values(x.primitive())));
                prep.finish(Derivative::Stored(Arc::new(derivative)), tensor(y, shape))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::activation(x.into_primitive(), f)),
        }
    }

    fn add_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let norm = norm_of(x.primitive(), Statistics::PerChannel);
        let bias_shape = bias.primitive().layout().shape().clone();
        match BiasBackward.prepare::<C>([x.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish((norm, bias_shape), Flex::add_bias(x.into_primitive(), bias.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::add_bias(x.into_primitive(), bias.into_primitive())),
        }
    }

    fn attention(qkv: FloatTensor<Self>, heads: Heads) -> FloatTensor<Self> {
        match AttentionBackward.prepare::<C>([qkv.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let qkv_state = prep.checkpoint(&qkv);
                prep.finish((qkv_state, heads), Flex::attention(qkv.into_primitive(), heads))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::attention(qkv.into_primitive(), heads)),
        }
    }
}

/// What the normalisations' backward pass needs besides its input.
#[derive(Debug)]
struct NormState {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    mean: Vec<f32>,
    variance: Vec<f32>,
    options: NormOptions,
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = (NodeId, Arc<NormState>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = values(&grads.consume::<Flex>(&ops.node));
        let (x_state, saved) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let (shape, norm) = (x.layout().shape().clone(), norm_of(&x, saved.options.over));
        let x = values(&x);
        let (dx, dgamma, dbeta) = norm::backward(
            &norm,
            slice(&x),
            slice(&dy),
            &saved.gamma,
            &saved.beta,
            &saved.mean,
            &saved.variance,
            saved.options.epsilon,
            saved.options.then,
        );
        let channels = Shape::from([norm.channels]);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, channels.clone()));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, channels));
        }
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// The offset of each output's maximum in its plane, and the pooling.
    type State = (Arc<Vec<u32>>, Geometry);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = values(&grads.consume::<Flex>(&ops.node));
        let (winners, plane) = ops.state;
        if let Some(node) = node_x {
            let shape = dy.layout().shape();
            let (batch, channels) = (shape[0], shape[1]);
            let dx = pool::backward(&plane, &winners, slice(&dy));
            grads.register::<Flex>(node.id, tensor(dx, [batch, channels, plane.input[0], plane.input[1]].into()));
        }
    }
}

#[derive(Debug)]
struct ActivationBackward;

/// Where an activation's backward pass finds its derivative.
#[derive(Clone, Debug)]
enum Derivative {
    /// Written by the forward pass, one per input.
    Stored(Arc<Vec<f32>>),
    /// ReLU's output (a view of the same buffer), whose sign gives it.
    FromOutput(FlexTensor),
}

impl Backward<Flex, 1> for ActivationBackward {
    type State = Derivative;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = values(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_x {
            let shape = dy.layout().shape().clone();
            let dx = match &ops.state {
                Derivative::Stored(derivative) => pointwise::backward(derivative, slice(&dy)),
                Derivative::FromOutput(y) => pointwise::relu_backward(slice(y), slice(&dy)),
            };
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
    }
}

#[derive(Debug)]
struct BiasBackward;

impl Backward<Flex, 2> for BiasBackward {
    /// The input's runs, and the bias's shape.
    type State = (Norm, Shape);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_bias] = ops.parents;
        let dy = values(&grads.consume::<Flex>(&ops.node));
        let (norm, bias_shape) = &ops.state;
        if let Some(node) = node_bias {
            let db = norm::bias_gradient(norm, slice(&dy), bias_shape.num_elements());
            grads.register::<Flex>(node.id, tensor(db, bias_shape.clone()));
        }
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, dy);
        }
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    /// The queries, keys and values, and the shape; the weights are computed again.
    type State = (NodeId, Heads);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_qkv] = ops.parents;
        let dout = values(&grads.consume::<Flex>(&ops.node));
        let (qkv_state, heads) = ops.state;
        let qkv: FlexTensor = checkpointer.retrieve_node_output(qkv_state);
        if let Some(node) = node_qkv {
            let shape = qkv.layout().shape().clone();
            let dqkv = attention::backward(&heads, slice(&values(&qkv)), slice(&dout));
            grads.register::<Flex>(node.id, tensor(dqkv, shape));
        }
    }
}
