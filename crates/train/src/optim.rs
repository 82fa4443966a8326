//! The optimizer and the learning-rate schedule of a run, from its config.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::{OptimizerKind, Schedule, TrainConfig};

/// The optimizer `cfg` asks for, with its weight decay and gradient clipping.
pub fn build_optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    let decay = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    // burn clips each parameter tensor's gradient on its own (not the global norm).
    let clip = (cfg.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(cfg.grad_clip as f32));
    match cfg.optimizer {
        OptimizerKind::Adam => {
            AdamConfig::new().with_beta_1(cfg.beta1 as f32).with_weight_decay(decay).with_grad_clipping(clip).init()
        }
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_weight_decay(cfg.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(cfg.momentum)))
            .with_weight_decay(decay)
            .with_gradient_clipping(clip)
            .init(),
    }
}

/// The epochs after which the step schedule decays: the configured ones, or 50% and 75% of the run.
fn milestones(cfg: &TrainConfig) -> Vec<usize> {
    if cfg.milestones.is_empty() { vec![cfg.epochs / 2, cfg.epochs * 3 / 4] } else { cfg.milestones.clone() }
}

/// Learning rate at global step `step` (0-based) of a run with `steps_per_epoch` steps per epoch.
pub fn learning_rate(cfg: &TrainConfig, step: usize, steps_per_epoch: usize) -> f64 {
    let total = (cfg.epochs * steps_per_epoch).max(1);
    let warmup = ((cfg.warmup_epochs * steps_per_epoch as f64).round() as usize).min(total);
    if step < warmup {
        return cfg.lr * (step + 1) as f64 / warmup as f64;
    }
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Cosine => {
            let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        Schedule::Step => {
            let epochs_done = step / steps_per_epoch.max(1);
            let passed = milestones(cfg).iter().filter(|&&m| m > 0 && epochs_done >= m).count();
            cfg.lr * cfg.gamma.powi(passed as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: Schedule) -> TrainConfig {
        TrainConfig { schedule, lr: 0.1, epochs: 8, ..Default::default() }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn constant_and_cosine() {
        let c = cfg(Schedule::Constant);
        assert!((0..80).all(|s| learning_rate(&c, s, 10) == 0.1));
        let c = cfg(Schedule::Cosine);
        assert!(close(learning_rate(&c, 0, 10), 0.1));
        assert!(close(learning_rate(&c, 40, 10), 0.05));
        assert!(learning_rate(&c, 79, 10) < 1e-3);
    }

    #[test]
    fn step_decays_at_milestones() {
        let c = cfg(Schedule::Step);
        // Default milestones: epochs 4 and 6 of 8.
        let at_epoch = |e: usize| learning_rate(&c, e * 10, 10);
        assert!(close(at_epoch(3), 0.1) && close(at_epoch(4), 0.01) && close(at_epoch(6), 0.001));
        let c = TrainConfig { milestones: vec![2], gamma: 0.5, ..c };
        assert!(close(learning_rate(&c, 19, 10), 0.1) && close(learning_rate(&c, 20, 10), 0.05));
        assert!(close(learning_rate(&c, 79, 10), 0.05));
    }

    #[test]
    fn warmup_rises_linearly_then_hands_over() {
        let c = TrainConfig { warmup_epochs: 1.0, ..cfg(Schedule::Cosine) };
        assert!(close(learning_rate(&c, 0, 10), 0.01));
        assert!(close(learning_rate(&c, 4, 10), 0.05));
        assert!(close(learning_rate(&c, 9, 10), 0.1));
        assert!(close(learning_rate(&c, 10, 10), 0.1), "cosine starts at the peak after warmup");
        assert!(learning_rate(&c, 45, 10) < 0.1);
    }
}
