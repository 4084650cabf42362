//! PNG plots for reports: confusion matrices, training curves, latency distributions. Text needs a
//! font: plotters' pure-Rust `ab_glyph` backend with Debian's DejaVu Sans (scripts/setup.sh
//! installs `fonts-dejavu-core`), so no system font stack is linked.

use crate::train::EpochMetrics;
use hapticmat_core::state::{NUM_STATES, STATE_NAMES};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Fonts tried in order.
const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Why a plot was not drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No usable font file.
    #[error("no font for plot text: install Debian's fonts-dejavu-core (looked for {0:?})")]
    NoFont(Vec<&'static str>),
    /// Drawing or writing the PNG failed.
    #[error("drawing {path}: {message}")]
    Draw { path: PathBuf, message: String },
}

fn font() -> Result<(), PlotError> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).ok().is_some_and(|bytes| {
                // plotters keeps fonts for the process's lifetime; leaking the bytes once is intended.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    });
    if ok { Ok(()) } else { Err(PlotError::NoFont(FONT_PATHS.to_vec())) }
}

fn draw_err(path: &Path) -> impl Fn(Box<dyn std::error::Error + '_>) -> PlotError + '_ {
    move |e| PlotError::Draw { path: path.to_path_buf(), message: e.to_string() }
}

/// A confusion matrix as a heat map with counts and row-normalised shading (rows = truth).
pub fn confusion(path: &Path, title: &str, m: &[[usize; NUM_STATES]; NUM_STATES]) -> Result<(), PlotError> {
    font()?;
    let err = draw_err(path);
    let root = BitMapBackend::new(path, (620, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(Box::new(e)))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .build_cartesian_2d((0..NUM_STATES - 1).into_segmented(), (0..NUM_STATES - 1).into_segmented())
        .map_err(|e| err(Box::new(e)))?;
    let name = |v: &SegmentValue<usize>, flip: bool| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            let i = if flip { NUM_STATES.checked_sub(1 + *i) } else { Some(*i) };
            i.and_then(|i| STATE_NAMES.get(i)).copied().unwrap_or("").to_string()
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted")
        .y_desc("truth")
        .x_labels(NUM_STATES)
        .y_labels(NUM_STATES)
        .x_label_formatter(&|v| name(v, false))
        .y_label_formatter(&|v| name(v, true))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(Box::new(e)))?;
    for (truth, row) in m.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (pred, &count) in row.iter().enumerate() {
            let share = count as f64 / total;
            let y = NUM_STATES - 1 - truth;
            let shade = RGBColor(255 - (200.0 * share) as u8, 255 - (120.0 * share) as u8, 255);
            let cell = [
                (SegmentValue::Exact(pred), SegmentValue::Exact(y)),
                (SegmentValue::Exact(pred + 1), SegmentValue::Exact(y + 1)),
            ];
            chart.draw_series(std::iter::once(Rectangle::new(cell, shade.filled()))).map_err(|e| err(Box::new(e)))?;
            let text = format!("{count} ({:.0}%)", 100.0 * share);
            let at = (SegmentValue::CenterOf(pred), SegmentValue::CenterOf(y));
            let style = ("sans-serif", 15).into_font().into_text_style(&root).pos(Pos::new(HPos::Center, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(text, at, style))).map_err(|e| err(Box::new(e)))?;
        }
    }
    root.present().map_err(|e| err(Box::new(e)))?;
    Ok(())
}

/// Training and validation loss, and validation accuracy, per epoch.
pub fn training_curves(path: &Path, curves: &[EpochMetrics]) -> Result<(), PlotError> {
    font()?;
    let err = draw_err(path);
    let root = BitMapBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(Box::new(e)))?;
    let (left, right) = root.split_horizontally(450);
    let epochs = curves.len().max(1) as f64 + 0.5;
    let max_loss = curves.iter().flat_map(|c| [c.train_loss, c.validation_loss]).fold(0.1, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption("loss", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.5..epochs, 0.0..max_loss)
        .map_err(|e| err(Box::new(e)))?;
    chart.configure_mesh().x_desc("epoch").label_style(("sans-serif", 13)).draw().map_err(|e| err(Box::new(e)))?;
    for (name, color, pick) in [
        ("train", BLUE, (|c: &EpochMetrics| c.train_loss) as fn(&EpochMetrics) -> f64),
        ("validation", RED, |c: &EpochMetrics| c.validation_loss),
    ] {
        chart
            .draw_series(LineSeries::new(curves.iter().map(|c| (c.epoch as f64, pick(c))), color.stroke_width(2)))
            .map_err(|e| err(Box::new(e)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(Box::new(e)))?;
    let mut acc = ChartBuilder::on(&right)
        .caption("validation accuracy", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.5..epochs, 0.0..1.0)
        .map_err(|e| err(Box::new(e)))?;
    acc.configure_mesh().x_desc("epoch").label_style(("sans-serif", 13)).draw().map_err(|e| err(Box::new(e)))?;
    acc.draw_series(LineSeries::new(
        curves.iter().map(|c| (c.epoch as f64, c.validation_accuracy)),
        GREEN.stroke_width(2),
    ))
    .map_err(|e| err(Box::new(e)))?;
    root.present().map_err(|e| err(Box::new(e)))?;
    Ok(())
}

/// Latency distributions (µs per call) as cumulative curves, one per named series.
pub fn latency_cdf(path: &Path, series: &[(&str, Vec<f64>)]) -> Result<(), PlotError> {
    font()?;
    let err = draw_err(path);
    let root = BitMapBackend::new(path, (700, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(Box::new(e)))?;
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(1.0, f64::max);
    // Cut the far tail (above the largest p99.5) so the body of the curves stays readable.
    let cut = series
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(_, v)| {
            let mut s = v.clone();
            s.sort_by(f64::total_cmp);
            s[((s.len() - 1) as f64 * 0.995) as usize]
        })
        .fold(0.0, f64::max)
        .min(max)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption("inference latency (cumulative)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..cut.max(1.0), 0.0..1.0)
        .map_err(|e| err(Box::new(e)))?;
    chart
        .configure_mesh()
        .x_desc("µs per call")
        .y_desc("fraction of calls")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| err(Box::new(e)))?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (name, values)) in series.iter().enumerate() {
        let mut v = values.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                v.iter().enumerate().map(|(k, x)| (*x, (k + 1) as f64 / n)).filter(|(x, _)| *x <= cut),
                color.stroke_width(2),
            ))
            .map_err(|e| err(Box::new(e)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(Box::new(e)))?;
    root.present().map_err(|e| err(Box::new(e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn plots_are_written_as_pngs_of_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("confusion.png");
        confusion(&c, "fp32", &[[90, 5, 3, 2], [4, 80, 10, 6], [0, 12, 85, 3], [1, 9, 2, 88]]).unwrap();
        assert_eq!(png_size(&c), (620, 560));
        let t = dir.path().join("curves.png");
        let curves: Vec<EpochMetrics> = (1..=5)
            .map(|e| EpochMetrics {
                epoch: e,
                train_loss: 1.0 / e as f64,
                validation_loss: 1.2 / e as f64,
                validation_accuracy: 0.5 + 0.08 * e as f64,
                validation_balanced_accuracy: 0.4 + 0.08 * e as f64,
                validation_balanced_accuracy_calibrated: 0.45 + 0.08 * e as f64,
                learning_rate: 1e-3,
                seconds: 1.0,
            })
            .collect();
        training_curves(&t, &curves).unwrap();
        assert_eq!(png_size(&t), (900, 420));
        let l = dir.path().join("latency.png");
        latency_cdf(&l, &[("fp32", (0..500).map(|i| 5.0 + i as f64 / 100.0).collect()), ("int8", vec![4.0; 10])])
            .unwrap();
        assert_eq!(png_size(&l), (700, 420));
    }
}
