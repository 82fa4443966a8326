use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};

use crate::{NoiseSchedule, Objective, Sampler, ScheduleKind, UNetConfig, sample};

fn device() -> Device {
    Device::flex()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

fn small_unet(channels: usize) -> UNetConfig {
    UNetConfig::new(channels)
        .with_base_channels(8)
        .with_channel_mults(vec![1, 2])
        .with_blocks_per_level(1)
        .with_groups(4)
}

#[test]
fn linear_schedule_values_at_known_steps() {
    let s = NoiseSchedule::new(ScheduleKind::Linear, 1000);
    assert!(close(s.betas[0], 1e-4, 1e-12) && close(s.betas[999], 0.02, 1e-12));
    assert!(close(s.betas[500], 1e-4 + 0.0199 * 500.0 / 999.0, 1e-12));
    assert!(close(s.alpha_bars[0], 1.0 - 1e-4, 1e-12));
    // The value every DDPM implementation reaches: almost no signal left at T.
    assert!(close(s.alpha_bars[999], 4.04e-5, 0.01e-5), "{}", s.alpha_bars[999]);
    assert!(s.alpha_bars.windows(2).all(|w| w[1] < w[0]));
    assert_eq!(s.alpha_bar_before(0), 1.0);
    assert_eq!(s.alpha_bar_before(10), s.alpha_bars[9]);
}

#[test]
fn cosine_schedule_follows_its_formula() {
    let s = NoiseSchedule::new(ScheduleKind::Cosine, 1000);
    let f = |t: f64| ((t / 1000.0 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
    for t in [0usize, 250, 500, 750, 900] {
        assert!(close(s.alpha_bars[t], f(t as f64 + 1.0) / f(0.0), 1e-9), "step {t}");
    }
    // Half the signal variance is gone about halfway, later than with the linear schedule.
    let linear = NoiseSchedule::new(ScheduleKind::Linear, 1000);
    assert!(close(s.alpha_bars[499], 0.5, 0.02) && linear.alpha_bars[499] < 0.1);
    assert!(s.betas.iter().all(|&b| b > 0.0 && b <= 0.999));
}

#[test]
fn forward_noising_has_the_closed_form_mean_and_variance() {
    let d = device();
    d.seed(7);
    let s = NoiseSchedule::new(ScheduleKind::Linear, 1000);
    let n = 4096;
    let x0 = Tensor::<4>::full([n, 1, 4, 4], 0.5, &d);
    // Five standard errors of the sample mean and variance of `samples` normal values: a
    // false alarm about once in two million checks (the RNG is shared with tests running beside
    // this one, so the seed alone does not pin the draws).
    let samples = (n * 16) as f64;
    for t in [10usize, 300, 900] {
        let noise = Tensor::random([n, 1, 4, 4], Distribution::Normal(0.0, 1.0), &d);
        let x = s.noisy(x0.clone(), noise, &vec![t; n]);
        let flat: Tensor<1> = x.flatten(0, 3);
        let mean = flat.clone().mean().into_scalar::<f32>() as f64;
        let var = flat.var(0).into_scalar::<f32>() as f64;
        let ab = s.alpha_bars[t];
        let (mean_error, var_error) = (5.0 * ((1.0 - ab) / samples).sqrt(), 5.0 * (1.0 - ab) * (2.0 / samples).sqrt());
        assert!(close(mean, 0.5 * ab.sqrt(), mean_error + 1e-4), "t {t}: mean {mean} vs {}", 0.5 * ab.sqrt());
        assert!(close(var, 1.0 - ab, var_error + 1e-4), "t {t}: variance {var} vs {}", 1.0 - ab);
    }
}

#[test]
fn estimates_recover_the_clean_image_and_noise_for_both_objectives() {
    let d = device();
    let s = NoiseSchedule::new(ScheduleKind::Cosine, 100);
    let x0 = Tensor::<4>::random([2, 1, 3, 3], Distribution::Uniform(-1.0, 1.0), &d);
    let noise = Tensor::<4>::random([2, 1, 3, 3], Distribution::Normal(0.0, 1.0), &d);
    for objective in [Objective::Epsilon, Objective::V] {
        let t = 40;
        let x_t = s.noisy(x0.clone(), noise.clone(), &[t, t]);
        let target = s.target(objective, x0.clone(), noise.clone(), &[t, t]);
        let (x0_hat, eps_hat) = s.estimates(objective, target, x_t, t);
        let err = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
        assert!(err(x0_hat, x0.clone()) < 1e-4 && err(eps_hat, noise.clone()) < 1e-4, "{objective:?}");
    }
}

#[test]
fn unet_shapes_and_parameter_count() {
    let d = device();
    for (size, channels) in [(28, 1), (32, 3)] {
        let unet = small_unet(channels).init(&d);
        let x = Tensor::random([2, channels, size, size], Distribution::Normal(0.0, 1.0), &d);
        let out = unet.forward(x, Tensor::from_floats([3.0, 900.0], &d));
        assert_eq!(out.dims(), [2, channels, size, size]);
        // The output convolution starts at zero: a fresh network predicts no noise.
        assert_eq!(out.abs().max().into_scalar::<f32>(), 0.0);
    }
    let params = UNetConfig::new(1).init(&d).num_params();
    assert_eq!(params, 989_217, "the default UNet (widths 16, 32, 64) has about 1M parameters");
}

#[test]
fn samplers_visit_the_right_steps() {
    assert_eq!(Sampler::Ddpm.timesteps(5), vec![4, 3, 2, 1, 0]);
    let ddim = Sampler::Ddim { steps: 50, eta: 0.0 }.timesteps(1000);
    assert_eq!(ddim.len(), 50);
    assert_eq!((ddim[0], ddim[1], ddim[49]), (999, 979, 19));
    assert_eq!(Sampler::Ddim { steps: 5, eta: 1.0 }.timesteps(5), vec![4, 3, 2, 1, 0]);
}

#[test]
fn ddim_with_every_step_and_eta_one_is_ddpm_and_sampling_is_seeded() {
    let d = device();
    let s = NoiseSchedule::new(ScheduleKind::Linear, 20);
    let unet = small_unet(1).init(&d);
    let start = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &d);
    let noises: Vec<Tensor<4>> =
        (0..20).map(|_| Tensor::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &d)).collect();
    let run = |sampler| {
        let mut stream = noises.iter().cloned();
        let mut steps = 0;
        let out = sample(
            &unet,
            &s,
            Objective::Epsilon,
            sampler,
            start.clone(),
            || stream.next().unwrap(),
            |done, _| steps = done,
        );
        (out, steps)
    };
    let (ddpm, ddpm_steps) = run(Sampler::Ddpm);
    let (ddim, ddim_steps) = run(Sampler::Ddim { steps: 20, eta: 1.0 });
    assert_eq!((ddpm_steps, ddim_steps), (20, 20));
    assert_eq!(ddpm.dims(), [3, 1, 28, 28]);
    assert!((ddpm.clone() - ddim).abs().max().into_scalar::<f32>() < 1e-4);
    let (again, _) = run(Sampler::Ddpm);
    assert_eq!((ddpm.clone() - again).abs().max().into_scalar::<f32>(), 0.0, "same noise, same images");
    let (deterministic, steps) = run(Sampler::Ddim { steps: 4, eta: 0.0 });
    assert_eq!(steps, 4);
    assert!((ddpm - deterministic).abs().max().into_scalar::<f32>() > 1e-3);
}

#[test]
fn one_training_step_reduces_the_loss_on_a_fixed_batch() {
    let d = device().autodiff();
    let s = NoiseSchedule::new(ScheduleKind::Linear, 1000);
    let mut unet = small_unet(1).init(&d);
    let mut optim = AdamConfig::new().init();
    let x0 = Tensor::<4>::random([8, 1, 28, 28], Distribution::Uniform(-1.0, 1.0), &d);
    let noise = Tensor::<4>::random([8, 1, 28, 28], Distribution::Normal(0.0, 1.0), &d);
    let t = [5, 50, 100, 200, 400, 600, 800, 999];
    let x_t = s.noisy(x0.clone(), noise.clone(), &t);
    let loss_of = |unet: &crate::UNet| {
        let time = Tensor::<1>::from_floats(t.map(|t| t as f32), &d);
        (unet.forward(x_t.clone(), time) - noise.clone()).powi_scalar(2).mean()
    };
    let before = loss_of(&unet);
    let grads = GradientsParams::from_grads(before.backward(), &unet);
    unet = optim.step(1e-3, unet, grads);
    let after = loss_of(&unet).into_scalar::<f32>();
    let before = before.into_scalar::<f32>();
    assert!(after < before, "loss {before} -> {after}");
}
