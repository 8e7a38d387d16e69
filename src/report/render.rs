//! Markdown and HTML renderings of a [`Report`]. Both are pure functions of the report and
//! its figures, so the same report always renders to the same bytes.

use std::fmt::Write as _;

use super::{Figures, Report};

fn best(report: &Report) -> &super::ModelReport {
    report
        .models
        .iter()
        .max_by(|a, b| a.holdout.roc_auc.total_cmp(&b.holdout.roc_auc))
        .expect("a report has three models")
}

/// The takeaway in words: the paired ranking ([`super::ranking`]), the distance to the
/// oracle on synthetic data, and what the top model leans on.
pub fn takeaway(report: &Report) -> String {
    let b = best(report);
    let mut s = super::ranking(report);
    if let Some(o) = report.oracle_roc_auc {
        let _ = write!(
            s,
            " The true hit probabilities score {o:.3}, so {} is {:.3} from the best any model could do.",
            b.title,
            o - b.holdout.roc_auc
        );
    }
    let mut perm: Vec<_> = b.importance.permutation.iter().collect();
    perm.sort_by(|x, y| y.mean.total_cmp(&x.mean));
    if perm.len() >= 2 {
        let _ = write!(
            s,
            " Its predictions lean most on {} and {}.",
            perm[0].feature, perm[1].feature
        );
    }
    s
}

/// `REPORT.md`: renders on GitHub, embeds the figures from `figures/`.
pub fn render_markdown(report: &Report, figures: &Figures) -> String {
    let m = &report.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# HitCast report\n");
    let _ = writeln!(s, "{}\n", takeaway(report));
    s.push_str(&super::honest::data_checks_markdown(report));
    let _ = writeln!(s, "## Data\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| source | {} |", m.data_source);
    let _ = writeln!(s, "| SHA-256 (normalised CSV) | `{}` |", m.data_sha256);
    let _ = writeln!(
        s,
        "| tracks | {} ({:.1} % hits) |",
        m.rows,
        100.0 * m.hit_rate
    );
    let _ = writeln!(
        s,
        "| train / holdout | {} / {} |",
        m.train_rows, m.test_rows
    );
    let _ = writeln!(s, "| split | {} |", m.split_rule);
    let _ = writeln!(s, "| features | {} |", m.features.join(", "));
    let _ = writeln!(s, "| seed | {} |", m.seed);
    let _ = writeln!(s, "| hitcast | {} |\n", m.crate_version);
    s.push_str(&super::honest::data_card_markdown(&report.data_card));
    let _ = writeln!(s, "## Holdout metrics\n");
    let _ = writeln!(
        s,
        "Accuracy, precision, recall and F1 at threshold 0.5; PR AUC is average precision. ROC AUC and PR AUC carry 95 % intervals from the paired bootstrap below.\n"
    );
    let _ = writeln!(
        s,
        "| model | accuracy | precision | recall | F1 | ROC AUC | PR AUC | Brier | log loss | CV ROC AUC (k = {}) |",
        m.options.cv_folds
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for r in &report.models {
        let h = &r.holdout;
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} ({:.3}–{:.3}) | {:.4} ({:.3}–{:.3}) | {:.4} | {:.4} | {:.4} ± {:.4} |",
            r.title, h.accuracy, h.precision, h.recall, h.f1, h.roc_auc, h.roc_auc_ci[0], h.roc_auc_ci[1], h.pr_auc, h.pr_auc_ci[0], h.pr_auc_ci[1], h.brier, h.log_loss, r.cv.roc_auc_mean, r.cv.roc_auc_sd
        );
    }
    if let Some(o) = report.oracle_roc_auc {
        let _ = writeln!(
            s,
            "| *oracle (true probabilities)* | | | | | {o:.4} | | | | |"
        );
    }
    s.push('\n');
    s.push_str(&super::honest::comparison_markdown(report));
    let _ = writeln!(
        s,
        "![ROC curves](figures/roc.svg)\n\n![Precision–recall curves](figures/pr.svg)\n"
    );
    if let Some(o) = &report.out_of_time {
        s.push_str(&super::honest::out_of_time_markdown(o));
    }
    let _ = writeln!(s, "## Decisions: confusion matrices\n");
    let _ = writeln!(
        s,
        "The F1-optimal threshold is chosen on the training folds' out-of-fold predictions, never on the holdout.\n"
    );
    let _ = writeln!(
        s,
        "| model | threshold | TP | FP | TN | FN | F1 |\n|---|---|---|---|---|---|---|"
    );
    for r in &report.models {
        for c in [
            &r.holdout.confusion_at_05,
            &r.holdout.confusion_at_f1_threshold,
        ] {
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} | {} | {} | {:.4} |",
                r.title,
                c.threshold,
                c.tp,
                c.fp,
                c.tn,
                c.fn_,
                c.f1()
            );
        }
    }
    let _ = writeln!(s, "\n![Confusion matrices](figures/confusion.svg)\n");
    let _ = writeln!(s, "## Calibration\n");
    let _ = writeln!(s, "| model | expected calibration error |\n|---|---|");
    for r in &report.models {
        let _ = writeln!(s, "| {} | {:.4} |", r.title, r.calibration.ece);
    }
    let _ = writeln!(s, "\n![Calibration](figures/calibration.svg)\n");
    let _ = writeln!(s, "## What drives the predictions\n");
    let sampled = if m.test_rows > crate::eval::PERMUTATION_MAX_ROWS {
        format!(
            ", on a seeded random sample of {} of the {} holdout rows",
            crate::eval::PERMUTATION_MAX_ROWS,
            m.test_rows
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "Permutation importance: drop in holdout ROC AUC when one feature is shuffled (mean ± sd over {} seeded repeats{sampled}).\n",
        m.options.permutation_repeats
    );
    let mut header = String::from("| feature |");
    let mut rule = String::from("|---|");
    for r in &report.models {
        let _ = write!(header, " {} perm. | {} native |", r.title, r.title);
        rule.push_str("---|---|");
    }
    let _ = writeln!(s, "{header}\n{rule}");
    for (j, f) in m.features.iter().enumerate() {
        let _ = write!(s, "| {f} |");
        for r in &report.models {
            let p = &r.importance.permutation[j];
            let _ = write!(
                s,
                " {:.4} ± {:.4} | {:.3} |",
                p.mean,
                p.sd,
                r.importance.native.get(f).copied().unwrap_or(0.0)
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\nNative importance: ");
    for r in &report.models {
        let _ = writeln!(s, "- {}: {}", r.title, r.importance.native_kind);
    }
    let _ = writeln!(
        s,
        "\n![Permutation importance](figures/importance_permutation.svg)\n\n![Native importance](figures/importance_native.svg)\n"
    );
    super::shap::markdown(report, &mut s);
    let _ = writeln!(s, "### Partial dependence\n");
    for f in &m.features {
        let _ = writeln!(
            s,
            "![Partial dependence on {f}](figures/partial_dependence_{f}.svg)\n"
        );
    }
    s.push_str(&top_markdown(&report.top100));
    let _ = writeln!(s, "## Feature distributions, hits vs non-hits\n");
    for f in &m.features {
        let _ = writeln!(s, "![{f}](figures/distribution_{f}.svg)\n");
    }
    let listed = figures.len();
    let _ = writeln!(
        s,
        "---\n{listed} figures in `figures/`; all numbers in `metrics.json`; every holdout row's probabilities in `predictions.csv`. Regenerate with `just report` (same seed → same bytes)."
    );
    s
}

/// `## Top-100 vs all tracks`, or `## Hits vs non-hits` when the data has no popularity.
fn top_markdown(top: &crate::eval::TopProfile) -> String {
    let mut s = String::new();
    let by_class = top.features.iter().all(|t| t.non_hit_mean.is_some());
    if by_class {
        let _ = writeln!(s, "## Hits vs non-hits\n");
        let _ = writeln!(s, "Compared: {}.\n", top.rule);
        let _ = writeln!(
            s,
            "| feature | hits mean | non-hits mean | all-data mean |\n|---|---|---|---|"
        );
    } else {
        let _ = writeln!(s, "## Top-100 vs all tracks\n");
        let _ = writeln!(s, "Top-100: {}.\n", top.rule);
        let _ = writeln!(
            s,
            "| feature | Top-100 mean | all-data mean |\n|---|---|---|"
        );
    }
    for t in &top.features {
        let _ = match t.non_hit_mean.filter(|_| by_class) {
            Some(other) => writeln!(
                s,
                "| {} | {:.3} | {:.3} | {:.3} |",
                t.feature, t.top_mean, other, t.all_mean
            ),
            None => writeln!(
                s,
                "| {} | {:.3} | {:.3} |",
                t.feature, t.top_mean, t.all_mean
            ),
        };
    }
    let _ = writeln!(
        s,
        "\n![{} profile](figures/top100_profile.svg)\n",
        top.label
    );
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `report.html`: one self-contained page (figures inline, no external assets).
pub fn render_html(report: &Report, figures: &Figures) -> String {
    let md = render_markdown(report, figures);
    let mut body = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with('|') {
            if t.starts_with("|---") {
                continue;
            }
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            body.push_str("<tr>");
            for c in cells {
                let _ = write!(
                    body,
                    "<td>{}</td>",
                    escape(&c.replace("**", "").replace('`', ""))
                );
            }
            body.push_str("</tr>\n");
            continue;
        }
        if in_table {
            body.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = t.strip_prefix("### ") {
            let _ = writeln!(body, "<h3>{}</h3>", escape(h));
        } else if let Some(h) = t.strip_prefix("## ") {
            let _ = writeln!(body, "<h2>{}</h2>", escape(h));
        } else if let Some(h) = t.strip_prefix("# ") {
            let _ = writeln!(body, "<h1>{}</h1>", escape(h));
        } else if let Some(rest) = t.strip_prefix("![") {
            if let Some((_, path)) = rest.split_once("](figures/") {
                let name = path.trim_end_matches(')');
                if let Some(svg) = figures.get(name) {
                    let _ = writeln!(body, "<figure>{svg}</figure>");
                }
            }
        } else if let Some(item) = t.strip_prefix("- ") {
            let _ = writeln!(
                body,
                "<p>• {}</p>",
                escape(&item.replace("**", "").replace('`', ""))
            );
        } else if !t.is_empty() && t != "---" {
            let _ = writeln!(
                body,
                "<p>{}</p>",
                escape(&t.replace("**", "").replace('`', "").replace("> ", ""))
            );
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>HitCast report</title>\n<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}tr:first-child td{{font-weight:bold;background:#f4f4f4}}figure{{margin:1em 0}}svg{{max-width:100%;height:auto}}</style></head>\n<body>\n{body}</body></html>\n"
    )
}
