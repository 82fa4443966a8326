use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which input the network is sized for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputSize {
    /// 224x224 images: 11x11 stride-4 first convolution, 6x6 final map.
    ImageNet,
    /// 28x28 or 32x32 images: 5x5 stride-1 first convolution, 4x4 final map.
    Small,
}

impl InputSize {
    /// Side of the feature map entering the classifier.
    pub fn final_map_size(self) -> usize {
        match self {
            InputSize::ImageNet => 6,
            InputSize::Small => 4,
        }
    }
}

/// Configuration of an [`AlexNet`].
#[derive(Config, Debug)]
pub struct AlexNetConfig {
    /// Which input the network is sized for.
    pub input: InputSize,
    /// Number of output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Channels of the input image (1 for grayscale, 3 for RGB).
    #[config(default = 3)]
    pub in_channels: usize,
    /// Multiplies the width of every convolution (64, 192, 384, 256, 256), rounded, at least 1.
    #[config(default = 1.0)]
    pub width_multiplier: f64,
    /// Units of the two hidden linear layers (4096 in the paper).
    #[config(default = 4096)]
    pub hidden: usize,
    /// Dropout probability before the first two linear layers (0.5 in the paper).
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// One step of torchvision's `features` sequence; only convolutions hold parameters.
#[derive(Clone, Copy)]
enum Step {
    Conv,
    Relu,
    Pool,
}

const FEATURES: [Step; 13] = {
    use Step::*;
    [Conv, Relu, Pool, Conv, Relu, Pool, Conv, Relu, Conv, Relu, Conv, Relu, Pool]
};

/// Positions of the linear layers in torchvision's `classifier` sequence
/// (Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear).
const CLASSIFIER_LINEAR: [usize; 3] = [1, 4, 6];

/// AlexNet. `features` and `classifier` mirror torchvision's `nn.Sequential`s slot for slot:
/// the parameter-free slots (ReLU, pooling, dropout) are `None`, so the parameter paths match.
#[derive(Module, Debug)]
pub struct AlexNet {
    features: Vec<Option<Conv2d>>,
    classifier: Vec<Option<Linear>>,
    dropout: Dropout,
    #[module(skip)]
    input: InputSize,
}

impl AlexNetConfig {
    /// The torchvision network for 224x224 images: 61,100,840 parameters with 1000 classes.
    pub fn imagenet(num_classes: usize, in_channels: usize) -> Self {
        AlexNetConfig::new(InputSize::ImageNet).with_num_classes(num_classes).with_in_channels(in_channels)
    }

    /// The variant for 28x28 and 32x32 images, with 1024-unit hidden layers.
    pub fn small(num_classes: usize, in_channels: usize) -> Self {
        AlexNetConfig::new(InputSize::Small)
            .with_num_classes(num_classes)
            .with_in_channels(in_channels)
            .with_hidden(1024)
    }

    /// Build the network with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If `dropout` lies outside [0, 1) or `width_multiplier` is not positive.
    pub fn init(&self, device: &Device) -> AlexNet {
        assert!((0.0..1.0).contains(&self.dropout), "dropout must lie in [0, 1), got {}", self.dropout);
        assert!(self.width_multiplier > 0.0, "width_multiplier must be positive");
        let width = |c: usize| ((c as f64 * self.width_multiplier).round() as usize).max(1);
        let channels = [self.in_channels, width(64), width(192), width(384), width(256), width(256)];
        // (kernel, stride, padding) of each convolution.
        let shapes = match self.input {
            InputSize::ImageNet => [(11, 4, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)],
            InputSize::Small => [(5, 1, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)],
        };
        // He initialisation (He et al. 2015): with burn's (and PyTorch's) default, every ReLU
        // layer shrinks the signal's variance about six-fold, and through seven of them the
        // logits start so close to zero that training stalls for many epochs.
        let he = Initializer::KaimingNormal { gain: std::f64::consts::SQRT_2, fan_out_only: false };
        let mut convs = (0..5).map(|i| {
            let (k, s, p) = shapes[i];
            Conv2dConfig::new([channels[i], channels[i + 1]], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_initializer(he.clone())
                .init(device)
        });
        let features = FEATURES.iter().map(|step| matches!(step, Step::Conv).then(|| convs.next().unwrap())).collect();

        let side = self.input.final_map_size();
        let sizes = [channels[5] * side * side, self.hidden, self.hidden, self.num_classes];
        let mut linears = (0..3).map(|i| {
            let linear = LinearConfig::new(sizes[i], sizes[i + 1]);
            if i < 2 { linear.with_initializer(he.clone()) } else { linear }.init(device)
        });
        let classifier =
            (0..7).map(|slot| CLASSIFIER_LINEAR.contains(&slot).then(|| linears.next().unwrap())).collect();
        AlexNet { features, classifier, dropout: DropoutConfig::new(self.dropout).init(), input: self.input }
    }
}

impl AlexNet {
    /// Class scores (logits).
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, 224, 224]` (ImageNet; other sizes from 63x63 up work)
    ///   or `[batch, in_channels, 28 or 32, 28 or 32]` (small)
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [fc6, fc7, fc8] = CLASSIFIER_LINEAR.map(|i| self.classifier[i].as_ref().expect("linear slot"));
        let x = self.features(images);
        let x = kernels::relu(fc6.forward(self.dropout.forward(x)));
        let x = kernels::relu(fc7.forward(self.dropout.forward(x)));
        fc8.forward(x)
    }

    /// The flattened output of the convolutional part, after the adaptive average pooling.
    ///
    /// # Shapes
    /// - `images`: as for [`AlexNet::forward`]
    /// - output: `[batch, conv5 channels * side * side]` (side 6 for ImageNet, 4 for small)
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let pool = match self.input {
            InputSize::ImageNet => MaxPoolOptions::new([3, 3]).with_stride([2, 2]),
            // Padded so that 28 and 32 both end at 4x4: 32 -> 16 -> 8 -> 4, 28 -> 14 -> 7 -> 4.
            InputSize::Small => MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]),
        };
        let mut x = images;
        for (step, conv) in FEATURES.iter().zip(&self.features) {
            x = match (step, conv) {
                (Step::Conv, Some(conv)) => kernels::conv(conv, x),
                (Step::Relu, _) => kernels::relu(x),
                (Step::Pool, _) => kernels::max_pool2d(x, pool.clone()),
                (Step::Conv, None) => unreachable!("every Conv slot holds a convolution"),
            };
        }
        let side = self.input.final_map_size();
        adaptive_avg_pool2d(x, [side, side]).flatten(1, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::store::ModuleSnapshot;

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn imagenet_alexnet_has_torchvisions_parameter_count_and_names() {
        let d = device();
        let model = AlexNetConfig::imagenet(1000, 3).init(&d);
        assert_eq!(model.num_params(), 61_100_840);
        let mut names: Vec<String> = model.collect(None, None, false).into_iter().map(|t| t.name).collect();
        names.sort();
        let mut expected: Vec<String> = [0, 3, 6, 8, 10]
            .iter()
            .map(|i| format!("features.{i}"))
            .chain([1, 4, 6].iter().map(|i| format!("classifier.{i}")))
            .flat_map(|layer| [format!("{layer}.weight"), format!("{layer}.bias")])
            .collect();
        expected.sort();
        assert_eq!(names, expected);
    }

    #[test]
    fn output_shapes_for_every_input_size() {
        let d = device();
        let imagenet = AlexNetConfig::imagenet(1000, 3).init(&d);
        assert_eq!(imagenet.forward(Tensor::zeros([1, 3, 224, 224], &d)).dims(), [1, 1000]);
        assert_eq!(imagenet.features(Tensor::zeros([1, 3, 224, 224], &d)).dims(), [1, 9216]);
        for (channels, side) in [(1, 28), (3, 32), (1, 32), (3, 28)] {
            let small = AlexNetConfig::small(10, channels).with_width_multiplier(0.5).init(&d);
            assert_eq!(small.forward(Tensor::zeros([2, channels, side, side], &d)).dims(), [2, 10]);
            assert_eq!(small.features(Tensor::zeros([2, channels, side, side], &d)).dims(), [2, 128 * 16]);
        }
    }

    #[test]
    fn small_variant_counts_and_width_multiplier() {
        let d = device();
        // conv: 3*64*25+64, 64*192*25+192, 192*384*9+384, 384*256*9+256, 256*256*9+256;
        // linear: 4096*1024+1024, 1024*1024+1024, 1024*10+10.
        let convs = (4_864) + (307_392) + (663_936) + (884_992) + (590_080);
        let linears = (4_195_328) + (1_049_600) + (10_250);
        assert_eq!(AlexNetConfig::small(10, 3).init(&d).num_params(), convs + linears);
        let half = AlexNetConfig::small(10, 1).with_width_multiplier(0.5).with_hidden(512).init(&d);
        let expected = (25 * 32 + 32)
            + (32 * 96 * 25 + 96)
            + (96 * 192 * 9 + 192)
            + (192 * 128 * 9 + 128)
            + (128 * 128 * 9 + 128)
            + (2048 * 512 + 512)
            + (512 * 512 + 512)
            + (512 * 10 + 10);
        assert_eq!(half.num_params(), expected);
    }

    #[test]
    fn dropout_acts_only_in_training() {
        let d = device();
        d.seed(1);
        let model = AlexNetConfig::small(10, 1).with_width_multiplier(0.25).with_hidden(64).init(&d);
        let x = Tensor::<4>::ones([2, 1, 28, 28], &d);
        let a: Vec<f32> = model.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let b: Vec<f32> = model.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a, b, "no dropout at inference");
        let ad = d.clone().autodiff();
        let training = AlexNetConfig::small(10, 1).with_width_multiplier(0.25).with_hidden(64).init(&ad);
        let xa = Tensor::<4>::ones([2, 1, 28, 28], &ad);
        let c: Vec<f32> = training.forward(xa.clone()).into_data().try_to_vec::<f32>().unwrap();
        let e: Vec<f32> = training.forward(xa).into_data().try_to_vec::<f32>().unwrap();
        assert_ne!(c, e, "dropout draws new masks while training");
    }
}
