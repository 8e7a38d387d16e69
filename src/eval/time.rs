//! Out of time: every family trained on the earlier periods (decades) and tested on the
//! latest, beside the random-split models on the same rows.

use serde::{Deserialize, Serialize};

use super::{average_precision, calibration, fit_and_score, roc_auc};
use crate::data::Prepared;
use crate::error::Result;
use crate::model::{Family, ModelParams};

/// A model's ranking metrics on one set of rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeriodScore {
    pub rows: usize,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub ece: f64,
}

fn period_score(y: &[u8], p: &[f64], bins: usize) -> Result<PeriodScore> {
    Ok(PeriodScore {
        rows: y.len(),
        roc_auc: roc_auc(y, p)?,
        pr_auc: average_precision(y, p)?,
        ece: calibration(y, p, bins).ece,
    })
}

/// One model trained on the earlier periods and tested on the latest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutOfTimeModel {
    pub name: String,
    pub title: String,
    /// The out-of-time model on the latest period's rows that are also in the random holdout.
    pub out_of_time: PeriodScore,
    /// The random-split model (the report's) on the same rows.
    pub random_split: PeriodScore,
    /// The out-of-time model on every row of the latest period.
    pub out_of_time_all: PeriodScore,
}

/// Train on the earlier periods, test on the latest, beside the random-split models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutOfTime {
    pub time_column: String,
    /// Decades trained on (e.g. 1960 … 2000) and tested on (e.g. 2010).
    pub train_periods: Vec<i64>,
    pub test_periods: Vec<i64>,
    pub train_rows: usize,
    pub test_rows: usize,
    pub models: Vec<OutOfTimeModel>,
    /// What moved, in words.
    pub summary: String,
}

/// Share of all rows the latest periods must hold to be tested on.
const LATEST_SHARE: f64 = 0.1;

/// The latest decades holding at least [`LATEST_SHARE`] of the rows, and the decades before.
fn choose_periods(period: &[i64]) -> Option<(Vec<i64>, Vec<i64>)> {
    let mut decades: Vec<i64> = period.to_vec();
    decades.sort_unstable();
    decades.dedup();
    let mut test = Vec::new();
    let mut count = 0;
    while let Some(&d) = decades.last() {
        if count as f64 >= LATEST_SHARE * period.len() as f64 {
            break;
        }
        count += period.iter().filter(|&&p| p == d).count();
        test.insert(0, d);
        decades.pop();
    }
    (!decades.is_empty()).then_some((decades, test))
}

/// Whether the report's own split is already by time (then there is nothing to compare).
fn split_is_by_group(prepared: &Prepared) -> bool {
    prepared.split_rule.starts_with("test on groups")
}

/// The out-of-time section, the latest period's rows and each family's probabilities on them.
pub type OutOfTimeRun = (OutOfTime, Vec<usize>, Vec<Vec<f64>>);

/// Fits every family on the earlier periods and scores the latest. `random` holds the
/// report's models' holdout probabilities (rows of `prepared.split.test`), in family order.
/// `None` when the data has no period, a single one, or too few rows of a class. The
/// section's `summary` is left empty for the report to word.
///
/// # Errors
/// Fit and metric errors.
pub fn out_of_time(
    prepared: &Prepared,
    random: &[Vec<f64>],
    time_column: &str,
    params: &ModelParams,
    bins: usize,
    seed: u64,
) -> Result<Option<OutOfTimeRun>> {
    match OutOfTimeFit::fit(prepared, params, seed)? {
        Some(fit) => fit.score(prepared, random, time_column, bins).map(Some),
        None => Ok(None),
    }
}

/// The out-of-time models fitted and scored on the latest period, before they are set
/// beside the random-split models: the fit needs nothing from the report's own models, so
/// the report runs it alongside them.
#[derive(Debug)]
pub struct OutOfTimeFit {
    train_periods: Vec<i64>,
    test_periods: Vec<i64>,
    train_rows: usize,
    /// The latest period's rows.
    test: Vec<usize>,
    /// Positions in the random holdout of its rows in the latest period.
    shared: Vec<usize>,
    /// Each family's probabilities on `test`.
    fitted: Vec<Vec<f64>>,
}

impl OutOfTimeFit {
    /// Fits every family on the earlier periods and scores the latest period's rows; `None`
    /// as [`out_of_time`].
    ///
    /// # Errors
    /// Fit errors.
    pub fn fit(prepared: &Prepared, params: &ModelParams, seed: u64) -> Result<Option<Self>> {
        let (Some(period), false) = (&prepared.period, split_is_by_group(prepared)) else {
            return Ok(None);
        };
        let Some((train_periods, test_periods)) = choose_periods(period) else {
            return Ok(None);
        };
        let d = &prepared.dataset;
        let g = &prepared.groups;
        let is_test = |i: usize| test_periods.contains(&period[i]);
        let test: Vec<usize> = (0..d.len()).filter(|&i| is_test(i)).collect();
        // A track with rows in both periods is tested, never trained on.
        let mut tested = vec![false; g.iter().max().map_or(0, |m| m + 1)];
        for &i in &test {
            tested[g[i]] = true;
        }
        let train: Vec<usize> = (0..d.len()).filter(|&i| !tested[g[i]]).collect();
        let shared: Vec<usize> = (0..prepared.split.test.len())
            .filter(|&k| is_test(prepared.split.test[k]))
            .collect();
        let has_both = |rows: &mut dyn Iterator<Item = usize>| {
            let mut seen = [false; 2];
            for i in rows {
                seen[usize::from(d.y[i])] = true;
            }
            seen[0] && seen[1]
        };
        if !has_both(&mut train.iter().copied())
            || !has_both(&mut test.iter().copied())
            || !has_both(&mut shared.iter().map(|&k| prepared.split.test[k]))
        {
            return Ok(None);
        }
        let fitted = fit_and_score(params, d, &train, &d.subset(&test), seed)?;
        Ok(Some(OutOfTimeFit {
            train_periods,
            test_periods,
            train_rows: train.len(),
            test,
            shared,
            fitted,
        }))
    }

    /// The section: each out-of-time model beside the random-split one (`random`, as
    /// [`out_of_time`] takes it) on the rows both were tested on.
    ///
    /// # Errors
    /// Metric errors.
    pub fn score(
        self,
        prepared: &Prepared,
        random: &[Vec<f64>],
        time_column: &str,
        bins: usize,
    ) -> Result<OutOfTimeRun> {
        let d = &prepared.dataset;
        let OutOfTimeFit {
            train_periods,
            test_periods,
            train_rows,
            test,
            shared,
            fitted,
        } = self;
        // Position of each shared row among the latest period's rows.
        let at: std::collections::HashMap<usize, usize> =
            test.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let shared_y: Vec<u8> = shared
            .iter()
            .map(|&k| d.y[prepared.split.test[k]])
            .collect();
        let test_y: Vec<u8> = test.iter().map(|&i| d.y[i]).collect();
        let mut models = Vec::new();
        for ((family, oot), rand) in Family::ALL.iter().zip(&fitted).zip(random) {
            let oot_shared: Vec<f64> = shared
                .iter()
                .map(|&k| oot[at[&prepared.split.test[k]]])
                .collect();
            let rand_shared: Vec<f64> = shared.iter().map(|&k| rand[k]).collect();
            models.push(OutOfTimeModel {
                name: family.name().to_string(),
                title: family.title().to_string(),
                out_of_time: period_score(&shared_y, &oot_shared, bins)?,
                random_split: period_score(&shared_y, &rand_shared, bins)?,
                out_of_time_all: period_score(&test_y, oot, bins)?,
            });
        }
        let section = OutOfTime {
            time_column: time_column.to_string(),
            train_periods,
            test_periods,
            train_rows,
            test_rows: test.len(),
            models,
            summary: String::new(),
        };
        Ok((section, test, fitted))
    }
}
