//! The supervised training loop for image classifiers.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};
use rikai_data::augment::Augment;
use rikai_data::{Batcher, FolderShape, ImageDataset, Normalization};

use crate::checkpoint::{self, EpochMetrics, TrainState};
use crate::config::TrainConfig;
use crate::evaluate::{Evaluation, evaluate};
use crate::models::{Classifier, InputSpec, trainable_params};
use crate::optim::{build_optimizer, learning_rate};
use crate::progress::Progress;
use crate::run_info::RunInfo;
use crate::{metrics, plot};

/// The data of a run, prepared once: splits, normalisation, input shape.
pub struct Data {
    /// Training images (after the validation split).
    pub train: ImageDataset,
    /// Validation images (empty when `valid_fraction` is 0).
    pub valid: ImageDataset,
    /// Test split.
    pub test: ImageDataset,
    /// Normalisation from the training images.
    pub normalization: Normalization,
    /// What the model sees.
    pub input: InputSpec,
}

impl Data {
    /// Load and split the dataset named in `cfg`.
    pub fn load(cfg: &TrainConfig) -> anyhow::Result<Data> {
        let shape = FolderShape { channels: cfg.channels, size: cfg.image_size };
        let splits = rikai_data::load_dataset(&cfg.dataset, cfg.data_dir.as_deref(), shape)?;
        let limit = |d: ImageDataset, n: usize| if n > 0 { d.take(n) } else { d };
        let full_train = limit(splits.train, cfg.limit_train);
        let test = limit(splits.test, cfg.limit_test);
        let (train, valid) = full_train.split_validation(cfg.valid_fraction, cfg.seed);
        if train.is_empty() {
            bail!("dataset '{}': no training images left after the validation split", cfg.dataset);
        }
        let normalization = Normalization::from_dataset(&train);
        let input = InputSpec {
            channels: train.channels,
            height: train.height,
            width: train.width,
            num_classes: train.num_classes(),
        };
        Ok(Data { train, valid, test, normalization, input })
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every epoch's metrics.
    pub history: Vec<EpochMetrics>,
    /// Test evaluation of the final weights.
    pub test: Evaluation,
    /// Epoch and test evaluation of the best-validation weights, when they differ from the final.
    pub best: Option<(usize, Evaluation)>,
}

/// Rewrite `metrics.csv` and `curves.png` from the history of `state`.
fn write_reports(run: &Path, state: &TrainState) -> anyhow::Result<()> {
    metrics::write(run, &state.history)?;
    plot::training_curves(&run.join("curves.png"), &state.history)
}

/// Train a classifier as `cfg` says into run directory `run`; with `resume`, continue the run
/// from its latest checkpoint. With `halt_after`, stop once that many epochs are done, as a
/// killed run would (returns `None`).
pub fn train(
    cfg: &TrainConfig,
    run: &Path,
    device: &Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<Option<Outcome>> {
    train_on(cfg, &Data::load(cfg)?, run, device, resume, halt_after)
}

/// [`train`] on data already loaded with [`Data::load`] from the same `cfg`, for callers that
/// go on using the data after training.
pub fn train_on(
    cfg: &TrainConfig,
    data: &Data,
    run: &Path,
    device: &Device,
    resume: bool,
    halt_after: Option<usize>,
) -> anyhow::Result<Option<Outcome>> {
    let info = RunInfo {
        config: cfg.clone(),
        input: data.input.clone(),
        normalization: data.normalization.clone(),
        class_names: data.train.class_names.clone(),
    };
    crate::run_info::start_or_check(run, &info, resume)?;
    println!(
        "{}: {} train / {} valid / {} test images of {}x{}x{}; run directory {}",
        cfg.dataset,
        data.train.len(),
        data.valid.len(),
        data.test.len(),
        data.input.channels,
        data.input.height,
        data.input.width,
        run.display()
    );

    device.seed(cfg.seed);
    let train_device = device.clone().autodiff();
    let mut model = Classifier::build(cfg, &data.input, &train_device)?;
    let mut optim = build_optimizer(cfg);
    let mut state = TrainState { model: cfg.model.clone(), ..Default::default() };
    // A run stopped before its first checkpoint restarts from scratch: initialisation is
    // seeded, so that is exactly what it was doing.
    let checkpoint_dir = if resume { checkpoint::latest_if_any(run)? } else { None };
    if let Some(dir) = checkpoint_dir {
        state = checkpoint::load_state(&dir)?;
        model = checkpoint::load_model(model, &dir.join("model.bpk"))?;
        optim = checkpoint::load_optim(optim, &dir.join("optim.bpk"))?;
        // A run killed between its last checkpoint and the metrics update left them one epoch
        // behind; the checkpoint's history is the truth.
        write_reports(run, &state)?;
        println!("resuming {} after epoch {} of {}", run.display(), state.epochs_done, cfg.epochs);
    }
    println!(
        "{} ({}): {} parameters",
        cfg.model,
        cfg.variant.as_deref().unwrap_or("default"),
        trainable_params(&model)
    );

    let train_batcher = Batcher::new(data.normalization.clone(), train_device.clone());
    let eval_batcher = Batcher::new(data.normalization.clone(), device.clone());
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let steps_per_epoch = data.train.len().div_ceil(cfg.batch_size);
    let augment = Augment { crop_padding: cfg.crop_padding, hflip: cfg.hflip };

    for epoch in state.epochs_done + 1..=cfg.epochs {
        let (mut rng, order) = checkpoint::epoch_randomness(device, cfg.seed, epoch, data.train.len());
        let started = Instant::now();
        let mut progress = Progress::new(format!("epoch {epoch}/{}", cfg.epochs), steps_per_epoch);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let lr_start = learning_rate(cfg, (epoch - 1) * steps_per_epoch, steps_per_epoch);
        for (step, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let batch = if augment.is_active() {
                let augmented = augment.apply(&data.train, chunk, &mut rng);
                train_batcher.batch(&augmented, &(0..chunk.len()).collect::<Vec<_>>())
            } else {
                train_batcher.batch(&data.train, chunk)
            };
            let logits = model.forward(batch.images);
            let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return Err(checkpoint::diverged(run, epoch, step + 1, &format!("loss {loss_value}")));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = learning_rate(cfg, (epoch - 1) * steps_per_epoch + step, steps_per_epoch);
            model = optim.step(lr, model, grads);

            let hits: Tensor<1, Int> = logits.argmax(1).flatten(0, 1).equal(batch.targets).int().sum();
            correct += hits.into_scalar::<i64>() as usize;
            loss_sum += loss_value * chunk.len() as f64;
            seen += chunk.len();
            progress.update(step + 1, || {
                format!("loss {:.4} acc {:.2}%", loss_sum / seen as f64, 100.0 * correct as f64 / seen as f64)
            });
        }
        progress.finish();
        let seconds = started.elapsed().as_secs_f64();

        let valid =
            (!data.valid.is_empty()).then(|| evaluate(&model.valid(), &data.valid, &eval_batcher, 256, "validate"));
        state.history.push(EpochMetrics {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_acc: correct as f64 / seen as f64,
            valid_loss: valid.as_ref().map(|v| v.loss),
            valid_acc: valid.as_ref().map(|v| v.accuracy),
            lr: lr_start,
            seconds,
            images_per_sec: seen as f64 / seconds,
        });
        state.epochs_done = epoch;
        // Without a validation split the latest weights count as the best.
        let improved = match (valid.as_ref(), state.best_valid_acc()) {
            (Some(v), Some(best)) => v.accuracy > best,
            _ => true,
        };
        // best.bpk is written before the checkpoint that records it: a run killed in between
        // redoes this epoch and rewrites the same file.
        if improved {
            checkpoint::save_model(&model, &run.join("best.bpk"))?;
            state.best_epoch = Some(epoch);
        }
        checkpoint::save(run, &model, &optim, &state)?;
        write_reports(run, &state)?;
        let m = state.history.last().expect("just pushed");
        let valid_text = match (m.valid_loss, m.valid_acc) {
            (Some(l), Some(a)) => format!("  valid loss {l:.4} acc {:.2}%", 100.0 * a),
            _ => String::new(),
        };
        println!(
            "epoch {epoch}/{}  train loss {:.4} acc {:.2}%{valid_text}  lr {:.2e}  {:.1}s  {:.0} img/s",
            cfg.epochs,
            m.train_loss,
            100.0 * m.train_acc,
            m.lr,
            m.seconds,
            m.images_per_sec
        );
        if halt_after.is_some_and(|n| epoch >= n && epoch < cfg.epochs) {
            return Ok(None);
        }
    }

    let final_model = model.valid();
    let test = evaluate(&final_model, &data.test, &eval_batcher, 256, "test");
    let last = state.epochs_done;
    let best = match state.best_epoch {
        Some(epoch) if epoch != last => {
            let weights = Classifier::build(cfg, &data.input, device)?;
            let best_model = checkpoint::load_model(weights, &run.join("best.bpk"))?;
            Some((epoch, evaluate(&best_model, &data.test, &eval_batcher, 256, "test (best)")))
        }
        _ => None,
    };
    Ok(Some(Outcome { history: state.history, test, best }))
}
