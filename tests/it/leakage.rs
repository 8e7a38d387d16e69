//! Honest evaluation on data with repeated tracks: one track, one side; labels from the rows
//! that are modelled.

use std::collections::{HashMap, HashSet};

use hitcast::data::{
    ingest, split_by_rows, stratified_group_kfold, stratified_holdout, DataSource, GroupBy,
    IngestOptions, LabelRule, SplitOptions,
};

use super::fixture;

/// Track ids with rows on both sides of a train/test division.
fn ids_on_both_sides(ids: &[String], train: &[usize], test: &[usize]) -> usize {
    let train_ids: HashSet<&str> = train.iter().map(|&i| ids[i].as_str()).collect();
    let test_ids: HashSet<&str> = test.iter().map(|&i| ids[i].as_str()).collect();
    train_ids.intersection(&test_ids).count()
}

fn playlist_source(keep_duplicates: bool) -> (DataSource, SplitOptions) {
    (
        DataSource::Csv {
            path: fixture("playlist_songs.csv"),
            options: IngestOptions::default(),
            split_file: None,
        },
        SplitOptions {
            keep_duplicates,
            ..SplitOptions::default()
        },
    )
}

/// pandas' linear quantile, written out independently of the library.
fn pandas_quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
}

#[test]
fn the_fixture_repeats_tracks_and_a_naive_split_leaks() {
    let all = ingest(
        &fixture("playlist_songs.csv"),
        &IngestOptions {
            dedupe: false,
            ..Default::default()
        },
    )
    .unwrap();
    let d = &all.dataset;
    assert!(all.report.duplicate_rows > 100, "{:?}", all.report);
    let naive = stratified_holdout(&d.y, 0.25, 42).unwrap();
    assert!(ids_on_both_sides(&d.ids, &naive.train, &naive.test) > 10);
}

#[test]
fn default_keeps_one_row_per_track_and_splits_never_share_one() {
    for seed in [1, 42, 7] {
        let (source, split) = playlist_source(false);
        let p = source.prepare(&split, seed).unwrap();
        let d = &p.dataset;
        let distinct: HashSet<&String> = d.ids.iter().collect();
        assert_eq!(distinct.len(), d.len(), "one row per track by default");
        let report = p.ingest.as_ref().unwrap();
        assert_eq!(report.rows_raw - d.len(), report.duplicates_dropped);
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("rows repeat an earlier track id")
                && w.contains(&report.duplicate_rows.to_string())));
        assert_eq!(ids_on_both_sides(&d.ids, &p.split.train, &p.split.test), 0);
    }
}

#[test]
fn keep_duplicates_keeps_every_row_but_never_splits_a_track() {
    for seed in [1, 42, 7] {
        let (source, split) = playlist_source(true);
        let p = source.prepare(&split, seed).unwrap();
        let d = &p.dataset;
        assert_eq!(d.len(), p.ingest.as_ref().unwrap().rows_raw);
        assert_eq!(ids_on_both_sides(&d.ids, &p.split.train, &p.split.test), 0);
        assert!(
            p.split_rule.contains("one side per track id"),
            "{}",
            p.split_rule
        );
        // Cross-validation folds on the training rows, drawn as the report draws them.
        let folds = stratified_group_kfold(&d.y, &p.groups, &p.split.train, 5, seed).unwrap();
        for f in &folds {
            assert_eq!(ids_on_both_sides(&d.ids, &f.train, &f.test), 0);
            assert!(!f.test.is_empty());
        }
    }
}

#[test]
fn title_artist_grouping_keeps_near_duplicates_together() {
    let (source, mut split) = playlist_source(false);
    split.group_by = GroupBy::TitleArtist;
    let p = source.prepare(&split, 3).unwrap();
    let near = &p.ingest.as_ref().unwrap().near_duplicates;
    assert_eq!(near.songs, 6, "{near:?}");
    assert!(p
        .warnings
        .iter()
        .any(|w| w.contains("6 songs appear under more than one track id")));
    let d = &p.dataset;
    let key = |i: usize| hitcast::data::normalise(&d.names[i]) + "|" + &d.artists[i];
    let train: HashSet<String> = p.split.train.iter().map(|&i| key(i)).collect();
    assert!(p.split.test.iter().all(|&i| !train.contains(&key(i))));
}

#[test]
fn popularity_quantile_is_resolved_on_distinct_tracks() {
    let path = fixture("playlist_songs.csv");
    let all = ingest(
        &path,
        &IngestOptions {
            dedupe: false,
            label: LabelRule::Unlabelled,
            ..Default::default()
        },
    )
    .unwrap();
    let pop = all.dataset.popularity.as_ref().unwrap();
    let mut seen = HashSet::new();
    let first: Vec<f64> = (0..pop.len())
        .filter(|&i| seen.insert(all.dataset.ids[i].clone()))
        .map(|i| pop[i])
        .collect();
    let expected = pandas_quantile(first.clone(), 0.8);
    assert_ne!(
        expected,
        pandas_quantile(pop.clone(), 0.8),
        "the fixture must tell them apart"
    );
    for dedupe in [true, false] {
        let ing = ingest(
            &path,
            &IngestOptions {
                dedupe,
                ..Default::default()
            },
        )
        .unwrap();
        let r = &ing.report;
        assert_eq!(r.threshold, Some(expected));
        assert!(
            r.label_rule.contains(&format!("{expected}")),
            "{}",
            r.label_rule
        );
        assert!(r
            .label_rule
            .contains(&format!("of {} distinct tracks", first.len())));
        let ties = first.iter().filter(|&&p| p == expected).count();
        assert_eq!(r.ties_at_cut, Some(ties));
        let hits = ing.dataset.positives() as f64 / ing.dataset.len() as f64;
        assert_eq!(r.hit_rate, hits);
    }
}

#[test]
fn copies_that_disagree_are_counted() {
    let ing = ingest(&fixture("playlist_songs.csv"), &IngestOptions::default()).unwrap();
    // The fixture has one copy whose popularity differs from its track's first row.
    assert_eq!(ing.report.popularity_conflicts, 1);
    assert_eq!(ing.report.feature_conflicts, 0);
}

#[test]
fn a_given_split_is_used_as_given_and_its_shared_tracks_named() {
    let dir = tempfile::tempdir().unwrap();
    let all = ingest(
        &fixture("playlist_songs.csv"),
        &IngestOptions {
            dedupe: false,
            ..Default::default()
        },
    )
    .unwrap();
    // Every third row of the file is a test row: a row-level split, as another tool makes.
    let mut csv = String::from("row,is_test\n");
    let flags: Vec<bool> = (0..all.dataset.len()).map(|i| i % 3 == 0).collect();
    for (i, f) in flags.iter().enumerate() {
        csv.push_str(&format!("{i},{}\n", u8::from(*f)));
    }
    let split_file = dir.path().join("split.csv");
    std::fs::write(&split_file, csv).unwrap();
    let shared = {
        let s = split_by_rows(&flags).unwrap();
        ids_on_both_sides(&all.dataset.ids, &s.train, &s.test)
    };
    assert!(shared > 0);
    let source = DataSource::Csv {
        path: fixture("playlist_songs.csv"),
        options: IngestOptions::default(),
        split_file: Some(split_file),
    };
    let kept = source
        .prepare(
            &SplitOptions {
                keep_duplicates: true,
                ..Default::default()
            },
            1,
        )
        .unwrap();
    // The other tool's rows exactly, and a warning naming the shared tracks.
    assert_eq!(kept.split, split_by_rows(&flags).unwrap());
    assert!(
        kept.warnings
            .iter()
            .any(|w| w.contains(&format!("puts {shared} tracks")) && w.contains("both sides")),
        "{:?}",
        kept.warnings
    );
    // By default the same file keeps the first row of each track and its flag.
    let deduped = source.prepare(&SplitOptions::default(), 1).unwrap();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, id) in all.dataset.ids.iter().enumerate() {
        by_id.entry(id).or_insert(i);
    }
    for &t in &deduped.split.test {
        assert!(flags[by_id[deduped.dataset.ids[t].as_str()]]);
    }
}
