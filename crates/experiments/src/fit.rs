//! What the experiments measure on a classifier: losses and gradients on a fixed set of images,
//! and a plain pass of minibatch training for experiments that steer training step by step
//! (stop at 100% training accuracy, adversarial examples, a learning-rate sweep). Whole
//! training runs go through `train::classify`, the loop `train` itself uses.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor};
use rikai_data::{Batch, Batcher, ImageDataset};
use train::models::Classifier;

use crate::hessian::Objective;
use crate::params::{self, Params};

/// Labelled images batched once, on which losses and gradients are measured again and again.
pub struct Probe {
    batches: Vec<Batch>,
    len: usize,
}

impl Probe {
    /// The first `n` images of `dataset` (all if fewer), in batches of 256 on the batcher's
    /// device.
    pub fn first(dataset: &ImageDataset, n: usize, batcher: &Batcher) -> Probe {
        let indices: Vec<usize> = (0..n.min(dataset.len())).collect();
        let batches = indices.chunks(256).map(|c| batcher.batch(dataset, c)).collect();
        Probe { batches, len: indices.len() }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the probe holds no images.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The batches.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// Mean cross-entropy and accuracy of `model` (used as it is: pass `model.valid()` for
    /// inference).
    pub fn loss_and_accuracy(&self, model: &Classifier) -> (f64, f64) {
        let (mut loss, mut correct) = (0.0, 0usize);
        for b in &self.batches {
            let logits = model.forward(b.images.clone());
            loss += cross_entropy(logits.clone(), b.targets.clone()).into_scalar::<f32>() as f64
                * b.targets.dims()[0] as f64;
            correct += hits(&logits, &b.targets);
        }
        (loss / self.len.max(1) as f64, correct as f64 / self.len.max(1) as f64)
    }

    /// Mean cross-entropy of `model` (on an autodiff device) and its gradient with respect to
    /// every learned parameter, accumulated batch by batch.
    pub fn gradient(&self, model: &Classifier) -> (f64, Params) {
        let mut total: Option<Params> = None;
        let mut loss_sum = 0.0;
        for b in &self.batches {
            let n = b.targets.dims()[0];
            let loss = cross_entropy(model.forward(b.images.clone().autodiff()), b.targets.clone().autodiff());
            loss_sum += loss.clone().into_scalar::<f32>() as f64 * n as f64;
            let grads = GradientsParams::from_grads(loss.backward(), model);
            let g = params::gradients(model, &grads);
            let w = n as f32 / self.len as f32;
            total = Some(match total {
                None => params::combine(&params::zeros_like(&g), &[(w, &g)]),
                Some(t) => params::combine(&t, &[(w, &g)]),
            });
        }
        (loss_sum / self.len.max(1) as f64, total.unwrap_or_default())
    }
}

/// Mean cross-entropy of `logits` against `targets`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, targets)
}

/// Number of rows of `logits` whose largest score is the target.
pub fn hits(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> usize {
    let h: Tensor<1, Int> = logits.clone().argmax(1).flatten(0, 1).equal(targets.clone()).int().sum();
    h.into_scalar::<i64>() as usize
}

/// The loss of one network architecture as a function of its parameters, on a probe: what the
/// Hessian, sharpness and landscape measurements evaluate.
pub struct ClassifierObjective<'a> {
    /// The network on an autodiff device (its parameters are replaced at every call).
    pub model: Classifier,
    /// Where the loss is measured.
    pub probe: &'a Probe,
}

impl Objective for ClassifierObjective<'_> {
    fn loss(&mut self, theta: &Params) -> f64 {
        self.probe.loss_and_accuracy(&params::assign(self.model.valid(), theta)).0
    }
    fn gradient(&mut self, theta: &Params) -> (f64, Params) {
        let model = params::assign(self.model.clone(), theta);
        self.probe.gradient(&model)
    }
}

/// Loss and accuracy over one pass of training.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassStats {
    /// Mean training loss over the pass.
    pub loss: f64,
    /// Share of training images classified correctly while training.
    pub accuracy: f64,
    /// Optimisation steps taken.
    pub steps: usize,
    /// Whether the loss stopped being a finite number.
    pub diverged: bool,
}

/// One pass of minibatch training over `order` (indices into `dataset`) at learning rate `lr`;
/// `perturb` may replace each batch before the step (adversarial training). Stops early when
/// the loss is not finite.
#[allow(clippy::too_many_arguments)]
pub fn train_pass(
    mut model: Classifier,
    optim: &mut ModuleOptimizer,
    dataset: &ImageDataset,
    order: &[usize],
    batcher: &Batcher,
    batch_size: usize,
    lr: f64,
    mut perturb: impl FnMut(&Classifier, Batch) -> Batch,
) -> (Classifier, PassStats) {
    let mut stats = PassStats::default();
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
    for chunk in order.chunks(batch_size) {
        let batch = perturb(&model, batcher.batch(dataset, chunk));
        let logits = model.forward(batch.images);
        let loss = cross_entropy(logits.clone(), batch.targets.clone());
        let value = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            stats.diverged = true;
            break;
        }
        correct += hits(&logits, &batch.targets);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        loss_sum += value * chunk.len() as f64;
        seen += chunk.len();
        stats.steps += 1;
    }
    stats.loss = if stats.diverged { f64::NAN } else { loss_sum / seen.max(1) as f64 };
    stats.accuracy = correct as f64 / seen.max(1) as f64;
    (model, stats)
}

/// A freshly initialised classifier as `cfg` describes, on `device` with autodiff, seeded by
/// `cfg.seed` so that every arm of an experiment starts from the same weights.
pub fn fresh_classifier(
    cfg: &train::config::TrainConfig,
    input: &train::models::InputSpec,
    device: &Device,
) -> anyhow::Result<Classifier> {
    device.seed(cfg.seed);
    Classifier::build(cfg, input, &device.clone().autodiff())
}

#[cfg(test)]
mod tests {
    use train::classify::Data;
    use train::config::TrainConfig;

    use super::*;
    use crate::hessian::Objective;

    #[test]
    fn gradient_matches_the_slope_of_the_loss() {
        // g·v against (L(θ+hv) − L(θ−hv)) / 2h: checks that gradients line up with parameters.
        let cfg = TrainConfig { limit_train: 128, limit_test: 16, valid_fraction: 0.0, ..Default::default() };
        let data = Data::load(&cfg).unwrap();
        let device = Device::flex();
        let model = fresh_classifier(&cfg, &data.input, &device).unwrap();
        let probe = Probe::first(&data.train, 128, &Batcher::new(data.normalization.clone(), device));
        let mut f = ClassifierObjective { model: model.clone(), probe: &probe };
        let theta = params::collect(&model);
        let v = params::normalized(&params::gaussian_like(&theta, &mut rikai_data::Rng::new(5)));
        let (loss, g) = f.gradient(&theta);
        assert!((loss - f.loss(&theta)).abs() < 1e-5, "the loss is the same with and without autodiff");
        let h = 1e-2;
        let slope = (f.loss(&params::combine(&theta, &[(h, &v)])) - f.loss(&params::combine(&theta, &[(-h, &v)])))
            / (2.0 * h as f64);
        let predicted = params::dot(&g, &v);
        assert!((slope - predicted).abs() < 1e-3 + 0.02 * predicted.abs(), "slope {slope} vs g·v {predicted}");
    }
}
