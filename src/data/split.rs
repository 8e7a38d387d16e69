//! Seeded, deterministic ways to divide a dataset into training and test rows.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::checks::title_artist_key;
use super::Dataset;
use crate::error::{Error, Result};

/// Row indices (into the dataset) of one train/test division, each sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// How rows are kept together when a split is drawn: every row of a group lands on the same
/// side of the holdout and of every cross-validation fold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupBy {
    /// Rows with the same track id (the default).
    #[default]
    Track,
    /// Rows with the same track id or the same normalised title and artist (a single and its
    /// album version under two ids).
    TitleArtist,
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "track" | "track-id" => Ok(GroupBy::Track),
            "title-artist" => Ok(GroupBy::TitleArtist),
            other => Err(format!(
                "unknown grouping `{other}`: expected `track` or `title-artist`"
            )),
        }
    }
}

impl std::fmt::Display for GroupBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GroupBy::Track => "track id",
            GroupBy::TitleArtist => "track id or title and artist",
        })
    }
}

/// The split group of each row of `data`, numbered from 0 in order of first appearance: rows
/// share a group when they share a track id or, with [`GroupBy::TitleArtist`], a normalised
/// title and artist (transitively).
pub fn split_groups(data: &Dataset, by: GroupBy) -> Vec<usize> {
    let n = data.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // Keys are borrowed where they can be: the ids are not copied (a million of them at 1M
    // rows).
    fn union_by<K: std::hash::Hash + Eq>(
        parent: &mut [usize],
        keys: impl Iterator<Item = (usize, K)>,
    ) {
        use std::collections::hash_map::Entry;
        // Sized for every key up front and hashed once per key: growing rehashed them all
        // again at each doubling (a third of the 1M-row report's start).
        let mut first: HashMap<K, usize> = HashMap::with_capacity(keys.size_hint().1.unwrap_or(0));
        for (i, key) in keys {
            match first.entry(key) {
                Entry::Occupied(e) => {
                    let (a, b) = (root(parent, *e.get()), root(parent, i));
                    // The smaller root wins, so groups are numbered by their first row.
                    let (lo, hi) = (a.min(b), a.max(b));
                    parent[hi] = lo;
                }
                Entry::Vacant(e) => {
                    e.insert(i);
                }
            }
        }
    }
    union_by(&mut parent, (0..n).map(|i| (i, data.ids[i].as_str())));
    if by == GroupBy::TitleArtist {
        union_by(
            &mut parent,
            (0..n).filter_map(|i| title_artist_key(data, i).map(|k| (i, k))),
        );
    }
    let mut number = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let r = root(&mut parent, i);
            if number[r] == usize::MAX {
                number[r] = next;
                next += 1;
            }
            number[r]
        })
        .collect()
}

/// Groups with rows on both sides of `split` (0 for any split drawn by group).
pub fn groups_on_both_sides(groups: &[usize], split: &Split) -> usize {
    let n = groups.iter().max().map_or(0, |m| m + 1);
    let mut side = vec![0u8; n];
    for &i in &split.train {
        side[groups[i]] |= 1;
    }
    for &i in &split.test {
        side[groups[i]] |= 2;
    }
    side.iter().filter(|&&s| s == 3).count()
}

/// The groups among `rows` in order of first appearance, each with its rows and its class
/// (a hit if any of its rows is).
struct Grouped {
    /// Every group's rows, one group after another (a group's rows in `rows` order).
    members: Vec<usize>,
    /// Group `g`'s rows are `members[starts[g]..starts[g + 1]]`.
    starts: Vec<usize>,
    label: Vec<u8>,
}

impl Grouped {
    fn len(&self) -> usize {
        self.label.len()
    }

    fn rows(&self, g: usize) -> &[usize] {
        &self.members[self.starts[g]..self.starts[g + 1]]
    }
}

/// The groups of `rows` in order of first appearance, each a hit if any of its rows is. Group
/// ids are looked up in a table when they are dense (as `split_groups` makes them), else in a
/// map; one flat list holds the rows, not one vector per group (a million groups at 1M rows).
fn grouped(y: &[u8], groups: &[usize], rows: &[usize]) -> Grouped {
    let max = rows.iter().map(|&i| groups[i]).max().unwrap_or(0);
    let mut table = (max <= 4 * rows.len() + 1024).then(|| vec![usize::MAX; max + 1]);
    let mut map: HashMap<usize, usize> = HashMap::new();
    let mut label: Vec<u8> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut of_row = Vec::with_capacity(rows.len());
    for &i in rows {
        let id = groups[i];
        let slot = match &mut table {
            Some(t) => &mut t[id],
            None => map.entry(id).or_insert(usize::MAX),
        };
        if *slot == usize::MAX {
            *slot = label.len();
            label.push(0);
            counts.push(0);
        }
        let g = *slot;
        of_row.push(g);
        counts[g] += 1;
        label[g] |= y[i];
    }
    let mut starts = Vec::with_capacity(counts.len() + 1);
    starts.push(0);
    for c in &counts {
        starts.push(starts[starts.len() - 1] + c);
    }
    let mut next = starts.clone();
    let mut members = vec![0; rows.len()];
    for (&i, &g) in rows.iter().zip(&of_row) {
        members[next[g]] = i;
        next[g] += 1;
    }
    Grouped {
        members,
        starts,
        label,
    }
}

/// Shuffled indices of each class among `items` (labels `y`): `[non-hits, hits]`.
fn by_class(y: &[u8], items: &[usize], rng: &mut ChaCha8Rng) -> [Vec<usize>; 2] {
    let mut classes = [Vec::new(), Vec::new()];
    for &i in items {
        classes[usize::from(y[i] == 1)].push(i);
    }
    for c in &mut classes {
        c.shuffle(rng);
    }
    classes
}

/// Holds out `test_fraction` of each class at random, one row per draw: the split for data
/// with one row per track. [`stratified_group_holdout`] with every row its own group.
///
/// # Errors
/// As [`stratified_group_holdout`].
pub fn stratified_holdout(y: &[u8], test_fraction: f64, seed: u64) -> Result<Split> {
    let own: Vec<usize> = (0..y.len()).collect();
    stratified_group_holdout(y, &own, test_fraction, seed)
}

/// Holds out `test_fraction` of each class's groups at random (a group is a hit if any of its
/// rows is), so every group's rows land on one side. With one row per group this is exactly
/// [`stratified_holdout`].
///
/// # Errors
/// [`Error::Param`] if the fraction is not in (0, 1); [`Error::Split`] if a class would end up
/// with no tracks on one side.
pub fn stratified_group_holdout(
    y: &[u8],
    groups: &[usize],
    test_fraction: f64,
    seed: u64,
) -> Result<Split> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::param(
            "test_fraction",
            test_fraction,
            "must be in (0, 1)",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<usize> = (0..y.len()).collect();
    let g = grouped(y, groups, &rows);
    let items: Vec<usize> = (0..g.len()).collect();
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for (class, members) in by_class(&g.label, &items, &mut rng).into_iter().enumerate() {
        let n_test = (members.len() as f64 * test_fraction).round() as usize;
        if n_test == 0 || n_test == members.len() {
            return Err(Error::Split(format!(
                "cannot hold out {test_fraction} of class {class}: it has {} tracks",
                members.len()
            )));
        }
        for &m in &members[..n_test] {
            split.test.extend_from_slice(g.rows(m));
        }
        for &m in &members[n_test..] {
            split.train.extend_from_slice(g.rows(m));
        }
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

/// Stratified k-fold over `rows`, one row per draw. [`stratified_group_kfold`] with every row
/// its own group.
///
/// # Errors
/// As [`stratified_group_kfold`].
pub fn stratified_kfold(y: &[u8], rows: &[usize], k: usize, seed: u64) -> Result<Vec<Split>> {
    let own: Vec<usize> = (0..y.len()).collect();
    stratified_group_kfold(y, &own, rows, k, seed)
}

/// Stratified k-fold over the groups of `rows`: each fold's test part holds about 1/k of each
/// class's groups, and every group's rows sit in one fold. With one row per group this is
/// exactly [`stratified_kfold`].
///
/// # Errors
/// [`Error::Param`] if `k < 2`; [`Error::Split`] if a class has fewer than `k` groups, which
/// would leave a fold without it.
pub fn stratified_group_kfold(
    y: &[u8],
    groups: &[usize],
    rows: &[usize],
    k: usize,
    seed: u64,
) -> Result<Vec<Split>> {
    if k < 2 {
        return Err(Error::param("k", k, "needs at least 2 folds"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = grouped(y, groups, rows);
    fold_counts_suffice(&g.label, k)?;
    let items: Vec<usize> = (0..g.len()).collect();
    let classes = by_class(&g.label, &items, &mut rng);
    let mut fold_of = vec![usize::MAX; y.len()];
    for members in &classes {
        for (pos, &m) in members.iter().enumerate() {
            for &i in g.rows(m) {
                fold_of[i] = pos % k;
            }
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

/// Checks that [`stratified_group_kfold`] can fold `rows` into `k` parts: each class has at
/// least `k` groups.
///
/// # Errors
/// [`Error::Split`] naming the class that has fewer than `k` groups.
pub fn check_folds(y: &[u8], groups: &[usize], rows: &[usize], k: usize) -> Result<()> {
    fold_counts_suffice(&grouped(y, groups, rows).label, k)
}

fn fold_counts_suffice(labels: &[u8], k: usize) -> Result<()> {
    let hits = labels.iter().filter(|&&l| l == 1).count();
    for (class, count) in [(0, labels.len() - hits), (1, hits)] {
        if count < k {
            return Err(Error::Split(format!(
                "{k}-fold cross-validation needs at least {k} tracks of each class; class {class} has {count}"
            )));
        }
    }
    Ok(())
}

/// Tests on the rows whose group is one of `test_groups` (e.g. the 2010s), trains on the rest.
///
/// # Errors
/// [`Error::Split`] if either side is empty.
pub fn split_by_group(group: &[String], test_groups: &[String]) -> Result<Split> {
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..group.len()).partition(|&i| test_groups.contains(&group[i]));
    check_sides(Split { train, test }, "group split")
}

/// Tests on the rows flagged in `is_test` (e.g. an `is_test` column or a split file).
///
/// # Errors
/// [`Error::Split`] if either side is empty.
pub fn split_by_rows(is_test: &[bool]) -> Result<Split> {
    let (test, train): (Vec<usize>, Vec<usize>) = (0..is_test.len()).partition(|&i| is_test[i]);
    check_sides(Split { train, test }, "row split")
}

fn check_sides(split: Split, what: &str) -> Result<Split> {
    if split.train.is_empty() || split.test.is_empty() {
        return Err(Error::Split(format!(
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
    fn sparse_group_ids_split_as_their_dense_numbering_does() {
        // Dense ids take the table, ids in the billions the map: the same groups either way.
        let y = labels(600, 4);
        let dense: Vec<usize> = (0..600).map(|i| (i * 7) % 200).collect();
        let sparse: Vec<usize> = dense.iter().map(|g| g * 1_000_000_007 + 3).collect();
        let rows: Vec<usize> = (0..600).collect();
        let (a, b) = (grouped(&y, &dense, &rows), grouped(&y, &sparse, &rows));
        assert_eq!(
            (a.len(), &a.members, &a.starts, &a.label),
            (b.len(), &b.members, &b.starts, &b.label)
        );
        assert_eq!(a.len(), 200);
        assert_eq!(
            a.rows(1),
            &[1, 201, 401][..],
            "first-appearance order, rows in order"
        );
        assert_eq!(
            stratified_group_holdout(&y, &dense, 0.25, 3).unwrap(),
            stratified_group_holdout(&y, &sparse, 0.25, 3).unwrap()
        );
        assert_eq!(
            stratified_group_kfold(&y, &dense, &rows, 5, 3).unwrap(),
            stratified_group_kfold(&y, &sparse, &rows, 5, 3).unwrap()
        );
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

    /// Rows 0..n with ids repeating in runs: track `i / copies`.
    fn repeated(n: usize, copies: usize) -> (Vec<u8>, Vec<usize>) {
        let groups: Vec<usize> = (0..n).map(|i| i / copies).collect();
        let y = groups.iter().map(|g| u8::from(g % 4 == 0)).collect();
        (y, groups)
    }

    #[test]
    fn group_holdout_keeps_each_group_on_one_side() {
        let (y, groups) = repeated(900, 3);
        let s = stratified_group_holdout(&y, &groups, 0.25, 3).unwrap();
        assert_eq!(groups_on_both_sides(&groups, &s), 0);
        assert_eq!(s.train.len() + s.test.len(), 900);
        assert_eq!(s.test.len(), 225, "75 of 300 groups, 3 rows each");
        // A row-level holdout of the same rows splits some groups: the check is not vacuous.
        let naive = stratified_holdout(&y, 0.25, 3).unwrap();
        assert!(groups_on_both_sides(&groups, &naive) > 50);
    }

    #[test]
    fn singleton_groups_reproduce_the_row_level_split_and_folds() {
        let y = labels(503, 4);
        let own: Vec<usize> = (0..503).collect();
        let rows: Vec<usize> = (0..503).filter(|i| i % 7 != 0).collect();
        for seed in [1, 42] {
            assert_eq!(
                stratified_group_holdout(&y, &own, 0.3, seed).unwrap(),
                stratified_holdout(&y, 0.3, seed).unwrap()
            );
            assert_eq!(
                stratified_group_kfold(&y, &own, &rows, 5, seed).unwrap(),
                stratified_kfold(&y, &rows, 5, seed).unwrap()
            );
        }
    }

    #[test]
    fn group_kfold_never_splits_a_group_across_folds() {
        let (y, groups) = repeated(600, 4);
        let rows: Vec<usize> = (0..600).collect();
        let folds = stratified_group_kfold(&y, &groups, &rows, 5, 9).unwrap();
        let mut fold_of_group = std::collections::HashMap::new();
        for (f, fold) in folds.iter().enumerate() {
            assert_eq!(groups_on_both_sides(&groups, fold), 0);
            for &i in &fold.test {
                assert_eq!(*fold_of_group.entry(groups[i]).or_insert(f), f);
            }
        }
        assert_eq!(fold_of_group.len(), 150);
    }
}
