use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

use crate::DcganConfig;

fn device() -> Device {
    Device::flex()
}

/// Parameters without batch norm's running mean and variance (two per feature), which burn's
/// `num_params` also counts but no optimizer touches.
fn trainable(params: usize, batch_norm_features: usize) -> usize {
    params - 2 * batch_norm_features
}

#[test]
fn geometry_of_supported_sizes() {
    let geometry = |size| DcganConfig::new(size, 1).geometry();
    assert_eq!(geometry(28), Some((2, 7)));
    assert_eq!(geometry(32), Some((3, 4)));
    assert_eq!(geometry(64), Some((4, 4)));
    assert_eq!(geometry(48), Some((3, 6)));
    assert_eq!(geometry(30), None);
    assert_eq!(geometry(7), None);
}

#[test]
fn paper_networks_have_the_reference_parameter_counts() {
    let d = device();
    // 64x64 RGB: PyTorch's DCGAN example (bias-free layers) has 3,576,704 and 2,765,568
    // parameters; these networks add a bias to each layer without batch norm after it:
    // 3 on the generator's output, 64 + 1 on the discriminator's first and last convolution.
    let config = DcganConfig::new(64, 3);
    let g = config.init_generator(&d);
    let disc = config.init_discriminator(&d);
    assert_eq!(trainable(g.num_params(), 512 + 256 + 128 + 64), 3_576_704 + 3);
    assert_eq!(trainable(disc.num_params(), 128 + 256 + 512), 2_765_568 + 65);

    // 28x28 grayscale: 100 -> 128@7x7 -> 64@14x14 -> 1@28x28, and back.
    let config = DcganConfig::new(28, 1);
    let g = config.init_generator(&d);
    assert_eq!(trainable(g.num_params(), 128 + 64), 100 * 128 * 49 + 256 + 128 * 64 * 16 + 128 + 64 * 16 + 1);
    let disc = config.init_discriminator(&d);
    assert_eq!(trainable(disc.num_params(), 128), 16 * 64 + 64 + 64 * 128 * 16 + 256 + 128 * 49 + 1);
}

#[test]
fn output_shapes_for_every_size_and_channel_count() {
    let d = device();
    for size in [28, 32, 64] {
        for channels in [1, 3] {
            let config = DcganConfig::new(size, channels).with_generator_width(8).with_discriminator_width(8);
            let g = config.init_generator(&d);
            let images = g.forward(Tensor::random([3, 100], Distribution::Normal(0.0, 1.0), &d));
            assert_eq!(images.dims(), [3, channels, size, size], "generator {size}x{size}x{channels}");
            let logits = config.init_discriminator(&d).forward(images);
            assert_eq!(logits.dims(), [3], "discriminator {size}x{size}x{channels}");
        }
    }
}

#[test]
fn generator_output_lies_in_tanh_range_and_depends_on_z() {
    let d = device();
    let g = DcganConfig::new(28, 1).init_generator(&d);
    let z = Tensor::random([4, 100], Distribution::Normal(0.0, 1.0), &d);
    let images = g.forward(z.clone());
    let (min, max) = (images.clone().min().into_scalar::<f32>(), images.clone().max().into_scalar::<f32>());
    assert!((-1.0..=1.0).contains(&min) && (-1.0..=1.0).contains(&max), "range [{min}, {max}]");
    let other = g.forward(z.neg());
    let change = (images - other).abs().mean().into_scalar::<f32>();
    assert!(change > 1e-3, "different latent vectors must give different images ({change})");
}

#[test]
fn weights_follow_the_papers_initialisation() {
    let d = device();
    let g = DcganConfig::new(64, 3).init_generator(&d);
    // The projection's weight has 100 * 512 * 16 entries drawn from N(0, 0.02).
    let w: Tensor<1> = g.hidden[0].0.weight.val().flatten(0, 3);
    let mean = w.clone().mean().into_scalar::<f32>();
    let std = w.var(0).into_scalar::<f32>().sqrt();
    assert!(mean.abs() < 1e-3, "mean {mean}");
    assert!((std - 0.02).abs() < 1e-3, "std {std}");
    let gamma = g.hidden[0].1.gamma.val();
    let gamma_mean = gamma.mean().into_scalar::<f32>();
    assert!((gamma_mean - 1.0).abs() < 0.01, "batch-norm scales start near 1, mean {gamma_mean}");
}

#[test]
#[should_panic(expected = "DCGAN image size")]
fn unsupported_size_panics_with_a_message() {
    DcganConfig::new(30, 1).init_generator(&device());
}
