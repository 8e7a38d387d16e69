//! Rich output in Jupyter (the evcxr kernel): evcxr calls a value's `evcxr_display` method
//! and renders what it prints between its content markers. Behind the `notebook` feature,
//! which needs no dependency: the plain build simply does not have these methods.

use std::fmt::Write as _;

use crate::data::{Dataset, Profile};
use crate::eval::WhatIf;
use crate::report::Report;

fn emit(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG figure that shows itself inline in a notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct Svg(pub String);

impl Svg {
    pub fn evcxr_display(&self) {
        emit("image/svg+xml", &self.0);
    }
}

impl Profile {
    pub fn evcxr_display(&self) {
        let mut h = format!(
            "<p>{} tracks, {} hits ({:.1} %)</p><table><tr><th>feature</th><th>hit min</th><th>hit mean</th><th>hit max</th><th>non-hit min</th><th>non-hit mean</th><th>non-hit max</th></tr>",
            self.rows,
            self.hits,
            100.0 * self.hit_rate
        );
        for f in &self.features {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
                escape(&f.name),
                f.hits[0],
                f.hits[1],
                f.hits[2],
                f.non_hits[0],
                f.non_hits[1],
                f.non_hits[2]
            );
        }
        h.push_str("</table>");
        emit("text/html", &h);
    }
}

impl Dataset {
    /// Shows the first ten tracks.
    pub fn evcxr_display(&self) {
        let mut h = String::from("<table><tr><th>track</th><th>artist</th>");
        for f in &self.feature_names {
            let _ = write!(h, "<th>{}</th>", escape(f));
        }
        if self.true_prob.is_some() {
            h.push_str("<th>true P(hit)</th>");
        }
        h.push_str("<th>hit</th></tr>");
        for i in 0..self.len().min(10) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td>",
                escape(&self.names[i]),
                escape(&self.artists[i])
            );
            for col in &self.x {
                let _ = write!(h, "<td>{}</td>", col[i]);
            }
            if let Some(t) = &self.true_prob {
                let _ = write!(h, "<td>{:.3}</td>", t[i]);
            }
            let _ = write!(h, "<td>{}</td></tr>", self.y[i]);
        }
        let _ = write!(
            h,
            "</table><p>{} tracks × {} features</p>",
            self.len(),
            self.n_features()
        );
        emit("text/html", &h);
    }
}

impl Report {
    /// Shows the holdout metrics table.
    pub fn evcxr_display(&self) {
        let mut h = String::from(
            "<table><tr><th>model</th><th>accuracy</th><th>F1</th><th>ROC AUC</th><th>PR AUC</th><th>Brier</th><th>log loss</th><th>CV ROC AUC</th><th>ECE</th></tr>",
        );
        for m in &self.models {
            let o = &m.holdout;
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4} ± {:.4}</td><td>{:.4}</td></tr>",
                m.title, o.accuracy, o.f1, o.roc_auc, o.pr_auc, o.brier, o.log_loss, m.cv.roc_auc_mean, m.cv.roc_auc_sd, m.calibration.ece
            );
        }
        if let Some(o) = self.oracle_roc_auc {
            let _ = write!(
                h,
                "<tr><td><i>oracle</i></td><td></td><td></td><td>{o:.4}</td></tr>"
            );
        }
        h.push_str("</table>");
        let _ = write!(h, "<p>{}</p>", escape(&crate::report::takeaway(self)));
        emit("text/html", &h);
    }
}

impl WhatIf {
    /// Shows the curves as an inline figure.
    pub fn evcxr_display(&self) {
        match self.to_svg() {
            Ok(svg) => emit("image/svg+xml", &svg),
            Err(e) => println!("{e}"),
        }
    }
}
