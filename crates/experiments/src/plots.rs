//! Plot colours and the 2-D map the lab needs beside `train::plot`'s line charts.

use plotters::style::RGBColor;

/// Line colours (matplotlib's tab10), in the order series use them.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One line per `(label, points)`, coloured in palette order.
pub fn lines<'a>(items: impl IntoIterator<Item = (&'a str, Vec<(f64, f64)>)>) -> Vec<train::plot::Series<'a>> {
    items
        .into_iter()
        .zip(PALETTE)
        .map(|((label, points), color)| train::plot::Series { label, points, color })
        .collect()
}

/// Viridis-like colour for `t` in [0, 1].
fn colormap(t: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = STOPS.iter().rposition(|s| s.0 <= t).unwrap_or(0).min(STOPS.len() - 2);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let f = (t - a.0) / (b.0 - a.0);
    let c = |k: usize| (a.1[k] + f * (b.1[k] - a.1[k])).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

/// A filled contour map of `values` (row `j` is `ys[j]`, column `i` is `xs[i]`) in `levels`
/// bands of log10(value), with the bands' edges drawn as contour lines, as a PNG at `path`.
pub fn contour_map(
    path: &std::path::Path,
    title: &str,
    xs: &[f64],
    ys: &[f64],
    values: &[f64],
    levels: usize,
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let logs: Vec<f64> = values.iter().map(|v| v.max(1e-6).log10()).collect();
    let finite = logs.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let band =
        |v: f64| (((v - lo) / (hi - lo).max(1e-9)) * levels as f64).floor().min(levels as f64 - 1.0).max(0.0) as usize;
    let (nx, ny) = (xs.len(), ys.len());
    // Half a cell: grids are evenly spaced.
    let half = |v: &[f64]| if v.len() > 1 { (v[1] - v[0]).abs() / 2.0 } else { 0.5 };
    let (hx, hy) = (half(xs), half(ys));
    train::plot::render(path, (640, 560), |root| {
        let (map, bar) = root.split_horizontally(560);
        let mut chart = ChartBuilder::on(&map)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(xs[0] - hx..xs[nx - 1] + hx, ys[0] - hy..ys[ny - 1] + hy)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("direction 1")
            .y_desc("direction 2")
            .x_label_formatter(&|x| train::plot::short_number(*x))
            .y_label_formatter(&|y| train::plot::short_number(*y))
            .label_style(("sans-serif", 14))
            .draw()?;
        chart.draw_series((0..ny).flat_map(|j| (0..nx).map(move |i| (i, j))).map(|(i, j)| {
            let b = band(logs[j * nx + i]);
            let color = colormap(b as f64 / (levels - 1).max(1) as f64);
            Rectangle::new([(xs[i] - hx, ys[j] - hy), (xs[i] + hx, ys[j] + hy)], color.filled())
        }))?;
        // Contour lines: cell edges between different bands.
        let mut edges = Vec::new();
        for j in 0..ny {
            for i in 0..nx {
                let b = band(logs[j * nx + i]);
                if i + 1 < nx && band(logs[j * nx + i + 1]) != b {
                    edges.push([(xs[i] + hx, ys[j] - hy), (xs[i] + hx, ys[j] + hy)]);
                }
                if j + 1 < ny && band(logs[(j + 1) * nx + i]) != b {
                    edges.push([(xs[i] - hx, ys[j] + hy), (xs[i] + hx, ys[j] + hy)]);
                }
            }
        }
        chart.draw_series(edges.into_iter().map(|e| PathElement::new(e.to_vec(), WHITE.stroke_width(1))))?;
        chart.draw_series(std::iter::once(Cross::new((0.0, 0.0), 6, RED.stroke_width(2))))?;
        // Colour bar: one swatch per band, labelled with the loss at its lower edge.
        let swatch = 400 / levels.max(1) as i32;
        for b in 0..levels {
            let y = 470 - (b as i32 + 1) * swatch;
            let color = colormap(b as f64 / (levels - 1).max(1) as f64);
            bar.draw(&Rectangle::new([(8, y), (30, y + swatch)], color.filled()))?;
            let loss = 10f64.powf(lo + (hi - lo) * b as f64 / levels as f64);
            bar.draw(&Text::new(train::plot::short_number(loss), (34, y + swatch - 8), ("sans-serif", 12)))?;
        }
        bar.draw(&Text::new("loss", (8, 40), ("sans-serif", 14)))?;
        Ok(())
    })
}
