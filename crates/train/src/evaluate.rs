//! Evaluation of a classifier on a labelled dataset.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Int;
use rikai_data::{Batcher, ImageDataset};

use crate::models::Classifier;
use crate::progress::Progress;

/// Loss, accuracy and confusion matrix on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of images classified correctly.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Evaluate `model` (in inference mode) on all of `dataset`, with batches from `batcher`.
pub fn evaluate(
    model: &Classifier,
    dataset: &ImageDataset,
    batcher: &Batcher,
    batch_size: usize,
    label: &str,
) -> Evaluation {
    let k = dataset.num_classes();
    let mut confusion = vec![vec![0usize; k]; k];
    let loss_fn = CrossEntropyLossConfig::new().init(batcher.device());
    let mut loss_sum = 0.0;
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let chunks: Vec<&[usize]> = indices.chunks(batch_size.max(1)).collect();
    let mut progress = Progress::terminal_only(label, chunks.len());
    for (step, chunk) in chunks.iter().enumerate() {
        let batch = batcher.batch(dataset, chunk);
        let logits = model.forward(batch.images);
        let loss: f64 = loss_fn.forward(logits.clone(), batch.targets).into_scalar::<f32>() as f64;
        loss_sum += loss * chunk.len() as f64;
        let predicted: burn::tensor::Tensor<2, Int> = logits.argmax(1);
        let predicted: Vec<i64> = predicted.into_data_as::<i64>().try_into_vec::<i64>().expect("i64 data");
        for (&i, &p) in chunk.iter().zip(&predicted) {
            confusion[dataset.labels[i] as usize][p as usize] += 1;
        }
        progress.update(step + 1, String::new);
    }
    progress.finish();
    let n = dataset.len().max(1) as f64;
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n, confusion }
}

/// The confusion matrix as an aligned text table, rows = true class.
pub fn confusion_table(confusion: &[Vec<usize>], class_names: &[String]) -> String {
    let width = confusion.iter().flatten().map(|c| c.to_string().len()).max().unwrap_or(1).max(4);
    let row_name = |t: usize| format!("{t} {}", class_names.get(t).map(String::as_str).unwrap_or(""));
    let name_width = (0..confusion.len()).map(|t| row_name(t).len()).max().unwrap_or(0).max(9);
    let mut out = format!("{:<name_width$} ", "true\\pred");
    for c in 0..confusion.len() {
        out += &format!("{c:>width$} ");
    }
    out.push('\n');
    for (t, row) in confusion.iter().enumerate() {
        out += &format!("{:<name_width$} ", row_name(t));
        for count in row {
            out += &format!("{count:>width$} ");
        }
        out.push('\n');
    }
    out
}
