//! The report's explanations in figures and words: the summary and dependence figures and
//! the Markdown section over [`explain::summarise`]'s sample of holdout tracks.

use std::fmt::Write as _;

use super::{Figures, Report};
use crate::error::Result;
use crate::explain;
use crate::plot;

/// The summary figure per model and a dependence figure for each model's top feature.
pub(super) fn figures(
    report: &Report,
    points: &[explain::ShapPoints],
    f: &mut Figures,
) -> Result<()> {
    let features = &report.meta.features;
    for (m, pts) in report.models.iter().zip(points) {
        let shap = plot::ShapSample {
            features,
            contributions: &pts.contributions,
            values: &pts.values,
            mean_abs: &m.shap.mean_abs,
        };
        f.insert(
            format!("shap_summary_{}.svg", m.family),
            plot::shap_summary_figure(&m.title, &shap)?,
        );
        f.insert(
            format!("shap_dependence_{}.svg", m.family),
            plot::shap_dependence_figure(&m.title, &shap)?,
        );
    }
    Ok(())
}

/// The Markdown section (after the importances).
pub(super) fn markdown(report: &Report, s: &mut String) {
    let with: Vec<_> = report.models.iter().map(|m| (m, &m.shap)).collect();
    let Some((_, first)) = with.first() else {
        return;
    };
    let _ = writeln!(s, "### Exact attributions (SHAP)\n");
    let _ = writeln!(
        s,
        "Mean |contribution| to the log-odds over {} evenly spaced holdout tracks: exact linear SHAP for logistic regression, path-dependent TreeSHAP over the training covers for the trees (the forest's probability contributions scaled to log-odds). `hitcast explain` gives them per track.\n",
        first.rows
    );
    let mut header = String::from("| feature |");
    let mut rule = String::from("|---|");
    for (m, _) in &with {
        let _ = write!(header, " {} |", m.title);
        rule.push_str("---|");
    }
    let _ = writeln!(s, "{header}\n{rule}");
    for f in &report.meta.features {
        let _ = write!(s, "| {f} |");
        for (_, x) in &with {
            let _ = write!(s, " {:.4} |", x.mean_abs.get(f).copied().unwrap_or(0.0));
        }
        s.push('\n');
    }
    let _ = write!(s, "| *base log-odds* |");
    for (_, x) in &with {
        let _ = write!(s, " {:.4} |", x.base);
    }
    s.push_str("\n\n");
    for (m, _) in &with {
        let _ = writeln!(
            s,
            "![SHAP summary: {}](figures/shap_summary_{}.svg)\n",
            m.title, m.family
        );
    }
    for (m, _) in &with {
        let _ = writeln!(
            s,
            "![SHAP dependence: {}](figures/shap_dependence_{}.svg)\n",
            m.title, m.family
        );
    }
    if !with.iter().any(|(_, x)| x.interactions.is_some()) {
        if with.iter().any(|(_, x)| x.interactions_skipped) {
            let _ = writeln!(
                s,
                "### Interactions against the generator's truth\n\nNot computed for these models: they use {} features, and beyond {} exact interaction values take the recursive algorithm (about a second of CPU per track and tree model with fifteen). The eleven features beyond the core four carry no signal by construction; their mean |SHAP| above shows how much each model leans on them anyway.\n",
                report.meta.features.len(),
                crate::explain::INTERACTION_MAX_FEATURES
            );
        }
        return;
    }
    let _ = writeln!(s, "### Interactions against the generator's truth\n");
    let _ = writeln!(
        s,
        "The synthetic data's true log-odds are z = b0 + 4.5·(d − 0.6) + 2·(e − 0.6) + 16·(d − 0.6)·(e − 0.6) + 2.5·exp(−((t − 120) / 12)²) − 8·(v − 0.55)²: one interaction, danceability × energy, and a tempo sweet spot near 120 BPM. SHAP interaction values (Lundberg et al. 2020) on {} holdout tracks show whether each model found them; a pair's share is its mean |interaction value| over the mean total (main effects included). The linear model has no interactions by construction.\n",
        with.iter()
            .find_map(|(_, x)| x.interactions.as_ref().map(|i| i.rows))
            .unwrap_or(0)
    );
    let _ = writeln!(
        s,
        "| model | top pair (share) | danceability × energy first | main effects share | tempo contribution at ≤ 90 BPM | within 12 BPM of 120 | at ≥ 150 BPM | sweet spot found (middle above both sides) |\n|---|---|---|---|---|---|---|---|"
    );
    for (m, x) in &with {
        let Some(i) = &x.interactions else { continue };
        let top = i
            .pairs
            .first()
            .filter(|q| q.share > 0.0)
            .map_or("none".to_string(), |q| {
                format!("{} × {} ({:.3})", q.a, q.b, q.share)
            });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {} | {} | {} | {} |",
            m.title,
            top,
            if i.danceability_energy_first {
                "yes"
            } else {
                "no"
            },
            i.main_share,
            signed(i.tempo_below_90),
            signed(i.tempo_near_120),
            signed(i.tempo_above_150),
            match i.sweet_spot_found() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "too few tracks to tell",
            }
        );
    }
    s.push('\n');
}

/// A signed mean, or a dash when no track fell in the band.
fn signed(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:+.3}"))
}
