//! Figures of explanations: the SHAP summary (each feature a strip of tracks, contribution
//! along x, coloured by the feature's value) and dependence plots (contribution against the
//! feature's value).

use plotters::prelude::*;

use super::{plot_error, register_font, Axes, FONT, PALETTE, SIZE};
use crate::error::Result;

/// Colour from low (blue) to high (vermillion) for `t` in 0–1.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let (a, b) = (PALETTE[0], PALETTE[1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One strip per feature (top to bottom in the order given): `strips[k]` holds each track's
/// `(contribution, value share 0–1)`. Dots are spread vertically by a fixed pattern so the
/// figure is the same bytes on every run.
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn summary(
    title: &str,
    x_label: &str,
    features: &[String],
    strips: &[Vec<(f64, f64)>],
) -> Result<String> {
    register_font();
    let (lo, hi) = strips
        .iter()
        .flatten()
        .fold((0.0f64, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let n = features.len();
    let height = (100 + n * 48).max(300) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(130)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..n as f64)
            .map_err(plot_error)?;
        let names = features.to_vec();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&move |v: &f64| super::category_label(&names, *v))
            .x_desc(x_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (0.0, n as f64)],
                RGBColor(150, 150, 150).stroke_width(1),
            ))
            .map_err(plot_error)?;
        for (k, strip) in strips.iter().enumerate() {
            let centre = (n - 1 - k) as f64 + 0.5;
            chart
                .draw_series(strip.iter().enumerate().map(|(i, &(x, t))| {
                    // Golden-ratio spacing: an even, fixed spread in ±0.35.
                    let jitter = ((i as f64 * 0.618_033_988_749_895).fract() - 0.5) * 0.7;
                    Circle::new((x, centre + jitter), 2, shade(t).mix(0.7).filled())
                }))
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Contribution against value, one colour per series `(name, points)`.
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn dependence(
    title: &str,
    axes: &Axes,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<String> {
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
            .build_cartesian_2d(
                axes.x_range.0..axes.x_range.1,
                axes.y_range.0..axes.y_range.1,
            )
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(axes.x_label)
            .y_desc(axes.y_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_error)?;
        for (k, (name, points)) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 2, color.mix(0.6).filled())),
                )
                .map_err(plot_error)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        super::legend(&mut chart, axes.legend.clone())?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}
