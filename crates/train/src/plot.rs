//! PNG line charts (loss and accuracy curves) with plotters and an embedded font, so plots
//! render the same on a machine without any fonts installed.

use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::checkpoint::EpochMetrics;
use crate::run_dir::write_atomic;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is a compile-time constant known to parse; a failure here is a build defect.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("embedded font is invalid"));
    });
}

/// One named series of (x, y) points.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub color: RGBColor,
}

/// A chart panel: a title, an axis label and its series.
pub struct Panel<'a> {
    /// Title above the panel.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// Lines to draw.
    pub series: Vec<Series<'a>>,
}

/// Draw `panels` side by side into a PNG at `path`.
pub fn line_charts(path: &Path, panels: &[Panel]) -> anyhow::Result<()> {
    render(path, (560 * panels.len().max(1) as u32, 420), |root| draw(root, panels))
}

/// A drawing area over an in-memory RGB image.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// What drawing code returns: plotters' errors are boxed.
pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draw with `paint` on a white canvas of `size` pixels (the embedded font registered as
/// "sans-serif") and write it as a PNG at `path`.
pub fn render(path: &Path, size: (u32, u32), paint: impl FnOnce(&Canvas) -> DrawResult) -> anyhow::Result<()> {
    register_font();
    let (width, height) = size;
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw plot: {e}", path.display());
    // Draw into memory and encode with the `image` crate the project already uses, rather than
    // plotters' encoder, which would compile a second, older `image`.
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        paint(&root).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    let png = image::RgbImage::from_raw(width, height, pixels).expect("buffer matches the size");
    let mut bytes = std::io::Cursor::new(Vec::new());
    png.write_to(&mut bytes, image::ImageFormat::Png).map_err(|e| err(&e))?;
    write_atomic(path, bytes.get_ref())
}

fn draw(root: &Canvas, panels: &[Panel]) -> DrawResult {
    for (area, panel) in root.split_evenly((1, panels.len().max(1))).iter().zip(panels) {
        let points = panel.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = ((y1 - y0) * 0.05).max(1e-3);
        let x_pad = if x1 > x0 { 0.0 } else { 0.5 };
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0 - x_pad..x1 + x_pad, y0 - pad..y1 + pad)?;
        chart
            .configure_mesh()
            .x_desc(panel.x_label)
            .y_desc(panel.y_label)
            .x_label_formatter(&|x| short_number(*x))
            .y_label_formatter(&|y| short_number(*y))
            .label_style(("sans-serif", 14))
            .draw()?;
        for s in &panel.series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    Ok(())
}

/// `2` rather than `2.0`, `0.25` rather than `0.250`, `0` rather than `-0`.
pub fn short_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Loss and accuracy against epoch, training and validation, as `curves.png`.
pub fn training_curves(path: &Path, history: &[EpochMetrics]) -> anyhow::Result<()> {
    let pts = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        history.iter().filter_map(|m| f(m).map(|v| (m.epoch as f64, v))).collect()
    };
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    line_charts(
        path,
        &[
            Panel {
                title: "Loss",
                x_label: "epoch",
                y_label: "cross-entropy",
                series: vec![
                    Series { label: "train", points: pts(&|m| Some(m.train_loss)), color: blue },
                    Series { label: "valid", points: pts(&|m| m.valid_loss), color: orange },
                ],
            },
            Panel {
                title: "Accuracy",
                x_label: "epoch",
                y_label: "accuracy (%)",
                series: vec![
                    Series { label: "train", points: pts(&|m| Some(100.0 * m.train_acc)), color: blue },
                    Series { label: "valid", points: pts(&|m| m.valid_acc.map(|a| 100.0 * a)), color: orange },
                ],
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(short_number(2.0), "2");
        assert_eq!(short_number(0.25), "0.25");
        assert_eq!(short_number(98.5), "98.5");
        assert_eq!(short_number(-0.0001), "0");
    }

    #[test]
    fn writes_a_png_of_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let m = |epoch, loss| EpochMetrics {
            epoch,
            train_loss: loss,
            train_acc: 1.0 - loss,
            valid_loss: Some(loss + 0.1),
            valid_acc: Some(0.9 - loss),
            lr: 1e-3,
            seconds: 1.0,
            images_per_sec: 1.0,
        };
        training_curves(&path, &[m(1, 0.5), m(2, 0.3), m(3, 0.2)]).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (1120, 420));
        // Not a blank canvas: some pixels are neither white nor grey.
        let rgb = img.to_rgb8();
        assert!(rgb.pixels().any(|p| p.0 == [31, 119, 180]));
    }
}
