//! Seeded, deterministic ways to divide a dataset into training and test rows.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Row indices (into the dataset) of one train/test division, each sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Shuffled row indices of each class among `rows`: `[non-hits, hits]`.
fn by_class(y: &[u8], rows: &[usize], rng: &mut ChaCha8Rng) -> [Vec<usize>; 2] {
    let mut classes = [Vec::new(), Vec::new()];
    for &i in rows {
        classes[usize::from(y[i] == 1)].push(i);
    }
    for c in &mut classes {
        c.shuffle(rng);
    }
    classes
}

/// Holds out `test_fraction` of each class at random.
///
/// # Errors
/// [`Error::Param`] if the fraction is not in (0, 1); [`Error::Data`] if a class would end up
/// with no rows on one side.
pub fn stratified_holdout(y: &[u8], test_fraction: f64, seed: u64) -> Result<Split> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::param(
            "test_fraction",
            test_fraction,
            "must be in (0, 1)",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<usize> = (0..y.len()).collect();
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for (class, members) in by_class(y, &rows, &mut rng).into_iter().enumerate() {
        let n_test = (members.len() as f64 * test_fraction).round() as usize;
        if n_test == 0 || n_test == members.len() {
            return Err(Error::Data(format!(
                "cannot hold out {test_fraction} of class {class}: it has {} rows",
                members.len()
            )));
        }
        split.test.extend_from_slice(&members[..n_test]);
        split.train.extend_from_slice(&members[n_test..]);
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

/// Stratified k-fold over `rows`: each fold's test part holds about 1/k of each class.
///
/// # Errors
/// [`Error::Param`] if `k < 2`; [`Error::Data`] if a class has fewer than `k` rows, which
/// would leave a fold without it.
pub fn stratified_kfold(y: &[u8], rows: &[usize], k: usize, seed: u64) -> Result<Vec<Split>> {
    if k < 2 {
        return Err(Error::param("k", k, "needs at least 2 folds"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let classes = by_class(y, rows, &mut rng);
    for (class, members) in classes.iter().enumerate() {
        if members.len() < k {
            return Err(Error::Data(format!(
                "{k}-fold cross-validation needs at least {k} rows of each class; class {class} has {}",
                members.len()
            )));
        }
    }
    let mut fold_of = vec![usize::MAX; y.len()];
    for members in &classes {
        for (pos, &i) in members.iter().enumerate() {
            fold_of[i] = pos % k;
        }
    }
    let mut sorted_rows = rows.to_vec();
    sorted_rows.sort_unstable();
    Ok((0..k)
        .map(|f| {
            let (test, train) = sorted_rows.iter().partition(|&&i| fold_of[i] == f);
            Split { train, test }
        })
        .collect())
}

/// Tests on the rows whose group is one of `test_groups` (e.g. the 2010s), trains on the rest.
///
/// # Errors
/// [`Error::Data`] if either side is empty.
pub fn split_by_group(group: &[String], test_groups: &[String]) -> Result<Split> {
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..group.len()).partition(|&i| test_groups.contains(&group[i]));
    check_sides(Split { train, test }, "group split")
}

/// Tests on the rows flagged in `is_test` (e.g. an `is_test` column or a split file).
///
/// # Errors
/// [`Error::Data`] if either side is empty.
pub fn split_by_rows(is_test: &[bool]) -> Result<Split> {
    let (test, train): (Vec<usize>, Vec<usize>) = (0..is_test.len()).partition(|&i| is_test[i]);
    check_sides(Split { train, test }, "row split")
}

fn check_sides(split: Split, what: &str) -> Result<Split> {
    if split.train.is_empty() || split.test.is_empty() {
        return Err(Error::Data(format!(
            "{what} leaves {} training and {} test rows; both must be non-empty",
            split.train.len(),
            split.test.len()
        )));
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, every: usize) -> Vec<u8> {
        (0..n).map(|i| u8::from(i % every == 0)).collect()
    }

    #[test]
    fn holdout_is_stratified_disjoint_and_seeded() {
        let y = labels(1000, 5);
        let s = stratified_holdout(&y, 0.25, 7).unwrap();
        assert_eq!(s.train.len() + s.test.len(), 1000);
        let test_pos = s.test.iter().filter(|&&i| y[i] == 1).count();
        assert_eq!(test_pos, 50);
        assert!(s.train.iter().all(|i| s.test.binary_search(i).is_err()));
        assert_eq!(s, stratified_holdout(&y, 0.25, 7).unwrap());
        assert_ne!(s, stratified_holdout(&y, 0.25, 8).unwrap());
    }

    #[test]
    fn kfold_covers_every_row_once_with_balanced_classes() {
        let y = labels(503, 4);
        let rows: Vec<usize> = (0..503).collect();
        let folds = stratified_kfold(&y, &rows, 5, 1).unwrap();
        let mut seen = vec![0; 503];
        for f in &folds {
            for &i in &f.test {
                seen[i] += 1;
            }
            assert_eq!(f.train.len() + f.test.len(), 503);
            let pos = f.test.iter().filter(|&&i| y[i] == 1).count();
            assert!((25..=26).contains(&pos), "fold has {pos} hits");
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn kfold_rejects_a_class_smaller_than_k() {
        let y = vec![1, 1, 0, 0, 0, 0, 0, 0];
        let rows: Vec<usize> = (0..8).collect();
        let err = stratified_kfold(&y, &rows, 5, 1).unwrap_err().to_string();
        assert!(err.contains("class 1 has 2"), "{err}");
    }

    #[test]
    fn group_split_keeps_groups_apart() {
        let g: Vec<String> = ["1990", "2010", "2000", "2010"].map(String::from).to_vec();
        let s = split_by_group(&g, &["2010".to_string()]).unwrap();
        assert_eq!(s.test, vec![1, 3]);
        assert_eq!(s.train, vec![0, 2]);
        assert!(split_by_group(&g, &["1960".to_string()]).is_err());
    }
}
