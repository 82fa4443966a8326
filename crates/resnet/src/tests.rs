use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor};

use crate::block::{BasicBlock, BlockOptions};
use crate::{ResNetConfig, Shortcut};

fn device() -> Device {
    Device::flex()
}

/// Learned parameters, as papers and torchvision count them: burn also counts batch norm's
/// running mean and variance.
fn trainable(model: &impl ModuleSnapshot) -> usize {
    let tensors = model.collect(None, None, false);
    let learned = tensors.iter().filter(|t| !t.name.ends_with("running_mean") && !t.name.ends_with("running_var"));
    learned.map(|t| t.shape.iter().product::<usize>()).sum()
}

#[test]
fn parameter_counts_match_the_published_ones() {
    let d = device();
    let count = |config: ResNetConfig| trainable(&config.init(&d));
    assert_eq!(count(ResNetConfig::resnet18(1000, 3)), 11_689_512);
    assert_eq!(count(ResNetConfig::resnet34(1000, 3)), 21_797_672);
    assert_eq!(count(ResNetConfig::resnet50(1000, 3)), 25_557_032);
    assert_eq!(count(ResNetConfig::cifar_resnet18(10, 3)), 11_173_962);
    assert_eq!(count(ResNetConfig::resnet20(10, 3)), 269_722);
    assert_eq!(count(ResNetConfig::resnet32(10, 3)), 464_154);
    assert_eq!(count(ResNetConfig::resnet44(10, 3)), 658_586);
    assert_eq!(count(ResNetConfig::resnet56(10, 3)), 853_018);
    assert_eq!(count(ResNetConfig::resnet110(10, 3)), 1_727_962);
}

#[test]
fn depth_is_counted_as_in_the_paper() {
    let depths: Vec<usize> = [
        ResNetConfig::resnet18(10, 3),
        ResNetConfig::resnet34(10, 3),
        ResNetConfig::resnet50(10, 3),
        ResNetConfig::resnet20(10, 3),
        ResNetConfig::resnet110(10, 3),
    ]
    .iter()
    .map(ResNetConfig::depth)
    .collect();
    assert_eq!(depths, vec![18, 34, 50, 20, 110]);
}

#[test]
fn cifar_networks_take_28_and_32_pixel_images_with_1_or_3_channels() {
    let d = device();
    for depth in [20, 32, 44, 56, 110] {
        for (channels, side) in [(1, 28), (3, 32)] {
            let model = ResNetConfig::cifar(depth, 10, channels).init(&d);
            assert_eq!(model.forward(Tensor::zeros([2, channels, side, side], &d)).dims(), [2, 10]);
        }
    }
    let model = ResNetConfig::resnet20(7, 1).init(&d);
    assert_eq!(model.features(Tensor::zeros([3, 1, 28, 28], &d)).dims(), [3, 64]);
    let model = ResNetConfig::cifar_resnet18(100, 1).init(&d);
    assert_eq!(model.forward(Tensor::zeros([2, 1, 28, 28], &d)).dims(), [2, 100]);
    assert_eq!(model.features(Tensor::zeros([1, 1, 32, 32], &d)).dims(), [1, 512]);
}

#[test]
fn imagenet_networks_take_224_pixel_images_and_smaller() {
    let d = device();
    for config in [ResNetConfig::resnet18(1000, 3), ResNetConfig::resnet34(5, 1), ResNetConfig::resnet50(1000, 3)] {
        let model = config.init(&d);
        assert_eq!(model.forward(Tensor::zeros([1, config.in_channels, 224, 224], &d)).dims(), [1, config.num_classes]);
        assert_eq!(model.forward(Tensor::zeros([2, config.in_channels, 64, 64], &d)).dims(), [2, config.num_classes]);
    }
    let model = ResNetConfig::resnet50(10, 3).init(&d);
    assert_eq!(model.features(Tensor::zeros([1, 3, 64, 64], &d)).dims(), [1, 2048]);
}

#[test]
fn plain_networks_have_no_shortcut_and_behave_differently() {
    let d = device();
    d.seed(3);
    let residual = ResNetConfig::resnet20(10, 3).with_shortcut(Shortcut::Projection).init(&d);
    let plain = ResNetConfig::resnet20(10, 3).with_shortcut(Shortcut::None).init(&d);
    // Projection shortcuts add two 1x1 convolutions with batch norm (16->32, 32->64); plain has none.
    let projection_extra = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64);
    assert_eq!(trainable(&residual), 269_722 + projection_extra);
    assert_eq!(trainable(&plain), 269_722);
    assert!(
        !plain.collect(None, None, false).iter().any(|t| t.name.contains("downsample")),
        "a plain net has no shortcut weights"
    );
    // Same weights, shortcut on or off: the outputs differ, so the wiring is really different.
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &d);
    let identity = ResNetConfig::resnet20(10, 3).init(&d);
    let plain_same = ResNetConfig::resnet20(10, 3)
        .with_shortcut(Shortcut::None)
        .init(&d)
        .load_record(identity.clone().into_record());
    let a: Vec<f32> = identity.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = plain_same.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert!(a.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-4));
}

/// Sets every weight and bias to zero.
struct Zero;

impl burn::module::ModuleMapper for Zero {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        param.map(|t| t.zeros_like())
    }
}

fn values(x: Tensor<4>) -> Vec<f32> {
    x.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn with_a_silent_residual_branch_the_shortcut_alone_decides_the_output() {
    // Zero weights and no batch norm: each convolution outputs 0, so a block computes
    // relu(0 + shortcut(x)), which shows the wiring of each kind of shortcut.
    let d = device();
    let opts = |shortcut| BlockOptions { shortcut, skip_span: 2, batch_norm: false };
    let x = Tensor::<4>::random([1, 2, 4, 4], burn::tensor::Distribution::Uniform(0.1, 1.0), &d);

    let identity = BasicBlock::new([2, 2], 1, opts(Shortcut::Identity), 0.0, &d).map(&mut Zero);
    assert_eq!(values(identity.forward(x.clone())), values(x.clone()));

    let plain = BasicBlock::new([2, 2], 1, opts(Shortcut::None), 0.0, &d).map(&mut Zero);
    assert!(values(plain.forward(x.clone())).iter().all(|&v| v == 0.0));

    // Option A: stride-2 subsampling, then zero channels.
    let option_a = BasicBlock::new([2, 3], 2, opts(Shortcut::Identity), 0.0, &d).map(&mut Zero);
    let out = option_a.forward(x.clone());
    assert_eq!(out.dims(), [1, 3, 2, 2]);
    let (out, input) = (values(out), values(x.clone()));
    assert_eq!(out[0], input[0]); // pixel (0, 0) of channel 0
    assert_eq!(out[1], input[2]); // pixel (0, 2)
    assert_eq!(out[2], input[8]); // pixel (2, 0)
    assert!(out[8..].iter().all(|&v| v == 0.0), "the padded channel is zero");

    // Span 1 composes two identity shortcuts: still the input.
    let span_one = BasicBlock::new([2, 2], 1, BlockOptions { skip_span: 1, ..opts(Shortcut::Identity) }, 0.0, &d);
    assert_eq!(values(span_one.map(&mut Zero).forward(x.clone())), values(x));
}

#[test]
fn span_one_puts_a_shortcut_around_every_convolution() {
    let d = device();
    let opts = BlockOptions { shortcut: Shortcut::Identity, skip_span: 1, batch_norm: false };
    // Zero only the second convolution: span 2 would give relu(x), span 1 gives
    // relu(h) = h with h = relu(conv1(x) + x), which differs from x.
    let block = BasicBlock::new([2, 2], 1, opts, 0.0, &d);
    let x = Tensor::<4>::random([1, 2, 4, 4], burn::tensor::Distribution::Uniform(0.1, 1.0), &d);
    let h = burn::tensor::activation::relu(block.conv1.forward(x.clone()) + x.clone());
    let mut zero_second = block;
    zero_second.conv2 = zero_second.conv2.map(&mut Zero);
    let out = values(zero_second.forward(x.clone()));
    assert_eq!(out, values(h));
    assert_ne!(out, values(x));
}

#[test]
fn stochastic_depth_is_random_in_training_and_deterministic_at_inference() {
    let d = device();
    d.seed(7);
    let config = ResNetConfig::resnet20(10, 1).with_stochastic_depth(0.5);
    let x = Tensor::<4>::random([4, 1, 28, 28], burn::tensor::Distribution::Default, &d);
    // Training device: masks differ from call to call.
    let ad = d.clone().autodiff();
    let model = config.init(&ad);
    let xa = x.clone().to_device(&ad);
    assert_ne!(values4(model.forward(xa.clone())), values4(model.forward(xa)));
    // `valid()` (inference): the same output every time.
    let frozen = model.valid();
    assert_eq!(values4(frozen.forward(x.clone())), values4(frozen.forward(x)));
}

fn values4(x: Tensor<2>) -> Vec<f32> {
    x.into_data().try_to_vec::<f32>().unwrap()
}
