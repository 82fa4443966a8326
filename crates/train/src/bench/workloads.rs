//! The models `bench` times: the same networks, shapes and optimizers `train` uses, fed with
//! random batches that stay on the device, so the figures are the framework's alone.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use dcgan::{Discriminator, Generator};
use diffusion::{NoiseSchedule, UNet};

use crate::config::{OptimizerKind, TrainConfig};
use crate::gan::bce_with_logits;
use crate::models::{Classifier, InputSpec, dcgan_config, trainable_params, unet_config};
use crate::optim::build_optimizer;

/// A network ready to time: one training step (forward, backward, optimizer) and one inference
/// step (forward only, no autodiff) on a fixed batch.
pub trait Workload {
    /// One forward, backward and optimizer step on the training batch.
    fn train_step(&mut self);
    /// One forward pass on the inference batch.
    fn infer_step(&mut self);
    /// Learned parameters (batch-norm statistics excluded).
    fn params(&self) -> usize;
}

/// What a row of the benchmark is: its name, its shapes and its optimizer, as the table shows them.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Row name, e.g. `lenet5-b64`.
    pub name: &'static str,
    /// Model family and variant, as `train` names them.
    pub model: [&'static str; 2],
    /// Images per step.
    pub batch: usize,
    /// Input shape `[channels, height, width]`.
    pub input: [usize; 3],
    /// Optimizer, as the table names it.
    pub optimizer: &'static str,
}

/// Every row, in table order. `scripts/bench_pytorch.py` defines the same rows.
pub const SPECS: [Spec; 7] = [
    Spec { name: "lenet5-b64", model: ["lenet", "lenet5"], batch: 64, input: [1, 28, 28], optimizer: "adam" },
    Spec { name: "lenet5-b256", model: ["lenet", "lenet5"], batch: 256, input: [1, 28, 28], optimizer: "adam" },
    Spec {
        name: "resnet18-cifar",
        model: ["resnet", "resnet18-cifar"],
        batch: 128,
        input: [3, 32, 32],
        optimizer: "sgd-momentum",
    },
    Spec { name: "resnet20", model: ["resnet", "resnet20"], batch: 128, input: [3, 32, 32], optimizer: "sgd-momentum" },
    Spec {
        name: "alexnet-small",
        model: ["alexnet", "alexnet-small"],
        batch: 128,
        input: [3, 32, 32],
        optimizer: "sgd-momentum",
    },
    Spec { name: "dcgan", model: ["dcgan", "dcgan"], batch: 128, input: [1, 28, 28], optimizer: "adam" },
    Spec { name: "ddpm-unet", model: ["diffusion", "ddpm"], batch: 128, input: [1, 28, 28], optimizer: "adam" },
];

/// Build the workload of `spec` on `device` (the autodiff device is derived from it).
pub fn build(spec: &Spec, device: &Device) -> anyhow::Result<Box<dyn Workload>> {
    let [channels, height, width] = spec.input;
    let input = InputSpec { channels, height, width, num_classes: 10 };
    let [model, variant] = spec.model;
    match model {
        "dcgan" => return Ok(Box::new(Gan::new(spec, &input, device)?)),
        "diffusion" => return Ok(Box::new(Ddpm::new(spec, device))),
        _ => {}
    }
    let sgd = spec.optimizer == "sgd-momentum";
    let cfg = TrainConfig {
        model: model.into(),
        variant: Some(variant.into()),
        batch_size: spec.batch,
        optimizer: if sgd { OptimizerKind::Sgd } else { OptimizerKind::Adam },
        lr: if sgd { 0.1 } else { 1e-3 },
        momentum: 0.9,
        weight_decay: if sgd { 5e-4 } else { 0.0 },
        ..Default::default()
    };
    Ok(Box::new(Classify::new(&cfg, spec, &input, device)?))
}

/// A batch of `shape` drawn from N(0, 1) on `device`.
fn normal(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

struct Classify {
    model: Option<Classifier>,
    optim: ModuleOptimizer,
    lr: f64,
    loss: CrossEntropyLoss,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
    eval_model: Classifier,
    eval_images: Tensor<4>,
}

impl Classify {
    fn new(cfg: &TrainConfig, spec: &Spec, input: &InputSpec, device: &Device) -> anyhow::Result<Self> {
        let train_device = device.clone().autodiff();
        let model = Classifier::build(cfg, input, &train_device)?;
        let shape = [spec.batch, input.channels, input.height, input.width];
        let labels: Vec<i64> = (0..spec.batch as i64).map(|i| i % 10).collect();
        Ok(Classify {
            eval_model: model.valid(),
            model: Some(model),
            optim: build_optimizer(cfg),
            lr: cfg.lr,
            loss: CrossEntropyLossConfig::new().init(&train_device),
            images: normal(shape, &train_device),
            targets: Tensor::from_data(TensorData::new(labels, [spec.batch]), &train_device),
            eval_images: normal(shape, device),
        })
    }
}

impl Workload for Classify {
    fn train_step(&mut self) {
        let model = self.model.take().expect("model is put back after every step");
        let logits = model.forward(self.images.clone());
        let loss = self.loss.forward(logits, self.targets.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(self.lr, model, grads));
    }

    fn infer_step(&mut self) {
        let _ = self.eval_model.forward(self.eval_images.clone());
    }

    fn params(&self) -> usize {
        trainable_params(&self.eval_model)
    }
}

/// One DCGAN step as Radford et al. (and PyTorch's example) take it: the discriminator on a real
/// and a generated batch, then the generator through the updated discriminator.
struct Gan {
    generator: Option<Generator>,
    discriminator: Option<Discriminator>,
    optim_g: ModuleOptimizer,
    optim_d: ModuleOptimizer,
    lr: f64,
    real: Tensor<4>,
    z: Tensor<2>,
    eval_generator: Generator,
    eval_z: Tensor<2>,
}

impl Gan {
    fn new(spec: &Spec, input: &InputSpec, device: &Device) -> anyhow::Result<Self> {
        let cfg = TrainConfig { model: "dcgan".into(), lr: 2e-4, beta1: 0.5, ..Default::default() };
        let config = dcgan_config(&cfg, input)?;
        let train_device = device.clone().autodiff();
        let generator = config.init_generator(&train_device);
        let latent = [spec.batch, config.latent_dim];
        Ok(Gan {
            eval_generator: generator.valid(),
            generator: Some(generator),
            discriminator: Some(config.init_discriminator(&train_device)),
            optim_g: build_optimizer(&cfg),
            optim_d: build_optimizer(&cfg),
            lr: cfg.lr,
            real: normal([spec.batch, input.channels, input.height, input.width], &train_device).tanh(),
            z: Tensor::random(latent, Distribution::Normal(0.0, 1.0), &train_device),
            eval_z: Tensor::random(latent, Distribution::Normal(0.0, 1.0), device),
        })
    }
}

impl Workload for Gan {
    fn train_step(&mut self) {
        let (generator, discriminator) = (self.generator.take(), self.discriminator.take());
        let (generator, discriminator) = (generator.expect("put back"), discriminator.expect("put back"));
        let fake = generator.forward(self.z.clone());
        let d_loss = bce_with_logits(discriminator.forward(self.real.clone()), true)
            + bce_with_logits(discriminator.forward(fake.clone().detach()), false);
        let grads = GradientsParams::from_grads(d_loss.backward(), &discriminator);
        let discriminator = self.optim_d.step(self.lr, discriminator, grads);
        let g_loss = bce_with_logits(discriminator.forward(fake), true);
        let grads = GradientsParams::from_grads(g_loss.backward(), &generator);
        self.generator = Some(self.optim_g.step(self.lr, generator, grads));
        self.discriminator = Some(discriminator);
    }

    fn infer_step(&mut self) {
        let _ = self.eval_generator.forward(self.eval_z.clone());
    }

    fn params(&self) -> usize {
        trainable_params(&self.eval_generator) + self.discriminator.as_ref().map_or(0, trainable_params)
    }
}

/// One step of DDPM training (Ho et al. 2020): noise a batch to random timesteps and regress the
/// noise. The loop's EMA update is left out, as in a plain PyTorch step.
struct Ddpm {
    unet: Option<UNet>,
    optim: ModuleOptimizer,
    lr: f64,
    x_t: Tensor<4>,
    time: Tensor<1>,
    target: Tensor<4>,
    eval_unet: UNet,
    eval_x: Tensor<4>,
    eval_time: Tensor<1>,
}

impl Ddpm {
    fn new(spec: &Spec, device: &Device) -> Self {
        let cfg = TrainConfig { model: "diffusion".into(), lr: 1e-3, ..Default::default() };
        let [channels, height, width] = spec.input;
        let train_device = device.clone().autodiff();
        let unet = unet_config(&cfg, channels).init(&train_device);
        let schedule = NoiseSchedule::new(cfg.diffusion.noise_schedule, cfg.diffusion.timesteps);
        let shape = [spec.batch, channels, height, width];
        let t: Vec<usize> = (0..spec.batch).map(|i| i * 7919 % schedule.len()).collect();
        let times = || Tensor::from_data(TensorData::new(t.iter().map(|&t| t as f32).collect(), [t.len()]), device);
        let (x0, noise) = (normal(shape, &train_device).tanh(), normal(shape, &train_device));
        Ddpm {
            eval_unet: unet.valid(),
            unet: Some(unet),
            optim: build_optimizer(&cfg),
            lr: cfg.lr,
            x_t: schedule.noisy(x0, noise.clone(), &t),
            time: times().to_device(&train_device),
            target: noise,
            eval_x: normal(shape, device),
            eval_time: times(),
        }
    }
}

impl Workload for Ddpm {
    fn train_step(&mut self) {
        let unet = self.unet.take().expect("put back");
        let loss = (unet.forward(self.x_t.clone(), self.time.clone()) - self.target.clone()).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &unet);
        self.unet = Some(self.optim.step(self.lr, unet, grads));
    }

    fn infer_step(&mut self) {
        let _ = self.eval_unet.forward(self.eval_x.clone(), self.eval_time.clone());
    }

    fn params(&self) -> usize {
        trainable_params(&self.eval_unet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter counts `scripts/bench_pytorch.py` must match.
    #[test]
    fn every_row_builds_with_the_expected_parameter_count() {
        let device = Device::flex();
        let expected = [61_706, 61_706, 11_173_962, 269_722, 7_706_442, 759_681 + 138_689, 989_217];
        for (spec, want) in SPECS.iter().zip(expected) {
            assert_eq!(build(spec, &device).unwrap().params(), want, "{}", spec.name);
        }
    }
}
