//! The kernels as a burn backend extension on flex, each with its own autodiff backward.

use crate::conv::{self, Geometry};
use crate::pool;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, DispatchDevice, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Shape, Tensor, TensorData};
use std::sync::Arc;

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
    /// Max pooling of every plane; `plane.batch` is batch times channels.
    fn planes_max_pool(x: FloatTensor<Self>, plane: Geometry) -> FloatTensor<Self>;
}

/// Whether a tensor is `f32` on the flex device (with or without autodiff).
pub fn applies(t: &Tensor<4>) -> bool {
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

/// Max pooling's entry point from the tensor API.
pub fn max_pool(x: Tensor<4>, plane: Geometry) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexKernels>::planes_max_pool(x.into_dispatch(), plane))
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

impl FlexKernels for Flex {
    fn im2col_conv(x: FlexTensor, weight: FlexTensor, conv: Conv) -> FlexTensor {
        let g = &conv.geometry;
        let (x, weight) = (values(&x), values(&weight));
        let (x, weight) = (slice(&x), slice(&weight));
        let [ho, wo] = g.output();
        if conv.transposed {
            let shape = [g.batch, g.in_channels, g.input[0], g.input[1]];
            tensor(conv::transposed_forward(g, x, weight), shape.into())
        } else {
            tensor(conv::forward(g, x, weight), [g.batch, g.out_channels, ho, wo].into())
        }
    }

    fn planes_max_pool(x: FlexTensor, plane: Geometry) -> FlexTensor {
        let shape = pooled_shape(&x, &plane);
        tensor(pool::forward(&plane, slice(&values(&x))).0, shape)
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, Conv);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let dy = values(&grads.consume::<Flex>(&ops.node));
        let (x_state, weight_state, conv) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let weight: FlexTensor = checkpointer.retrieve_node_output(weight_state);
        let (x_shape, weight_shape) = (x.layout().shape().clone(), weight.layout().shape().clone());
        let (x, weight) = (values(&x), values(&weight));
        let gradients = if conv.transposed { conv::transposed_backward } else { conv::backward };
        let (dx, dw) =
            gradients(&conv.geometry, slice(&x), slice(&weight), slice(&dy), node_x.is_some(), node_weight.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, x_shape));
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, tensor(dw, weight_shape));
        }
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
