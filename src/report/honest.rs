//! The parts of the report that keep its claims honest: the data card and the data checks,
//! the holdout intervals and the paired ranking sentence, the out-of-time section in words
//! ([`eval::out_of_time`](crate::eval::out_of_time) measures it), and the
//! per-row predictions (`predictions.csv`) from which any metric can be recomputed.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{ModelReport, Report};
use crate::data::{csv_field, Dataset, Layout, Prepared};
use crate::eval;
pub use crate::eval::{OutOfTime, OutOfTimeModel, PeriodScore};

/// What the data is, how the label was made, and what to keep in mind before quoting a
/// number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataCard {
    /// `synthetic` or the file name, with the layout.
    pub source: String,
    /// Rows read (the generator's or the file's).
    pub rows_read: usize,
    /// Rows modelled.
    pub rows: usize,
    /// Rows dropped as repeats of an earlier track id.
    pub duplicates_dropped: usize,
    /// How rows are kept together across splits.
    pub grouping: String,
    /// The label in words, e.g. `track_popularity >= 61 (quantile 0.8 of 28,356 distinct tracks)`.
    pub label_rule: String,
    /// The resolved popularity cut, when the label comes from popularity.
    pub threshold: Option<f64>,
    /// Tracks whose popularity equals the cut (all counted as hits).
    pub ties_at_cut: Option<usize>,
    pub hit_rate: f64,
    /// The column each row's period came from, when there is one.
    pub time_column: Option<String>,
    /// Known caveats of the source.
    pub caveats: Vec<String>,
}

const POPULARITY_CAVEAT: &str = "Spotify popularity is computed from how many plays a track has had and how recent they are, at the time the data was downloaded: a popularity label marks what was streamed then, not a chart position";
const SYNTHETIC_CAVEAT: &str = "generated data: features and labels follow a known formula (README, Synthetic data) and names are random placeholders, so the report shows how the models behave, not what makes a real hit";

/// The data card of a prepared dataset.
pub fn data_card(prepared: &Prepared, data_source: &str) -> DataCard {
    let d = &prepared.dataset;
    let hit_rate = d.positives() as f64 / d.len().max(1) as f64;
    let grouping = prepared.group_by.to_string();
    match &prepared.ingest {
        Some(r) => {
            let mut caveats: Vec<String> =
                r.layout.caveat().map(str::to_string).into_iter().collect();
            if r.threshold.is_some() || r.layout == Layout::Popularity {
                caveats.push(POPULARITY_CAVEAT.to_string());
            }
            DataCard {
                source: format!("{data_source} ({})", r.layout),
                rows_read: r.rows_raw,
                rows: d.len(),
                duplicates_dropped: r.duplicates_dropped,
                grouping,
                label_rule: r.label_rule.clone(),
                threshold: r.threshold,
                ties_at_cut: r.ties_at_cut,
                hit_rate,
                time_column: r.time_column.clone(),
                caveats,
            }
        }
        None => {
            let read = prepared.rows_read.max(d.len());
            DataCard {
                source: data_source.to_string(),
                rows_read: read,
                rows: d.len(),
                duplicates_dropped: read - d.len(),
                grouping,
                label_rule: "a Bernoulli draw from each track's true hit probability".into(),
                threshold: None,
                ties_at_cut: None,
                hit_rate,
                time_column: prepared.period.as_ref().map(|_| "decade".to_string()),
                caveats: vec![SYNTHETIC_CAVEAT.to_string()],
            }
        }
    }
}

/// `1960s–2000s` or `2010s`.
pub fn decades_label(d: &[i64]) -> String {
    match d {
        [] => String::new(),
        [one] => format!("{one}s"),
        [first, .., last] => format!("{first}s–{last}s"),
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    })
}

/// `0.010–0.030`, or one number when both ends round alike.
fn span((lo, hi): (f64, f64)) -> String {
    let (a, b) = (format!("{lo:.3}"), format!("{hi:.3}"));
    if a == b {
        a
    } else {
        format!("{a}–{b}")
    }
}

/// Which way the out-of-time models moved against the random-split ones, and by how much.
pub(super) fn out_of_time_summary(o: &OutOfTime) -> String {
    let rows = o.models.first().map_or(0, |m| m.random_split.rows);
    let moves: Vec<String> = o
        .models
        .iter()
        .map(|m| {
            let d = m.out_of_time.roc_auc - m.random_split.roc_auc;
            format!(
                "{} {} by {:.3} ({:.3} → {:.3})",
                m.title,
                if d < 0.0 { "lower" } else { "higher" },
                d.abs(),
                m.random_split.roc_auc,
                m.out_of_time.roc_auc
            )
        })
        .collect();
    let ece_random = range(o.models.iter().map(|m| m.random_split.ece));
    let ece_oot = range(o.models.iter().map(|m| m.out_of_time.ece));
    format!(
        "Trained on the {} only and tested on the {}, the models' ROC AUC on the same {rows} {} holdout rows, against the random-split models: {}. Expected calibration error goes from {} to {}.",
        decades_label(&o.train_periods),
        decades_label(&o.test_periods),
        decades_label(&o.test_periods),
        moves.join("; "),
        span(ece_random),
        span(ece_oot)
    )
}

/// Every holdout row's probability under each model, and the out-of-time rows' under the
/// out-of-time models: `predictions.csv`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    pub models: Vec<String>,
    pub ids: Vec<String>,
    /// `holdout` or `out_of_time`.
    pub side: Vec<&'static str>,
    pub y: Vec<u8>,
    /// Per model, one probability per row.
    pub p: Vec<Vec<f64>>,
}

impl Predictions {
    pub(super) fn push(
        &mut self,
        data: &Dataset,
        rows: &[usize],
        side: &'static str,
        p: &[Vec<f64>],
    ) {
        self.ids.extend(rows.iter().map(|&i| data.ids[i].clone()));
        self.y.extend(rows.iter().map(|&i| data.y[i]));
        self.side.extend(std::iter::repeat_n(side, rows.len()));
        if self.p.is_empty() {
            self.p = vec![Vec::new(); p.len()];
        }
        for (col, new) in self.p.iter_mut().zip(p) {
            col.extend_from_slice(new);
        }
    }

    /// `track_id,side,target,p_<model>…`, one line per row; probabilities written in full
    /// (shortest round-trip form), so a metric recomputed from the file is the report's.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("track_id,side,target");
        for m in &self.models {
            let _ = write!(s, ",p_{m}");
        }
        s.push('\n');
        for i in 0..self.ids.len() {
            let _ = write!(
                s,
                "{},{},{}",
                csv_field(&self.ids[i]),
                self.side[i],
                self.y[i]
            );
            for col in &self.p {
                let _ = write!(s, ",{}", col[i]);
            }
            s.push('\n');
        }
        s
    }
}

fn interval_text(i: &eval::Interval) -> String {
    format!("{:.3}–{:.3}", i.lower, i.upper)
}

fn signed_interval(i: &eval::Interval) -> String {
    format!("{:+.3} to {:+.3}", i.lower, i.upper)
}

/// The ROC AUC difference `a − b` from the report's paired bootstrap, whichever way it was
/// stored.
fn difference(report: &Report, a: &str, b: &str) -> Option<eval::Interval> {
    report.bootstrap.differences.iter().find_map(|d| {
        if d.a == a && d.b == b {
            Some(d.roc_auc)
        } else if d.a == b && d.b == a {
            Some(eval::Interval {
                estimate: -d.roc_auc.estimate,
                lower: -d.roc_auc.upper,
                upper: -d.roc_auc.lower,
            })
        } else {
            None
        }
    })
}

/// The ranking sentences: the best model by holdout ROC AUC with its interval, each other
/// model compared with it on the same rows (indistinguishable when the interval of the
/// difference covers 0), cross-validation's order when it disagrees, and the gap to the linear
/// model as a measured difference, never as a cause.
pub fn ranking(report: &Report) -> String {
    let mut order: Vec<&ModelReport> = report.models.iter().collect();
    order.sort_by(|a, b| b.holdout.roc_auc.total_cmp(&a.holdout.roc_auc));
    let Some(best) = order.first() else {
        return String::new();
    };
    let diffs: Vec<(&ModelReport, eval::Interval)> = order[1..]
        .iter()
        .filter_map(|m| difference(report, best.family.name(), m.family.name()).map(|d| (*m, d)))
        .collect();
    let ties: Vec<&(&ModelReport, eval::Interval)> =
        diffs.iter().filter(|(_, d)| d.covers(0.0)).collect();
    let h = &best.holdout;
    let best_text = format!(
        "ROC AUC {:.3}, 95 % interval {}; cross-validated {:.3} ± {:.3}",
        h.roc_auc,
        interval_text(&ci(h.roc_auc_ci, h.roc_auc)),
        best.cv.roc_auc_mean,
        best.cv.roc_auc_sd
    );
    let mut s = if ties.is_empty() {
        format!(
            "{} ranks hits best on the holdout ({best_text}).",
            best.title
        )
    } else {
        let mut names: Vec<&str> = vec![best.title.as_str()];
        names.extend(ties.iter().map(|(m, _)| m.title.as_str()));
        let last = names.pop().unwrap_or_default();
        // The linear model's gap gets its own sentence below.
        let gaps: Vec<String> = ties
            .iter()
            .filter(|(m, _)| !m.family.is_linear())
            .map(|(m, d)| {
                format!(
                    " {} scores {:.3}: {:.3} lower, 95 % interval {}, which covers 0.",
                    m.title,
                    m.holdout.roc_auc,
                    d.estimate,
                    signed_interval(d)
                )
            })
            .collect();
        format!(
            "{} and {last} are indistinguishable on the holdout: {} has the highest score ({best_text}), but the paired interval of its difference to the others covers 0.{}",
            names.join(", "),
            best.title,
            gaps.concat()
        )
    };
    for (m, d) in diffs.iter().filter(|(_, d)| !d.covers(0.0)) {
        if m.family.is_linear() {
            continue;
        }
        let _ = write!(
            s,
            " {} ranks lower by {:.3} (95 % interval {}).",
            m.title,
            d.estimate,
            signed_interval(d)
        );
    }
    // Cross-validation's order of the top two when it disagrees with the holdout's.
    if let Some(second) = order.get(1) {
        if second.cv.roc_auc_mean > best.cv.roc_auc_mean {
            let _ = write!(
                s,
                " Cross-validation on the training rows orders these two the other way ({} {:.4} vs {} {:.4}).",
                second.title, second.cv.roc_auc_mean, best.title, best.cv.roc_auc_mean
            );
        }
    }
    if let Some(lr) = report.models.iter().find(|m| m.family.is_linear()) {
        if let (false, Some(d)) = (
            lr.family == best.family,
            difference(report, best.family.name(), lr.family.name()),
        ) {
            let verdict = if d.covers(0.0) {
                "which covers 0: this holdout cannot tell the two apart"
            } else {
                "a difference measured on these rows, not a measured cause"
            };
            let _ = write!(
                s,
                " Logistic regression, the linear model, reaches {:.3}, {:.3} below {} on the same rows (95 % interval {}), {verdict}.",
                lr.holdout.roc_auc,
                d.estimate,
                best.title,
                signed_interval(&d)
            );
        }
    }
    s
}

fn ci(pair: [f64; 2], estimate: f64) -> eval::Interval {
    eval::Interval {
        estimate,
        lower: pair[0],
        upper: pair[1],
    }
}

/// `## Data checks`: every warning, or that none fired, and what was checked.
pub fn data_checks_markdown(report: &Report) -> String {
    let mut s = String::from("## Data checks\n\n");
    s.push_str("Checked: repeated track ids and whether their copies disagree (label, popularity, features), near-duplicates (same title and artist under another id), tracks on both sides of a given split, constant features and values outside their usual range, tiny classes, known biased layouts.\n\n");
    if report.warnings.is_empty() {
        s.push_str("No check fired.\n\n");
    }
    for w in &report.warnings {
        let _ = writeln!(s, "- **Warning:** {w}");
    }
    if !report.warnings.is_empty() {
        s.push('\n');
    }
    s
}

/// `## Data card`: source, label, rows, grouping and caveats.
pub fn data_card_markdown(card: &DataCard) -> String {
    let mut s = String::from("## Data card\n\n| | |\n|---|---|\n");
    let _ = writeln!(s, "| source | {} |", card.source);
    let _ = writeln!(
        s,
        "| rows read / modelled | {} / {} ({} repeated rows dropped) |",
        card.rows_read, card.rows, card.duplicates_dropped
    );
    let _ = writeln!(s, "| label | {} |", card.label_rule);
    if let Some(t) = card.threshold {
        let _ = writeln!(
            s,
            "| resolved cut | {t} ({} tracks tie at the cut and count as hits) |",
            card.ties_at_cut.unwrap_or(0)
        );
    }
    let _ = writeln!(s, "| hit rate | {:.1} % |", 100.0 * card.hit_rate);
    let _ = writeln!(s, "| one side of every split per | {} |", card.grouping);
    if let Some(t) = &card.time_column {
        let _ = writeln!(s, "| period column | {t} |");
    }
    s.push('\n');
    for c in &card.caveats {
        let _ = writeln!(s, "- Caveat: {c}");
    }
    if !card.caveats.is_empty() {
        s.push('\n');
    }
    s
}

/// `### Paired comparison`: every two models' ROC AUC difference on the same holdout rows.
pub fn comparison_markdown(report: &Report) -> String {
    let b = &report.bootstrap;
    let mut s = format!(
        "### Paired comparison\n\nROC AUC of the first model minus the second's on the same holdout rows; 95 % intervals from {} stratified bootstrap resamples (seed {}). Where the interval covers 0, the holdout cannot tell the two apart.\n\n| models | ROC AUC difference | 95 % interval | verdict |\n|---|---|---|---|\n",
        b.resamples, b.seed
    );
    let title = |name: &str| {
        report
            .models
            .iter()
            .find(|m| m.family.name() == name)
            .map_or(name.to_string(), |m| m.title.clone())
    };
    for d in &b.differences {
        let _ = writeln!(
            s,
            "| {} − {} | {:+.4} | {:+.4} to {:+.4} | {} |",
            title(&d.a),
            title(&d.b),
            d.roc_auc.estimate,
            d.roc_auc.lower,
            d.roc_auc.upper,
            if d.indistinguishable() {
                "indistinguishable"
            } else if d.roc_auc.estimate > 0.0 {
                "first ranks better"
            } else {
                "second ranks better"
            }
        );
    }
    s.push('\n');
    s
}

/// `## Out of time`: the section, when the data has periods.
pub fn out_of_time_markdown(o: &OutOfTime) -> String {
    let mut s = String::from("## Out of time\n\n");
    let _ = writeln!(
        s,
        "The same three models trained on the {} only ({} rows) and tested on the {} ({} rows, period column `{}`), beside the random-split models of this report, both scored on the {} rows of the random holdout.\n",
        decades_label(&o.train_periods),
        o.train_rows,
        decades_label(&o.test_periods),
        o.test_rows,
        o.time_column,
        decades_label(&o.test_periods)
    );
    let _ = writeln!(s, "{}\n", o.summary);
    let _ = writeln!(
        s,
        "| model | ROC AUC random split | ROC AUC out of time | PR AUC random split | PR AUC out of time | ECE random split | ECE out of time | ROC AUC out of time, all {} rows |\n|---|---|---|---|---|---|---|---|",
        decades_label(&o.test_periods)
    );
    for m in &o.models {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
            m.title,
            m.random_split.roc_auc,
            m.out_of_time.roc_auc,
            m.random_split.pr_auc,
            m.out_of_time.pr_auc,
            m.random_split.ece,
            m.out_of_time.ece,
            m.out_of_time_all.roc_auc
        );
    }
    s.push('\n');
    s
}
