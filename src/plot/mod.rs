//! Figures drawn with plotters into SVG strings. They take evaluation outputs (points, bars),
//! never models. Text is laid out with a vendored DejaVu Sans through ab_glyph, so output is
//! byte-identical on every machine (no system fonts).

mod figures;
mod shap;

pub use figures::{
    axis_name, calibration_figure, confusion_figure, distribution_figure, native_importance_figure,
    partial_dependence_figure, permutation_importance_figure, pr_figure, roc_figure,
    shap_dependence_figure, shap_summary_figure, top_profile_figure, ShapSample,
};
pub use shap::{dependence, summary};

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, Result};
use crate::eval::Confusion;

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (720, 480);
/// Colour-blind-safe palette (Okabe–Ito).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // The font is vendored and valid; a failure would show as missing text, not a panic.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, bytes);
    });
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

/// The legend every chart shares: a light box in `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: Legend,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(plot_error)
}

/// A named series of points for [`lines`].
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Where a chart's legend goes: the corner its data leaves empty.
pub use plotters::chart::SeriesLabelPosition as Legend;

/// Axes of a line chart.
pub struct Axes<'a> {
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// Draw the y = x reference (ROC, calibration).
    pub diagonal: bool,
    pub legend: Legend,
}

/// A line chart with a legend.
///
/// # Errors
/// [`Error::Plot`] if plotters fails.
pub fn lines(title: &str, axes: &Axes, series: &[Series]) -> Result<String> {
    let Axes {
        x_label,
        y_label,
        x_range,
        y_range,
        diagonal,
        ..
    } = *axes;
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_error)?;
        if diagonal {
            let lo = x_range.0.max(y_range.0);
            let hi = x_range.1.min(y_range.1);
            chart
                .draw_series(LineSeries::new(
                    vec![(lo, lo), (hi, hi)],
                    RGBColor(150, 150, 150).stroke_width(1),
                ))
                .map_err(plot_error)?;
        }
        for (k, s) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        legend(&mut chart, axes.legend.clone())?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The label of a band chart's y position `v`: category names at band centres (the first
/// category on top), nothing elsewhere.
fn category_label(cats: &[String], v: f64) -> String {
    let k = v - 0.5;
    if (k - k.round()).abs() < 1e-6 && k >= 0.0 && (k.round() as usize) < cats.len() {
        cats[cats.len() - 1 - k.round() as usize].clone()
    } else {
        String::new()
    }
}

/// Grouped horizontal bars: one group per category, one bar per series.
///
/// # Errors
/// [`Error::Plot`] if plotters fails.
pub fn bars(
    title: &str,
    value_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<String> {
    register_font();
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        // Room on the right for the legend, clear of the longest bar.
        * 1.5;
    let min = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::min)
        * 1.1;
    let n_series = series.len().max(1);
    let height = (80 + categories.len() * (12 * n_series + 16)).max(300) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let n = categories.len() as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(130)
            .build_cartesian_2d(min..max, 0.0..n)
            .map_err(plot_error)?;
        let cats = categories.to_vec();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(categories.len() * 2 + 1)
            .y_label_formatter(&move |v: &f64| category_label(&cats, *v))
            .x_desc(value_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_error)?;
        let band = 0.8 / n_series as f64;
        for (s, (name, values)) in series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            chart
                .draw_series(values.iter().enumerate().map(|(c, &v)| {
                    let y0 = (n - 1.0 - c as f64) + 0.1 + band * (n_series - 1 - s) as f64;
                    Rectangle::new([(0.0, y0), (v, y0 + band * 0.9)], color.filled())
                }))
                .map_err(plot_error)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
        legend(&mut chart, Legend::UpperRight)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Confusion matrices in a grid of panels (row-major, `columns` per row), each titled (a
/// title's second line is drawn smaller).
/// Rows are the actual class, columns the decision; a cell's shade is its share of the
/// actual class (recall for hits, specificity for the rest), printed under the count.
///
/// # Errors
/// [`Error::Plot`] if plotters fails.
pub fn confusion(title: &str, panels: &[(String, Confusion)], columns: usize) -> Result<String> {
    register_font();
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let (pw, ph) = (250u32, 210u32);
    let mut svg = String::new();
    {
        let size = (pw * columns as u32, ph * rows as u32 + 44);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let body = root.titled(title, (FONT, 22)).map_err(plot_error)?;
        for (area, (name, c)) in body.split_evenly((rows, columns)).iter().zip(panels) {
            confusion_panel(area, name, c)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn confusion_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    name: &str,
    c: &Confusion,
) -> Result<()> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    fn centered(size: u32, color: &RGBColor) -> TextStyle<'_> {
        TextStyle::from((FONT, size).into_font())
            .color(color)
            .pos(Pos::new(HPos::Center, VPos::Center))
    }
    let right = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let (x0, y0, cw, ch) = (92i32, 62i32, 72i32, 56i32);
    let ink = RGBColor(34, 34, 34);
    let draw = |e: Text<'_, (i32, i32), String>| area.draw(&e).map_err(plot_error);
    // Titles centre over the grid, not the panel: the row labels sit to its left.
    let mid = x0 + cw;
    for (k, line) in name.lines().enumerate() {
        let size = if k == 0 { 15 } else { 12 };
        draw(Text::new(
            line.to_string(),
            (mid, 12 + 16 * k as i32),
            centered(size, &ink),
        ))?;
    }
    for (k, label) in ["predicted hit", "predicted miss"].iter().enumerate() {
        let x = x0 + cw * k as i32 + cw / 2;
        draw(Text::new(
            label.to_string(),
            (x, y0 - 12),
            centered(12, &ink),
        ))?;
    }
    // Rows: actual hits (TP, FN), actual misses (FP, TN).
    let cells = [[c.tp, c.fn_], [c.fp, c.tn]];
    let base = PALETTE[0];
    for (r, (label, counts)) in ["actual hit", "actual miss"].iter().zip(cells).enumerate() {
        let y = y0 + ch * r as i32;
        draw(Text::new(
            label.to_string(),
            (x0 - 6, y + ch / 2),
            right.clone(),
        ))?;
        let total = (counts[0] + counts[1]).max(1) as f64;
        for (k, &n) in counts.iter().enumerate() {
            let share = n as f64 / total;
            let mix = |b: u8| (255.0 - (255.0 - f64::from(b)) * share).round() as u8;
            let fill = RGBColor(mix(base.0), mix(base.1), mix(base.2));
            let x = x0 + cw * k as i32;
            area.draw(&Rectangle::new([(x, y), (x + cw, y + ch)], fill.filled()))
                .map_err(plot_error)?;
            area.draw(&Rectangle::new(
                [(x, y), (x + cw, y + ch)],
                RGBColor(200, 200, 200).stroke_width(1),
            ))
            .map_err(plot_error)?;
            let text = if share > 0.55 { WHITE } else { ink };
            let (cx, cy) = (x + cw / 2, y + ch / 2);
            draw(Text::new(n.to_string(), (cx, cy - 8), centered(16, &text)))?;
            let pct = format!("{:.1} %", 100.0 * share);
            draw(Text::new(pct, (cx, cy + 11), centered(12, &text)))?;
        }
    }
    Ok(())
}

impl crate::eval::WhatIf {
    /// The what-if curves as an SVG line chart.
    ///
    /// # Errors
    /// [`Error::Plot`] if plotters fails.
    pub fn to_svg(&self) -> Result<String> {
        let series: Vec<Series> = self
            .curves
            .iter()
            .map(|(name, p)| Series {
                name: name.clone(),
                points: self.grid.iter().copied().zip(p.iter().copied()).collect(),
            })
            .collect();
        let (lo, hi) = (self.grid[0], self.grid[self.grid.len() - 1]);
        lines(
            &format!("What if {} changes?", self.feature),
            &Axes {
                x_label: &self.feature,
                y_label: "hit probability",
                x_range: (lo, hi.max(lo + 1e-9)),
                y_range: (0.0, 1.0),
                diagonal: false,
                legend: Legend::UpperLeft,
            },
            &series,
        )
    }
}
