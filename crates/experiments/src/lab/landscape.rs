//! `landscape`: Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of
//! neural nets". 1-D and 2-D slices of the training loss along filter-normalised random
//! directions through a trained network (any classifier checkpoint, or a LeNet trained here).

use rikai_data::{Batcher, Rng};
use train::classify::Data;
use train::config::TrainConfig;
use train::run_info::load_any_classifier;

use crate::ctx::{Ctx, Report, cell, pct};
use crate::fit::Probe;
use crate::plots::{PALETTE, contour_map};
use crate::slices::{self, Point};

/// Run the experiment; returns its headline lines.
pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let (model, data, normalization, dataset, source) = match &ctx.checkpoint {
        Some(path) => {
            let (model, info) = load_any_classifier(path, &ctx.device)?;
            // The data the network was trained on, found where this run finds data.
            let cfg = TrainConfig { data_dir: ctx.data_dir.clone().or(info.config.data_dir.clone()), ..info.config };
            let source = format!("the checkpoint {}", path.display());
            (model, Data::load(&cfg)?, info.normalization, cfg.dataset, source)
        }
        None => {
            let mut cfg = ctx.base_config("lenet");
            (cfg.epochs, cfg.batch_size, cfg.lr) = (ctx.pick(8, 1), 32, 2e-3);
            if ctx.quick {
                (cfg.limit_train, cfg.limit_test) = (512, 128);
            }
            let (model, _, data) = ctx.train_classifier("lenet", &cfg)?;
            let normalization = data.normalization.clone();
            (model, data, normalization, cfg.dataset, format!("LeNet-5 trained here for {} epochs", cfg.epochs))
        }
    };
    let probe = Probe::first(&data.train, ctx.pick(2000, 256), &Batcher::new(normalization, ctx.device.clone()));
    let span = 1.0;
    let mut rng = Rng::derive(ctx.seed, 4242);
    println!("1-D slice through {source} on {} training images", probe.len());
    let line = slices::slice_1d(&model, &probe, span, ctx.pick(41, 9), &mut rng);
    println!("2-D slice");
    let n2 = ctx.pick(21, 5);
    let plane = slices::slice_2d(&model, &probe, span, n2, &mut rng);
    ctx.write_csv("slice_1d.csv", &slices::HEADER, &slices::rows(&line))?;
    ctx.write_csv("slice_2d.csv", &slices::HEADER, &slices::rows(&plane))?;

    let pts = |f: fn(&Point) -> f64| line.iter().map(|p| (p.alpha, f(p))).collect::<Vec<_>>();
    train::plot::line_charts(
        &ctx.file("slice_1d.png"),
        &[
            train::plot::Panel {
                title: "Training loss along a filter-normalised direction",
                x_label: "alpha",
                y_label: "cross-entropy",
                series: vec![train::plot::Series { label: "loss", points: pts(|p| p.loss), color: PALETTE[0] }],
            },
            train::plot::Panel {
                title: "Training accuracy",
                x_label: "alpha",
                y_label: "accuracy (%)",
                series: vec![train::plot::Series {
                    label: "accuracy",
                    points: pts(|p| 100.0 * p.accuracy),
                    color: PALETTE[1],
                }],
            },
        ],
    )?;
    let axis = slices::grid(span, n2);
    let losses: Vec<f64> = plane.iter().map(|p| p.loss).collect();
    contour_map(&ctx.file("contour.png"), "Training loss, 2-D filter-normalised slice", &axis, &axis, &losses, 10)?;

    let centre = line[line.len() / 2];
    let lowest = line.iter().map(|p| p.loss).fold(f64::MAX, f64::min);
    let half = line.len() / 2;
    // Rising away from the solution on both sides, over the inner half of the slice.
    let quarter = half / 2;
    let rises = (half..half + quarter).all(|i| line[i + 1].loss >= line[i].loss - 1e-4)
        && (half - quarter + 1..=half).all(|i| line[i - 1].loss >= line[i].loss - 1e-4);
    let width = slices::basin_width(&line, 2.0);
    let plane_centre = plane[plane.len() / 2].loss;
    let plane_min = losses.iter().copied().fold(f64::MAX, f64::min);
    let agrees = rises && centre.loss <= lowest + 0.05 && plane_centre <= plane_min + 0.05;
    let mut report = Report::new(
        "Loss landscape",
        &format!(
            "Slices of the training loss (on {} training images of {}, inference mode) through {source}: 1-D along one \
             filter-normalised random direction d (θ + αd, α in [-{span}, {span}]) and 2-D along two (θ + αd₁ + βd₂). Each \
             direction's filters have the norms of the network's filters; biases and batch-norm parameters are not moved.",
            probe.len(),
            dataset
        ),
    );
    report
        .section("Results")
        .table(
            &["", "value"],
            &[
                vec!["loss at the solution".into(), cell(centre.loss)],
                vec!["training accuracy at the solution".into(), pct(centre.accuracy)],
                vec!["loss at α = ±1 (1-D)".into(), format!("{} / {}", cell(line[0].loss), cell(line[line.len() - 1].loss))],
                vec!["basin width (loss < 2·centre + 0.1), in α".into(), cell(width)],
                vec!["2-D: loss at the centre, lowest, highest".into(), format!("{} / {} / {}", cell(plane_centre), cell(plane_min), cell(losses.iter().copied().fold(f64::MIN, f64::max)))],
            ],
        )
        .image("slice_1d.png", "1-D slice")
        .image("contour.png", "2-D slice: loss bands on a log scale; the red cross is the trained network")
        .verdict(
            "Li et al. (2018): a network trained with SGD-like methods sits at the bottom of a basin that looks convex in \
             filter-normalised slices: the loss is lowest at the solution and rises on every side, with roughly concentric \
             contours; networks that generalise well have wide basins.",
            agrees,
            &format!(
                "the 1-D slice is lowest at the solution ({}) and {} on both sides; in 2-D the centre's loss {} is {} the lowest \
                 on the grid ({}); basin width {} in units of the filter norm.",
                cell(centre.loss),
                if rises { "rises monotonically" } else { "does not rise monotonically" },
                cell(plane_centre),
                if plane_centre <= plane_min + 0.05 { "within 0.05 of" } else { "above" },
                cell(plane_min),
                cell(width)
            ),
        );
    report.write(ctx, "experiments landscape")?;
    Ok(vec![
        format!(
            "loss at the solution {} (train accuracy {}); at α = ±1: {} / {}",
            cell(centre.loss),
            pct(centre.accuracy),
            cell(line[0].loss),
            cell(line[line.len() - 1].loss)
        ),
        format!(
            "basin width {} (filter-normalised units); 2-D grid {}x{n2}: centre {} lowest {}",
            cell(width),
            n2,
            cell(plane_centre),
            cell(plane_min)
        ),
    ])
}
