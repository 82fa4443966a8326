//! The GPU path: LeNet-5 trained a few steps and then run for inference on wgpu must give the
//! numbers the CPU backend (flex) gives, from the same initial weights and the same real batches.
//!
//! Built only with `--features wgpu` (`cargo test --release -p gpu-parity --features wgpu`). CI runs
//! it on Mesa's software OpenGL driver (llvmpipe); it has also passed on NVIDIA H200 and H100
//! GPUs (Vulkan).
#![cfg(feature = "wgpu")]

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, DeviceKind, Tensor};
use lenet::{LeNet, LeNetConfig};
use rikai_data::{Batcher, FolderShape, Normalization, Splits, load_dataset};

const STEPS: usize = 8;
const BATCH: usize = 64;

/// Losses of `STEPS` Adam steps from `init` on `device`, then the trained model's logits on
/// the first 256 test images.
fn train_then_infer(init: &LeNet, splits: &Splits, device: &Device) -> (Vec<f32>, Vec<f32>) {
    let normalization = Normalization::from_dataset(&splits.train);
    let train_device = device.clone().autodiff();
    let batcher = Batcher::new(normalization.clone(), train_device.clone());
    // `fork` keeps the parameters trainable on the new device (`to_device` would not).
    let mut model = init.clone().fork(&train_device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let indices: Vec<usize> = (step * BATCH..(step + 1) * BATCH).collect();
        let batch = batcher.batch(&splits.train, &indices);
        let loss = loss_fn.forward(model.forward(batch.images), batch.targets);
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let test = Batcher::new(normalization, device.clone()).batch(&splits.test, &(0..256).collect::<Vec<_>>());
    let logits: Tensor<2> = model.valid().forward(test.images);
    (losses, logits.into_data_as::<f32>().try_into_vec::<f32>().expect("f32 logits"))
}

#[test]
fn lenet_trains_and_infers_on_wgpu_as_on_the_cpu() {
    let cpu = Device::flex();
    cpu.seed(7);
    let init = LeNetConfig::new().init(&cpu.clone().autodiff());
    let splits = load_dataset("mnist", None, FolderShape { channels: 1, size: 28 }).expect("embedded MNIST");
    let (cpu_losses, cpu_logits) = train_then_infer(&init, &splits, &cpu);
    let (gpu_losses, gpu_logits) = train_then_infer(&init, &splits, &Device::wgpu(DeviceKind::default()));

    assert!(cpu_losses[STEPS - 1] < cpu_losses[0], "training lowers the loss: {cpu_losses:?}");
    for (step, (c, g)) in cpu_losses.iter().zip(&gpu_losses).enumerate() {
        assert!((c - g).abs() <= 1e-3 * c.abs().max(1.0), "step {step}: loss {c} on flex, {g} on wgpu");
    }
    let worst = cpu_logits.iter().zip(&gpu_logits).map(|(c, g)| (c - g).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-2, "logits differ by up to {worst} between flex and wgpu");
    let argmax = |v: &[f32]| {
        v.chunks(10).map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0).collect::<Vec<_>>()
    };
    assert_eq!(argmax(&cpu_logits), argmax(&gpu_logits), "the same predicted classes");
    println!("losses flex {cpu_losses:?}\nlosses wgpu {gpu_losses:?}\nlargest logit difference {worst:e}");
}
