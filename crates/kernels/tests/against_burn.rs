//! `kernels::conv2d`, `kernels::conv_transpose2d`, `kernels::max_pool2d`, `kernels::batch_norm`,
//! `kernels::batch_norm_then`, `kernels::group_norm`, `kernels::group_norm_then`,
//! `kernels::add_sample_bias`, `kernels::relu`, `kernels::silu`, `kernels::leaky_relu` and
//! `kernels::attention` on flex against burn's own operations:
//! outputs and every gradient.

use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig};
use burn::tensor::module;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{Device, Distribution, Tensor};
use kernels::pointwise::Pointwise;

/// Largest difference relative to the largest magnitude of `want`.
fn relative_error<const D: usize>(got: Tensor<D>, want: Tensor<D>) -> f32 {
    let scale = want.clone().abs().max().into_scalar::<f32>();
    (got - want).abs().max().into_scalar::<f32>() / scale
}

fn check(x: [usize; 4], w: [usize; 4], options: ConvOptions<2>, bias: bool) {
    let device = Device::flex().autodiff();
    let xs: Tensor<4> = Tensor::random(x, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let ws: Tensor<4> = Tensor::random(w, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let bs = bias.then(|| Tensor::<1>::random([w[0]], Distribution::Normal(0.0, 1.0), &device).require_grad());

    let want = module::conv2d(xs.clone(), ws.clone(), bs.clone(), options.clone());
    // A non-uniform output gradient, so that a wrong index cannot cancel out.
    let dy = want.clone().detach().sin();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = kernels::conv2d(xs.clone(), ws.clone(), bs.clone(), options.clone());
    assert_eq!(got.dims(), want.dims(), "{x:?} * {w:?}, {options:?}");
    let got_grads = (got.clone() * dy).sum().backward();

    let what = format!("{x:?} * {w:?}, {options:?}");
    assert!(relative_error(got, want) < 1e-5, "output of {what}");
    let dx = relative_error(xs.grad(&got_grads).unwrap(), xs.grad(&want_grads).unwrap());
    assert!(dx < 1e-5, "input gradient of {what}: {dx}");
    let dw = relative_error(ws.grad(&got_grads).unwrap(), ws.grad(&want_grads).unwrap());
    assert!(dw < 1e-5, "weight gradient of {what}: {dw}");
    if let Some(bs) = bs {
        let db = relative_error(bs.grad(&got_grads).unwrap(), bs.grad(&want_grads).unwrap());
        assert!(db < 1e-5, "bias gradient of {what}: {db}");
    }
}

#[test]
fn matches_burn_on_the_models_shapes() {
    // ResNet's 3x3 (same, and stride 2) and 1x1 shortcut; LeNet-5's two convolutions are among
    // `direct_kernels_of_few_channels`.
    check([3, 16, 16, 16], [16, 16, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), false);
    check([3, 16, 16, 16], [32, 16, 3, 3], ConvOptions::new([2, 2], [1, 1], [1, 1], 1), false);
    check([3, 16, 16, 16], [32, 16, 1, 1], ConvOptions::new([2, 2], [0, 0], [1, 1], 1), false);
    // The UNet's 3x3 with a bias, large enough that the bias is added and summed on the threads.
    check([8, 3, 28, 28], [16, 3, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), true);
}

#[test]
fn matches_burn_on_odd_geometry() {
    // Non-square kernel and input, stride 3 with an uneven remainder, dilation, odd padding.
    check([2, 3, 13, 10], [5, 3, 3, 2], ConvOptions::new([3, 2], [2, 1], [1, 1], 1), true);
    check([2, 2, 11, 11], [4, 2, 3, 3], ConvOptions::new([1, 1], [2, 2], [2, 2], 1), true);
    // Padding wider than the kernel reach: whole output rows read only zeros.
    check([1, 2, 5, 5], [3, 2, 3, 3], ConvOptions::new([1, 1], [3, 3], [1, 1], 1), true);
    // As wide as the input but not as tall (padding across only), 1x1, and a 5x5 "same" kernel
    // on a narrow image: each column-matrix row is a shifted copy of its channel.
    check([2, 3, 9, 6], [4, 3, 3, 3], ConvOptions::new([1, 1], [0, 1], [1, 1], 1), true);
    check([2, 5, 4, 4], [3, 5, 1, 1], ConvOptions::new([1, 1], [0, 0], [1, 1], 1), false);
    check([2, 3, 16, 16], [4, 3, 1, 1], ConvOptions::new([1, 1], [0, 0], [1, 1], 1), true);
    check([3, 2, 6, 3], [2, 2, 5, 5], ConvOptions::new([1, 1], [2, 2], [1, 1], 1), true);
    // Unpadded at stride 1 (LeNet-5's conv2 path), with output rows shorter than a vector and
    // longer than one.
    check([2, 3, 7, 9], [4, 3, 2, 4], ConvOptions::new([1, 1], [0, 0], [1, 1], 1), true);
    check([3, 2, 9, 21], [3, 2, 3, 5], ConvOptions::new([1, 1], [0, 0], [1, 1], 1), true);
    // 1x1 and 2x2 images (a deep stage of a small input), where whole rows read padding.
    check([2, 3, 1, 1], [4, 3, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), true);
    check([2, 3, 2, 2], [4, 3, 5, 5], ConvOptions::new([1, 1], [2, 2], [1, 1], 1), true);
    // Winograd's 3x3 path: odd sides (tiles cut off at the edge), and a 4x4 image with many
    // channels, which it takes for the channels.
    check([2, 3, 17, 19], [5, 3, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), true);
    check([2, 128, 4, 4], [128, 128, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), false);
}

/// The direct kernels of few channels (with AVX-512; im2col elsewhere): 16 output channels take
/// the kernel with the channels side by side, with rows that its tiles overlap (13) or fill
/// (20); other counts put a row's positions side by side, in one vector or two.
#[test]
fn direct_kernels_of_few_channels() {
    let padded = |p| ConvOptions::new([1, 1], [p, p], [1, 1], 1);
    check([2, 3, 13, 13], [16, 3, 3, 3], padded(1), true);
    check([2, 4, 9, 20], [16, 4, 3, 3], padded(1), true);
    check([3, 5, 12, 12], [8, 5, 5, 5], padded(2), true);
    check([2, 1, 28, 28], [8, 1, 5, 5], padded(2), false);
    check([2, 2, 7, 30], [5, 2, 5, 5], ConvOptions::new([1, 1], [1, 0], [1, 1], 1), true);
    check([2, 6, 5, 6], [3, 6, 3, 3], padded(0), true);
    // LeNet-5's two convolutions.
    check([4, 1, 28, 28], [6, 1, 5, 5], padded(2), true);
    check([4, 6, 14, 14], [16, 6, 5, 5], padded(0), true);
}

#[test]
fn gradient_to_one_side_only() {
    let device = Device::flex().autodiff();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let x: Tensor<4> = Tensor::random([2, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let w: Tensor<4> = Tensor::random([4, 3, 3, 3], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let grads = kernels::conv2d(x.clone(), w.clone(), None, options.clone()).sum().backward();
    let want = module::conv2d(x.clone(), w.clone(), None, options.clone()).sum().backward();
    assert!(x.grad(&grads).is_none());
    assert!(relative_error(w.grad(&grads).unwrap(), w.grad(&want).unwrap()) < 1e-5);
}

#[test]
fn grouped_and_other_devices_fall_back_to_burn() {
    let device = Device::flex();
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 2);
    let x: Tensor<4> = Tensor::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let w: Tensor<4> = Tensor::random([6, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let got = kernels::conv2d(x.clone(), w.clone(), None, options.clone());
    let want = module::conv2d(x, w, None, options);
    assert_eq!(got.into_data(), want.into_data());
}

fn check_transposed(x: [usize; 4], w: [usize; 4], options: ConvTransposeOptions<2>) {
    let device = Device::flex().autodiff();
    let xs: Tensor<4> = Tensor::random(x, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let ws: Tensor<4> = Tensor::random(w, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let bs = Tensor::<1>::random([w[1]], Distribution::Normal(0.0, 1.0), &device).require_grad();

    let want = module::conv_transpose2d(xs.clone(), ws.clone(), Some(bs.clone()), options.clone());
    let dy = want.clone().detach().cos();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = kernels::conv_transpose2d(xs.clone(), ws.clone(), Some(bs.clone()), options.clone());
    let what = format!("{x:?} ^T {w:?}, {options:?}");
    assert_eq!(got.dims(), want.dims(), "{what}");
    let got_grads = (got.clone() * dy).sum().backward();

    assert!(relative_error(got, want) < 1e-5, "output of {what}");
    for (name, got, want) in
        [("input", xs.grad(&got_grads), xs.grad(&want_grads)), ("weight", ws.grad(&got_grads), ws.grad(&want_grads))]
    {
        let error = relative_error(got.unwrap(), want.unwrap());
        assert!(error < 1e-5, "{name} gradient of {what}: {error}");
    }
    let db = relative_error(bs.grad(&got_grads).unwrap(), bs.grad(&want_grads).unwrap());
    assert!(db < 1e-5, "bias gradient of {what}: {db}");
}

#[test]
fn strided_convolutions_read_stride_phases() {
    // Sides divisible by the stride and an output as wide as a phase: DCGAN's discriminator
    // (kernel 4, stride 2, padding 1), a 5x5 kernel reaching two pixels past the edge, uneven
    // strides with padding down only, and stride 3 without padding.
    check([2, 3, 14, 14], [4, 3, 4, 4], ConvOptions::new([2, 2], [1, 1], [1, 1], 1), true);
    check([2, 3, 8, 8], [4, 3, 5, 5], ConvOptions::new([2, 2], [2, 2], [1, 1], 1), true);
    check([2, 2, 6, 9], [3, 2, 3, 3], ConvOptions::new([2, 3], [1, 0], [1, 1], 1), true);
    check([2, 2, 9, 9], [3, 2, 3, 3], ConvOptions::new([3, 3], [0, 0], [1, 1], 1), false);
    // An odd side takes the row-by-row path.
    check([2, 2, 7, 7], [3, 2, 3, 3], ConvOptions::new([2, 2], [1, 1], [1, 1], 1), false);
    // DCGAN's generator at its real sizes (7x7 to 14x14).
    check_transposed([2, 6, 7, 7], [6, 3, 4, 4], ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1));
}

#[test]
fn weight_gradients_of_small_images() {
    // Under 64 output positions the weight gradient is summed channel-major: DCGAN's
    // discriminator at 14x14 to 7x7, its generator back, and a 4x4 stage.
    check([2, 8, 14, 14], [64, 8, 4, 4], ConvOptions::new([2, 2], [1, 1], [1, 1], 1), true);
    check_transposed([2, 64, 7, 7], [64, 3, 4, 4], ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1));
    check([2, 16, 4, 4], [80, 16, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), false);
}

#[test]
fn small_images_grouped_into_one_product() {
    // Small images are unfolded side by side, several to a GEMM: 13 images make groups of
    // different sizes on any number of threads (one or two runs, each ending in a shorter group),
    // through the phase-shift unfolding, the general one and the transposed convolution's
    // weight gradient, which also computes its input gradient from the same groups. At stride 1
    // a group's images lie end to end, so that a shift reads the next image where the current
    // one's padding is: 3x3 "same", and 1x1, whose groups are their own column matrix.
    check([13, 4, 14, 14], [8, 4, 4, 4], ConvOptions::new([2, 2], [1, 1], [1, 1], 1), true);
    check([13, 3, 6, 6], [4, 3, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1), true);
    check([13, 6, 5, 5], [4, 6, 1, 1], ConvOptions::new([1, 1], [0, 0], [1, 1], 1), true);
    check([13, 3, 9, 9], [5, 3, 3, 3], ConvOptions::new([2, 2], [0, 0], [1, 1], 1), true);
    check_transposed([13, 8, 7, 7], [8, 4, 4, 4], ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1));
}

#[test]
fn kernels_that_cover_the_whole_input_are_fully_connected() {
    // A DCGAN discriminator's last layer and its generator's projection of z.
    check([5, 8, 7, 7], [1, 8, 7, 7], ConvOptions::new([1, 1], [0, 0], [1, 1], 1), true);
    check_transposed([5, 10, 1, 1], [10, 6, 7, 7], ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1));
}

#[test]
fn transposed_matches_burn() {
    // DCGAN's projection (1x1 to 4x4) and its upsampling layers (kernel 4, stride 2, padding 1).
    check_transposed([3, 8, 1, 1], [8, 6, 4, 4], ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1));
    check_transposed([3, 6, 4, 4], [6, 5, 4, 4], ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1));
    // Output padding, uneven strides, dilation.
    check_transposed([2, 3, 5, 4], [3, 4, 3, 3], ConvTransposeOptions::new([2, 3], [1, 0], [1, 2], [1, 1], 1));
    check_transposed([2, 3, 5, 5], [3, 2, 3, 3], ConvTransposeOptions::new([1, 1], [2, 2], [0, 0], [2, 2], 1));
}

#[test]
fn inputs_that_are_views_into_a_larger_buffer() {
    // A batch sliced out of a larger one is contiguous but starts inside its buffer.
    let device = Device::flex();
    let whole: Tensor<4> = Tensor::random([6, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let x = whole.narrow(0, 2, 2);
    let w: Tensor<4> = Tensor::random([4, 3, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let want = module::conv2d(x.clone(), w.clone(), None, options.clone());
    assert!(relative_error(kernels::conv2d(x.clone(), w.clone(), None, options), want) < 1e-5);

    let up = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    let wt: Tensor<4> = Tensor::random([3, 2, 4, 4], Distribution::Normal(0.0, 1.0), &device);
    let want = module::conv_transpose2d(x.clone(), wt.clone(), None, up.clone());
    assert!(relative_error(kernels::conv_transpose2d(x, wt, None, up), want) < 1e-5);
}

fn check_pool(x: [usize; 4], options: MaxPoolOptions<2>) {
    let device = Device::flex().autodiff();
    let xs: Tensor<4> = Tensor::random(x, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let want = module::max_pool2d(xs.clone(), options.clone());
    let dy = want.clone().detach().sin();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = kernels::max_pool2d(xs.clone(), options.clone());
    assert_eq!(got.dims(), want.dims(), "{x:?}, {options:?}");
    let got_grads = (got.clone() * dy).sum().backward();
    // Maxima are copies, and each gradient lands on one input: both are exact.
    assert_eq!(got.into_data(), want.into_data(), "output of {x:?}, {options:?}");
    let (got, want) = (xs.grad(&got_grads).unwrap(), xs.grad(&want_grads).unwrap());
    assert!(relative_error(got, want) < 1e-6, "input gradient of {x:?}, {options:?}");
}

#[test]
fn max_pool_matches_burn() {
    // LeNet-5's 2x2, AlexNet's overlapping 3x3 stride 2, ResNet's stem (3x3, stride 2, pad 1).
    check_pool([4, 6, 28, 28], MaxPoolOptions::new([2, 2]));
    check_pool([2, 3, 9, 7], MaxPoolOptions::new([2, 2]));
    check_pool([2, 8, 27, 27], MaxPoolOptions::new([3, 3]).with_stride([2, 2]));
    check_pool([2, 4, 16, 16], MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]));
    // Odd sizes, uneven strides, dilation, asymmetric padding; ceil mode goes to burn.
    check_pool([2, 3, 11, 9], MaxPoolOptions::new([3, 2]).with_stride([2, 3]).with_dilation([2, 1]));
    check_pool([1, 2, 7, 7], MaxPoolOptions::new([2, 2]).with_padding_pairs([(1, 0), (0, 1)]));
    check_pool([1, 2, 7, 7], MaxPoolOptions::new([2, 2]).with_ceil_mode(true));
}

/// burn's own activation `f` of `x`.
fn burn_activation<const D: usize>(x: Tensor<D>, f: Pointwise) -> Tensor<D> {
    use burn::tensor::activation;
    match f {
        Pointwise::Relu => activation::relu(x),
        Pointwise::Silu => activation::silu(x),
        Pointwise::LeakyRelu(slope) => activation::leaky_relu(x, slope.into()),
    }
}

/// A batch norm in training, followed by `then` if any, against burn's.
fn check_batch_norm<const D: usize>(shape: [usize; D], offset: f32, then: Option<Pointwise>) {
    let device = Device::flex().autodiff();
    let config = BatchNormConfig::new(shape[1]).with_momentum(0.3);
    let (ours, burns) = (config.init(&device), config.init(&device));
    // Non-trivial affine parameters, the same in both layers.
    let gamma = Tensor::<1>::random([shape[1]], Distribution::Uniform(0.5, 1.5), &device);
    let beta = Tensor::<1>::random([shape[1]], Distribution::Normal(0.0, 1.0), &device);
    let set = |layer: BatchNorm| BatchNorm {
        gamma: Param::from_tensor(gamma.clone()),
        beta: Param::from_tensor(beta.clone()),
        ..layer
    };
    let (ours, burns) = (set(ours), set(burns));
    let x: Tensor<D> = Tensor::random(shape, Distribution::Normal(0.0, 2.0), &device).add_scalar(offset).require_grad();

    let want = burns.forward(x.clone());
    let want = then.map_or(want.clone(), |f| burn_activation(want, f));
    let dy = want.clone().detach().sin();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = match then {
        Some(f) => kernels::batch_norm_then(&ours, x.clone(), f),
        None => kernels::batch_norm(&ours, x.clone()),
    };
    let got_grads = (got.clone() * dy).sum().backward();

    let what = format!("{shape:?} then {then:?}");
    assert!(relative_error(got, want) < 1e-5, "output of {what}");
    let dx = relative_error(x.grad(&got_grads).unwrap(), x.grad(&want_grads).unwrap());
    assert!(dx < 1e-4, "input gradient of {what}: {dx}");
    for (name, ours, burns) in [("gamma", &ours.gamma, &burns.gamma), ("beta", &ours.beta, &burns.beta)] {
        let error = relative_error(ours.val().grad(&got_grads).unwrap(), burns.val().grad(&want_grads).unwrap());
        assert!(error < 1e-4, "{name} gradient of {what}: {error}");
    }
    let running = |layer: &BatchNorm| {
        let [mean, var] = [layer.running_mean.value_sync(), layer.running_var.value_sync()];
        [mean, var].map(|t| t.into_data().try_to_vec::<f32>().unwrap())
    };
    let (got, want) = (running(&ours), running(&burns));
    assert!(want[0].iter().any(|&m| m != 0.0) && want[1].iter().any(|&v| v != 1.0), "burn updated its statistics");
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "running statistics: {got:?} against {want:?}");
    }
}

#[test]
fn batch_norm_matches_burn() {
    // ResNet's and DCGAN's 2-D activations, LeNet's fully connected ones, a large mean, and a
    // batch big enough for the threaded path.
    // Each alone and followed by ResNet's ReLU and DCGAN's leaky ReLU.
    for then in [None, Some(Pointwise::Relu), Some(Pointwise::LeakyRelu(0.2))] {
        check_batch_norm([4, 3, 5, 7], 0.0, then);
        check_batch_norm([16, 8], 0.0, then);
        check_batch_norm([3, 2, 6, 6], 50.0, then);
        check_batch_norm([32, 16, 16, 16], 0.0, then);
    }
}

#[test]
fn batch_norm_in_inference_matches_burn() {
    let device = Device::flex();
    let floats = |values: [f32; 3]| Tensor::<1>::from_floats(values, &device);
    let layer = BatchNorm {
        gamma: Param::from_tensor(floats([0.5, 1.0, 2.0])),
        beta: Param::from_tensor(floats([0.1, -0.2, 0.3])),
        running_mean: RunningState::new(floats([0.5, -1.0, 20.0])),
        running_var: RunningState::new(floats([0.25, 4.0, 1.0])),
        ..BatchNormConfig::new(3).init(&device)
    };
    let x: Tensor<4> = Tensor::random([2, 3, 4, 4], Distribution::Normal(1.0, 3.0), &device);
    assert!(relative_error(kernels::batch_norm(&layer, x.clone()), layer.forward(x.clone())) < 1e-6);
    let then = kernels::batch_norm_then(&layer, x.clone(), Pointwise::Relu);
    assert!(relative_error(then, burn_activation(layer.forward(x), Pointwise::Relu)) < 1e-6);
}

/// A group norm, and one followed by SiLU, against burn's.
fn check_group_norm<const D: usize>(shape: [usize; D], groups: usize, affine: bool) {
    type Norm<const D: usize> = fn(&GroupNorm, Tensor<D>) -> Tensor<D>;
    let pairs: [(&str, Norm<D>, Norm<D>); 2] = [
        ("", kernels::group_norm, |layer, x| layer.forward(x)),
        (
            " and SiLU",
            |layer, x| kernels::group_norm_then(layer, x, Pointwise::Silu),
            |layer, x| burn_activation(layer.forward(x), Pointwise::Silu),
        ),
    ];
    for (then, kernel, reference) in pairs {
        check_group_norm_with(shape, groups, affine, &format!("{shape:?} in {groups} groups{then}"), kernel, reference);
    }
}

fn check_group_norm_with<const D: usize>(
    shape: [usize; D],
    groups: usize,
    affine: bool,
    what: &str,
    kernel: fn(&GroupNorm, Tensor<D>) -> Tensor<D>,
    reference: fn(&GroupNorm, Tensor<D>) -> Tensor<D>,
) {
    let device = Device::flex().autodiff();
    let layer = GroupNormConfig::new(groups, shape[1]).with_affine(affine).init(&device);
    // Non-trivial affine parameters.
    let layer = GroupNorm {
        gamma: layer
            .gamma
            .map(|_| Param::from_tensor(Tensor::random([shape[1]], Distribution::Uniform(0.5, 1.5), &device))),
        beta: layer
            .beta
            .map(|_| Param::from_tensor(Tensor::random([shape[1]], Distribution::Normal(0.0, 1.0), &device))),
        ..layer
    };
    let x: Tensor<D> = Tensor::random(shape, Distribution::Normal(3.0, 2.0), &device).require_grad();
    let want = reference(&layer, x.clone());
    let dy = want.clone().detach().sin();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = kernel(&layer, x.clone());
    let got_grads = (got.clone() * dy).sum().backward();

    assert!(relative_error(got, want) < 1e-5, "output of {what}");
    let dx = relative_error(x.grad(&got_grads).unwrap(), x.grad(&want_grads).unwrap());
    assert!(dx < 1e-4, "input gradient of {what}: {dx}");
    for param in [&layer.gamma, &layer.beta].into_iter().flatten() {
        let error = relative_error(param.val().grad(&got_grads).unwrap(), param.val().grad(&want_grads).unwrap());
        assert!(error < 1e-4, "parameter gradient of {what}: {error}");
    }
    // Without autodiff: the same forward.
    let plain = Device::flex();
    let (layer, x) = (layer.valid(), x.inner().to_device(&plain));
    assert!(relative_error(kernel(&layer, x.clone()), reference(&layer, x)) < 1e-5, "inference of {what}");
}

#[test]
fn group_norm_matches_burn() {
    // The DDPM UNet's first level, one group per channel, one group in all, no affine, rank 3,
    // and one large enough to run a set per task.
    check_group_norm([4, 16, 7, 7], 8, true);
    check_group_norm([2, 4, 5, 5], 4, true);
    check_group_norm([2, 6, 3, 3], 1, true);
    check_group_norm([3, 8, 4, 4], 2, false);
    check_group_norm([3, 6, 10], 3, true);
    check_group_norm([8, 32, 14, 14], 8, true);
}

#[test]
fn activations_match_burn() {
    use burn::tensor::activation;
    let device = Device::flex().autodiff();
    // Large enough for several threads' chunks; zeros included, where the ReLUs have their kink.
    let x: Tensor<4> = Tensor::random([4, 8, 40, 40], Distribution::Normal(0.0, 3.0), &device);
    let x = x.clone().mask_fill(x.abs().lower_elem(0.05), 0.0).require_grad();
    type Pair = (fn(Tensor<4>) -> Tensor<4>, fn(Tensor<4>) -> Tensor<4>);
    let pairs: [(&str, Pair); 3] = [
        ("relu", (kernels::relu, activation::relu)),
        ("silu", (kernels::silu, activation::silu)),
        ("leaky_relu", (|x| kernels::leaky_relu(x, 0.2), |x| activation::leaky_relu(x, 0.2))),
    ];
    for (name, (ours, burns)) in pairs {
        let want = burns(x.clone());
        let dy = want.clone().detach().cos();
        let want_grads = (want.clone() * dy.clone()).sum().backward();
        let got = ours(x.clone());
        let got_grads = (got.clone() * dy).sum().backward();
        assert!(relative_error(got, want) < 1e-6, "{name}");
        let dx = relative_error(x.grad(&got_grads).unwrap(), x.grad(&want_grads).unwrap());
        assert!(dx < 1e-6, "{name} gradient: {dx}");
        // Without autodiff: the same values.
        let plain = x.clone().inner();
        assert!(relative_error(ours(plain.clone()), burns(plain)) < 1e-6, "{name} without autodiff");
    }
}

#[test]
fn sample_bias_matches_burn() {
    let device = Device::flex().autodiff();
    // Large enough for the threads; the bias a strided view, as a linear layer's output may be.
    let x: Tensor<4> = Tensor::random([8, 16, 14, 14], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let bias: Tensor<2> = Tensor::random([16, 8], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let want = x.clone() + bias.clone().transpose().reshape([8, 16, 1, 1]);
    let dy = want.clone().detach().sin();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = kernels::add_sample_bias(x.clone(), bias.clone().transpose());
    let got_grads = (got.clone() * dy).sum().backward();
    assert!(relative_error(got, want) < 1e-6);
    assert!(relative_error(x.grad(&got_grads).unwrap(), x.grad(&want_grads).unwrap()) < 1e-6, "input gradient");
    let db = relative_error(bias.grad(&got_grads).unwrap(), bias.grad(&want_grads).unwrap());
    assert!(db < 1e-6, "bias gradient: {db}");
    let plain = (x.clone().inner(), bias.clone().inner().transpose());
    let want = plain.0.clone() + plain.1.clone().reshape([8, 16, 1, 1]);
    assert!(relative_error(kernels::add_sample_bias(plain.0, plain.1), want) < 1e-6, "without autodiff");
}

#[test]
fn attention_matches_burn() {
    let device = Device::flex().autodiff();
    // 49 positions, as at the UNet's 7x7 level, over enough images for both threads; the
    // input a view into a wider tensor, as a reshaped convolution output may be.
    let wide: Tensor<3> = Tensor::random([6, 3 * 16 + 5, 49], Distribution::Normal(0.0, 2.0), &device).require_grad();
    // Each backward pass consumes its graph, so each side takes its own view.
    let view = || wide.clone().narrow(1, 5, 3 * 16);
    let want = kernels::composed_attention(view());
    let dy = want.clone().detach().sin();
    let want_grads = (want.clone() * dy.clone()).sum().backward();
    let got = kernels::attention(view());
    assert_eq!(got.dims(), [6, 16, 49]);
    let got_grads = (got.clone() * dy).sum().backward();
    assert!(relative_error(got, want.clone()) < 1e-5, "output");
    let d = relative_error(wide.grad(&got_grads).unwrap(), wide.grad(&want_grads).unwrap());
    assert!(d < 1e-5, "gradient: {d}");
    let plain = kernels::attention(view().inner());
    assert!(relative_error(plain, want.inner()) < 1e-5, "without autodiff");
}

/// The direct kernel of many channels (with AVX-512): 3x3 convolutions at stride 1 with whole
/// vectors of output channels, forward and (with whole vectors of input channels) backward to the
/// input, on rows that fill the tiles (14, 16, 28) or that the last tile overlaps (20), with
/// padding that makes the input gradient's own padding uneven, and as a transposed convolution.
#[test]
fn direct_kernels_of_many_channels() {
    let same = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    check([3, 32, 14, 14], [32, 32, 3, 3], same.clone(), true);
    check([2, 48, 16, 16], [32, 48, 3, 3], same.clone(), true);
    check([2, 16, 28, 28], [16, 16, 3, 3], same.clone(), true);
    check([2, 32, 9, 20], [16, 32, 3, 3], same.clone(), false);
    check([2, 12, 16, 16], [32, 12, 3, 3], same, true);
    check([2, 16, 15, 18], [16, 16, 3, 3], ConvOptions::new([1, 1], [2, 0], [1, 1], 1), true);
    // A stride-1 transposed convolution is the input gradient's kernel, with a bias.
    check_transposed([2, 16, 16, 16], [16, 32, 3, 3], ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1));
}
