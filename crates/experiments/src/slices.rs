//! Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of neural nets":
//! the loss along filter-normalised random directions through a solution. Filter normalisation
//! makes slices of different networks comparable: a step of 1 changes every filter by its own
//! norm, so the scale invariance of ReLU networks (and batch norm) cannot fake flatness.

use burn::module::Module;
use rikai_data::Rng;
use train::models::Classifier;

use crate::fit::Probe;
use crate::params::{self, Params};

/// `n` evenly spaced points from `-span` to `span` (n ≥ 2).
pub fn grid(span: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| -span + 2.0 * span * i as f64 / (n - 1).max(1) as f64).collect()
}

/// One point of a slice.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Step along the first direction.
    pub alpha: f64,
    /// Step along the second direction (0 for a 1-D slice).
    pub beta: f64,
    /// Mean loss there.
    pub loss: f64,
    /// Accuracy there.
    pub accuracy: f64,
}

/// Loss and accuracy of `model` (inference mode) at `θ + α·d1 + β·d2` for every (α, β) given.
pub fn evaluate(
    model: &Classifier,
    probe: &Probe,
    d1: &Params,
    d2: Option<&Params>,
    steps: &[(f64, f64)],
) -> Vec<Point> {
    let model = model.valid();
    let theta = params::collect(&model);
    let zero = params::zeros_like(&theta);
    let d2 = d2.unwrap_or(&zero);
    let mut progress = train::progress::Progress::terminal_only("loss slice", steps.len());
    let points = steps
        .iter()
        .enumerate()
        .map(|(i, &(alpha, beta))| {
            let moved =
                params::assign(model.clone(), &params::combine(&theta, &[(alpha as f32, d1), (beta as f32, d2)]));
            let (loss, accuracy) = probe.loss_and_accuracy(&moved);
            progress.update(i + 1, String::new);
            Point { alpha, beta, loss, accuracy }
        })
        .collect();
    progress.finish();
    points
}

/// A 1-D filter-normalised slice of `n` points over `[-span, span]` through `model`'s weights,
/// along a direction drawn from `rng`.
pub fn slice_1d(model: &Classifier, probe: &Probe, span: f64, n: usize, rng: &mut Rng) -> Vec<Point> {
    let d = params::filter_normalized_direction(&params::collect(&model.valid()), rng);
    let steps: Vec<(f64, f64)> = grid(span, n).into_iter().map(|a| (a, 0.0)).collect();
    evaluate(model, probe, &d, None, &steps)
}

/// A 2-D filter-normalised slice on an `n`×`n` grid over `[-span, span]²`, row by row (β outer).
pub fn slice_2d(model: &Classifier, probe: &Probe, span: f64, n: usize, rng: &mut Rng) -> Vec<Point> {
    let theta = params::collect(&model.valid());
    let d1 = params::filter_normalized_direction(&theta, rng);
    let d2 = params::filter_normalized_direction(&theta, rng);
    let axis = grid(span, n);
    let steps: Vec<(f64, f64)> = axis.iter().flat_map(|&b| axis.iter().map(move |&a| (a, b))).collect();
    evaluate(model, probe, &d1, Some(&d2), &steps)
}

/// Rows of a slice for CSV.
pub fn rows(points: &[Point]) -> Vec<Vec<String>> {
    use crate::ctx::cell;
    points.iter().map(|p| vec![cell(p.alpha), cell(p.beta), cell(p.loss), cell(p.accuracy)]).collect()
}

/// CSV header of [`rows`].
pub const HEADER: [&str; 4] = ["alpha", "beta", "loss", "accuracy"];

/// Width of the basin: the length of the stretch around α = 0 where the loss stays below
/// `factor` times its value at the centre plus 0.1 (in units of the filter-normalised step).
pub fn basin_width(points: &[Point], factor: f64) -> f64 {
    let Some(centre) = points.iter().min_by(|a, b| a.alpha.abs().total_cmp(&b.alpha.abs())) else { return 0.0 };
    let limit = centre.loss * factor + 0.1;
    let inside = |p: &&Point| p.loss <= limit;
    let right = points.iter().filter(|p| p.alpha >= 0.0).take_while(|p| inside(p)).last().map_or(0.0, |p| p.alpha);
    let left = points.iter().rev().filter(|p| p.alpha <= 0.0).take_while(|p| inside(p)).last().map_or(0.0, |p| p.alpha);
    right - left
}
