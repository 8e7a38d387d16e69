use std::path::Path;

use hitcast::data::{
    ingest, profile, synthesize, FeatureSet, IngestOptions, LabelRule, Layout, SynthParams,
};
use hitcast::Error;

use super::fixture;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn hit_predictor_layout_reads_target_and_reports_duplicates() {
    let ing = ingest(&fixture("hit_predictor.csv"), &IngestOptions::default()).unwrap();
    assert_eq!(ing.report.layout, Layout::HitPredictor);
    assert_eq!(ing.report.rows_raw, 42);
    assert_eq!(ing.report.duplicate_rows, 2);
    // One row per track by default.
    assert_eq!(ing.report.duplicates_dropped, 2);
    assert_eq!(ing.dataset.len(), 40);
    assert_eq!(
        ing.report.conflicting_tracks,
        vec!["spotify:track:0000000000000000000004"]
    );
    assert_eq!(
        ing.dataset.feature_names,
        ["danceability", "energy", "valence", "tempo"]
    );
    assert_eq!(ing.dataset.names[5], "Song, with comma");
    assert_eq!(ing.dataset.group.as_ref().unwrap()[1], "1970");
    assert_eq!(ing.dataset.y[0], 1);
}

#[test]
fn a_column_in_two_roles_is_read_for_both() {
    // The title as the id, and the decade as both group and time column: each column's text
    // must outlive its first use (ingest frees a column once its last role is converted).
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "roles.csv",
        "track_name,artists,decade,danceability,energy,valence,tempo,target\n\
         A,X,1990,0.5,0.5,0.5,120,1\n\
         B,Y,2000,0.6,0.4,0.3,100,0\n\
         A,X,1990,0.5,0.5,0.5,120,1\n",
    );
    for column in ["track_name", "artists"] {
        let opts = IngestOptions {
            id_column: Some(column.into()),
            ..Default::default()
        };
        let ing = ingest(&p, &opts).unwrap_or_else(|e| panic!("{column}: {e}"));
        assert_eq!(ing.dataset.names, ["A", "B"], "{column}");
        assert_eq!(ing.dataset.artists, ["X", "Y"], "{column}");
        assert_eq!(ing.report.duplicate_rows, 1, "{column}");
        assert_eq!(ing.dataset.group.as_ref().unwrap(), &["1990", "2000"]);
        assert_eq!(ing.period.as_deref(), Some(&[1990, 2000][..]));
    }
}

#[test]
fn dedupe_keeps_the_first_row_per_track() {
    let opts = IngestOptions {
        dedupe: true,
        ..Default::default()
    };
    let ing = ingest(&fixture("hit_predictor.csv"), &opts).unwrap();
    assert_eq!(ing.dataset.len(), 40);
    assert_eq!(ing.report.duplicates_dropped, 2);
    assert_eq!(ing.report.conflicting_tracks.len(), 1);
    let mut ids = ing.dataset.ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
}

#[test]
fn all_features_takes_every_audio_column_present() {
    let opts = IngestOptions {
        features: FeatureSet::All,
        ..Default::default()
    };
    let hp = ingest(&fixture("hit_predictor.csv"), &opts).unwrap();
    assert_eq!(hp.dataset.n_features(), 15);
    let songs = ingest(&fixture("spotify_songs.csv"), &opts).unwrap();
    assert_eq!(songs.dataset.n_features(), 12);
    assert!(!songs
        .dataset
        .feature_names
        .contains(&"chorus_hit".to_string()));
}

#[test]
fn popularity_layouts_label_by_threshold_or_quantile() {
    let songs = ingest(&fixture("spotify_songs.csv"), &IngestOptions::default()).unwrap();
    assert_eq!(songs.report.layout, Layout::Popularity);
    assert_eq!(songs.report.id_column.as_deref(), Some("track_id"));
    assert_eq!(songs.dataset.artists[0], "Band 0");
    let cut = songs.report.threshold.unwrap();
    let pop = songs.dataset.popularity.as_ref().unwrap();
    for (p, y) in pop.iter().zip(&songs.dataset.y) {
        assert_eq!(*y == 1, *p >= cut);
    }
    assert!(songs.report.label_rule.contains("quantile 0.8"));

    // tracks.csv: popularity 0, 4, …, 96; quantile 0.8 of 25 values = 76.8 (pandas linear).
    let tracks = ingest(&fixture("tracks.csv"), &IngestOptions::default()).unwrap();
    assert!((tracks.report.threshold.unwrap() - 76.8).abs() < 1e-9);
    assert_eq!(tracks.dataset.positives(), 5);
    let opts = IngestOptions {
        label: LabelRule::PopularityAtLeast(50.0),
        ..Default::default()
    };
    let tracks = ingest(&fixture("tracks.csv"), &opts).unwrap();
    assert_eq!(tracks.dataset.positives(), 12);
    assert_eq!(tracks.report.id_column.as_deref(), Some("id"));
}

#[test]
fn normalised_output_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = synthesize(&SynthParams {
        n_tracks: 300,
        ..Default::default()
    })
    .unwrap();
    let path = dir.path().join("raw.csv");
    d.write_csv(&path).unwrap();
    let back = ingest(&path, &IngestOptions::default()).unwrap();
    assert_eq!(back.report.layout, Layout::HitCast);
    assert_eq!(back.dataset.x, d.x);
    assert_eq!(back.dataset.y, d.y);
    assert_eq!(back.dataset.ids, d.ids);
    assert_eq!(back.dataset.popularity, d.popularity);
}

#[test]
fn renamed_columns_map_to_features() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bpm.csv",
        "id,danceability,energy,valence,bpm,target\na,0.5,0.5,0.5,120,1\nb,0.4,0.3,0.2,99,0\n",
    );
    let mut opts = IngestOptions::default();
    opts.rename.insert("tempo".into(), "bpm".into());
    let ing = ingest(&p, &opts).unwrap();
    assert_eq!(ing.dataset.x[3], vec![120.0, 99.0]);
}

/// Each bad input gives an error naming the file, the row and the column.
#[test]
fn validation_errors_name_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let head = "id,danceability,energy,valence,tempo,target\n";
    let cases = [
        (
            "nonnum.csv",
            "a,0.5,0.5,0.5,120,1\nb,0.4,loud,0.2,99,0\n",
            "row 2 (line 3), column `energy`: `loud` is not a number",
        ),
        (
            "empty_cell.csv",
            "a,0.5,0.5,0.5,120,1\nb,0.4,0.3,,99,0\n",
            "row 2 (line 3), column `valence`: empty cell",
        ),
        (
            "nan.csv",
            "a,0.5,0.5,0.5,NaN,1\nb,0.4,0.3,0.2,99,0\n",
            "row 1 (line 2), column `tempo`: `NaN` is not a finite number",
        ),
        (
            "range.csv",
            "a,1.3,0.5,0.5,120,1\nb,0.4,0.3,0.2,99,0\n",
            "row 1 (line 2), column `danceability`: 1.3 is outside the valid range 0–1",
        ),
        (
            "negtempo.csv",
            "a,0.3,0.5,0.5,120,1\nb,0.4,0.3,0.2,-5,0\n",
            "row 2 (line 3), column `tempo`: -5 is outside the valid range 0–300",
        ),
        (
            "label.csv",
            "a,0.3,0.5,0.5,120,1\nb,0.4,0.3,0.2,5,0.5\n",
            "row 2 (line 3), column `target`: label 0.5 is neither 0 nor 1",
        ),
    ];
    for (name, body, expected) in cases {
        let p = write(dir.path(), name, &format!("{head}{body}"));
        let err = ingest(&p, &IngestOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn structural_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "missing.csv",
        "id,danceability,energy,valence,target\na,0.5,0.5,0.5,1\n",
    );
    match ingest(&p, &IngestOptions::default()).unwrap_err() {
        Error::MissingColumn { column, .. } => assert_eq!(column, "tempo"),
        e => panic!("{e}"),
    }
    let p = write(dir.path(), "empty.csv", "");
    assert!(matches!(
        ingest(&p, &IngestOptions::default()),
        Err(Error::Empty { .. })
    ));
    let p = write(
        dir.path(),
        "header_only.csv",
        "id,danceability,energy,valence,tempo,target\n",
    );
    assert!(matches!(
        ingest(&p, &IngestOptions::default()),
        Err(Error::Empty { .. })
    ));
    let p = write(
        dir.path(),
        "noheader.csv",
        "0.5,0.5,0.5,120,1\n0.4,0.3,0.2,99,0\n",
    );
    let err = ingest(&p, &IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("noheader.csv") && err.contains("no header row"),
        "{err}"
    );
    let p = write(
        dir.path(),
        "oneclass.csv",
        "id,danceability,energy,valence,tempo,target\na,0.5,0.5,0.5,120,1\nb,0.4,0.3,0.2,99,1\n",
    );
    let err = ingest(&p, &IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("oneclass.csv: column `target`") && err.contains("one class only"),
        "{err}"
    );
    let p = write(
        dir.path(),
        "garbage.csv",
        "\u{0}\u{1}\u{2}\n\"unterminated,\n",
    );
    match ingest(&p, &IngestOptions::default()) {
        Err(Error::Csv { path, message }) => {
            assert_eq!(path, p);
            assert!(message.contains("NUL bytes"), "{message}");
        }
        other => panic!("garbage.csv: {:?}", other.map(|_| ())),
    }
    assert!(matches!(
        ingest(&dir.path().join("nope.csv"), &IngestOptions::default()),
        Err(Error::Io { .. })
    ));
}

#[test]
fn profile_separates_hits_from_non_hits() {
    let (d, _) = synthesize(&SynthParams {
        n_tracks: 2000,
        ..Default::default()
    })
    .unwrap();
    let p = profile(&d);
    assert_eq!(p.rows, 2000);
    assert_eq!(p.hits, d.positives());
    let dance = &p.features[0];
    assert!(
        dance.hits[1] > dance.non_hits[1],
        "hits should be more danceable: {dance:?}"
    );
    assert!(dance.hits[0] <= dance.hits[1] && dance.hits[1] <= dance.hits[2]);
}
