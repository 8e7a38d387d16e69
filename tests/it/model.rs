use hitcast::data::{stratified_holdout, synthesize, Dataset, SynthParams};
use hitcast::eval::roc_auc;
use hitcast::model::{
    Artifact, Boost, BoostParams, Family, Fit, Forest, ForestParams, Logistic, LogisticParams,
    Model, ModelParams, Trained,
};
use hitcast::Error;

fn synth(n: usize) -> Dataset {
    synthesize(&SynthParams {
        n_tracks: n,
        ..Default::default()
    })
    .unwrap()
    .0
}

fn small_params() -> ModelParams {
    ModelParams {
        forest: ForestParams {
            n_trees: 40,
            ..Default::default()
        },
        boost: BoostParams {
            n_rounds: 60,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn probabilities_are_in_range_and_oriented_towards_hits() {
    let d = synth(3000);
    let s = stratified_holdout(&d.y, 0.25, 1).unwrap();
    let test = d.subset(&s.test);
    for family in Family::ALL {
        let m = Trained::fit(family, &d, &s.train, &small_params(), 7).unwrap();
        let p = m.predict_proba(&test).unwrap();
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{family}");
        // Orientation: a model that scored non-hits would have AUC < 0.5.
        let auc = roc_auc(&test.y, &p).unwrap();
        assert!(auc > 0.65, "{family}: AUC {auc}");
        let decisions = m.predict(&test, 0.5).unwrap();
        assert_eq!(decisions.len(), test.len());
        let imp = m.importances();
        assert_eq!(imp.len(), 4);
        assert!(
            (imp.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{family}: {imp:?}"
        );
    }
}

/// Orientation also holds when the first label seen is a non-hit (linfa's trap).
#[test]
fn logistic_orientation_does_not_depend_on_first_label() {
    let mut d = synth(1000);
    let first_hit = d.y.iter().position(|&v| v == 1).unwrap();
    d.y.swap(0, first_hit);
    for c in &mut d.x {
        c.swap(0, first_hit);
    }
    let rows: Vec<usize> = (0..d.len()).collect();
    let m = Logistic::fit(&d, &rows, &LogisticParams::default(), 0).unwrap();
    // Danceability raises the hit probability in the ground truth.
    assert!(m.coefficients[0] > 0.0);
    assert!(roc_auc(&d.y, &m.predict_proba(&d).unwrap()).unwrap() > 0.6);
}

fn separable() -> Dataset {
    let n = 200;
    // Two classes with a margin between them (a gap of 0.1 at 0.6).
    let x0: Vec<f64> = (0..n)
        .map(|i| (i as f64) / n as f64 + if i >= 120 { 0.1 } else { 0.0 })
        .collect();
    let x1: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
    Dataset {
        feature_names: vec!["a".into(), "b".into()],
        y: x0.iter().map(|&v| u8::from(v >= 0.65)).collect(),
        x: vec![x0, x1],
        ids: (0..n).map(|i| i.to_string()).collect(),
        names: vec![String::new(); n],
        artists: vec![String::new(); n],
        popularity: None,
        group: None,
        true_prob: None,
    }
}

#[test]
fn a_separable_set_is_learned_perfectly() {
    let d = separable();
    let rows: Vec<usize> = (0..d.len()).collect();
    // Near-zero regularisation: with the default C = 1 the penalty pulls the boundary.
    // The forest tries both features at each split, so the noise feature never wins.
    let params = ModelParams {
        logistic: LogisticParams {
            c: 1e6,
            ..Default::default()
        },
        forest: ForestParams {
            n_trees: 40,
            max_features: Some(2),
            ..Default::default()
        },
        ..small_params()
    };
    for family in Family::ALL {
        let m = Trained::fit(family, &d, &rows, &params, 3).unwrap();
        let pred = m.predict(&d, 0.5).unwrap();
        assert_eq!(pred, d.y, "{family}");
    }
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let d = synth(2000);
    let rows: Vec<usize> = (0..d.len()).collect();
    let fit_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                Family::ALL.map(|f| {
                    serde_json::to_string(&Trained::fit(f, &d, &rows, &small_params(), 11).unwrap())
                        .unwrap()
                })
            })
    };
    assert_eq!(fit_with(1), fit_with(3));
}

#[test]
fn large_boosting_fits_do_not_depend_on_thread_count() {
    // 200k training rows: the sample draw, gradients and margins run in blocks on the pool,
    // and the root's 160k-row histograms in row blocks too.
    let d = synth(200_000);
    let rows: Vec<usize> = (0..d.len()).collect();
    let params = BoostParams {
        n_rounds: 4,
        early_stopping_rounds: None,
        ..Default::default()
    };
    let fit_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| serde_json::to_string(&Boost::fit(&d, &rows, &params, 5).unwrap()).unwrap())
    };
    let one = fit_with(1);
    assert_eq!(one, fit_with(2));
    assert_eq!(one, fit_with(3));
    // With early stopping the validation rows are scored in blocks as well.
    let stopping = BoostParams {
        n_rounds: 4,
        ..Default::default()
    };
    let fit_stopping = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| Boost::fit(&d, &rows, &stopping, 5).unwrap())
    };
    let (a, b) = (fit_stopping(1), fit_stopping(3));
    assert_eq!(a, b);
    assert!(a.validation_log_loss.is_some_and(f64::is_finite));
}

#[test]
fn save_load_round_trip_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let d = synth(1500);
    let s = stratified_holdout(&d.y, 0.25, 1).unwrap();
    let test = d.subset(&s.test);
    let params = small_params();
    for family in Family::ALL {
        let m = Trained::fit(family, &d, &s.train, &params, 5).unwrap();
        let before = m.predict_proba(&test).unwrap();
        let path = dir.path().join(Artifact::file_name(family));
        Artifact::new(m, &d, &s.train, &params, 5)
            .save(&path)
            .unwrap();
        let a = Artifact::load(&path).unwrap();
        assert_eq!(a.training_rows, s.train.len());
        assert_eq!(a.data_hash, d.hash());
        assert_eq!(a.feature_ranges.len(), 4);
        let after = a.model.predict_proba(&test).unwrap();
        let same = before
            .iter()
            .zip(&after)
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{family}");
    }
}

#[test]
fn artifact_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = synth(500);
    let rows: Vec<usize> = (0..d.len()).collect();
    let m = Trained::fit(Family::Logistic, &d, &rows, &ModelParams::default(), 1).unwrap();
    let json = Artifact::new(m, &d, &rows, &ModelParams::default(), 1).to_json();
    let p = dir.path().join("m.json");

    std::fs::write(&p, &json[..json.len() / 2]).unwrap();
    let err = Artifact::load(&p).unwrap_err().to_string();
    assert!(
        err.contains("m.json") && err.contains("corrupt or truncated"),
        "{err}"
    );

    std::fs::write(
        &p,
        json.replace(
            &format!(
                "\"schema_version\":{}",
                hitcast::model::artifact::SCHEMA_VERSION
            ),
            "\"schema_version\":99",
        ),
    )
    .unwrap();
    let err = Artifact::load(&p).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");

    std::fs::write(&p, "{\"hello\": 1}").unwrap();
    assert!(Artifact::load(&p)
        .unwrap_err()
        .to_string()
        .contains("not a hitcast model artifact"));

    let a = Artifact::from_json(&json, &p).unwrap();
    let mut missing = d.clone();
    missing.feature_names[3] = "bpm".into();
    let err = a.model.predict_proba(&missing).unwrap_err().to_string();
    assert!(err.contains("`tempo`"), "{err}");
}

#[test]
fn invalid_hyper_parameters_are_rejected() {
    let d = synth(200);
    let rows: Vec<usize> = (0..d.len()).collect();
    let cases: Vec<(Result<(), Error>, &str)> = vec![
        (
            Forest::fit(
                &d,
                &rows,
                &ForestParams {
                    n_trees: 0,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "forest.n_trees",
        ),
        (
            Forest::fit(
                &d,
                &rows,
                &ForestParams {
                    max_depth: 0,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "forest.max_depth",
        ),
        (
            Forest::fit(
                &d,
                &rows,
                &ForestParams {
                    max_samples: Some(0),
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "forest.max_samples",
        ),
        (
            Boost::fit(
                &d,
                &rows,
                &BoostParams {
                    learning_rate: 0.0,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "boost.learning_rate",
        ),
        (
            Boost::fit(
                &d,
                &rows,
                &BoostParams {
                    learning_rate: -0.1,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "boost.learning_rate",
        ),
        (
            Boost::fit(
                &d,
                &rows,
                &BoostParams {
                    max_depth: 0,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "boost.max_depth",
        ),
        (
            Boost::fit(
                &d,
                &rows,
                &BoostParams {
                    subsample: 1.5,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "boost.subsample",
        ),
        (
            Logistic::fit(
                &d,
                &rows,
                &LogisticParams {
                    c: 0.0,
                    ..Default::default()
                },
                0,
            )
            .map(drop),
            "logistic.c",
        ),
    ];
    for (result, name) in cases {
        let err = result.unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn early_stopping_keeps_the_best_round() {
    let d = synth(3000);
    let rows: Vec<usize> = (0..d.len()).collect();
    let params = BoostParams {
        n_rounds: 400,
        learning_rate: 0.3,
        early_stopping_rounds: Some(10),
        ..Default::default()
    };
    let m = Boost::fit(&d, &rows, &params, 2).unwrap();
    assert!(m.trees.len() < 400, "stopped at {}", m.trees.len());
    assert!(m.validation_log_loss.unwrap() < 0.6);
}

#[test]
fn forest_reports_an_out_of_bag_score() {
    let d = synth(2000);
    let rows: Vec<usize> = (0..d.len()).collect();
    let m = Forest::fit(
        &d,
        &rows,
        &ForestParams {
            n_trees: 50,
            oob_score: true,
            ..Default::default()
        },
        4,
    )
    .unwrap();
    let oob = m.oob_roc_auc.unwrap();
    assert!(oob > 0.6 && oob < 0.95, "{oob}");
}

/// The quality bar on the synthetic default: boosting within 0.01 of the oracle ROC AUC.
#[test]
fn boosting_comes_within_a_hundredth_of_the_oracle() {
    let d = synth(20_000);
    let s = stratified_holdout(&d.y, 0.25, 42).unwrap();
    let test = d.subset(&s.test);
    let oracle = roc_auc(&test.y, test.true_prob.as_ref().unwrap()).unwrap();
    let m = Boost::fit(&d, &s.train, &BoostParams::default(), 42).unwrap();
    let auc = roc_auc(&test.y, &m.predict_proba(&test).unwrap()).unwrap();
    assert!(oracle - auc < 0.01, "oracle {oracle:.4}, boosting {auc:.4}");
}

/// A track scores the same alone, in a small batch and in a large one.
#[test]
fn a_row_scores_the_same_in_any_batch() {
    let d = synth(1200);
    let rows: Vec<usize> = (0..d.len()).collect();
    for family in Family::ALL {
        let m = Trained::fit(family, &d, &rows, &small_params(), 1).unwrap();
        let all = m.predict_proba(&d).unwrap();
        let few = m.predict_proba(&d.subset(&[5, 6, 7])).unwrap();
        for (k, i) in [5, 6, 7].into_iter().enumerate() {
            assert_eq!(
                m.predict_proba_one(&d.row(i)).to_bits(),
                all[i].to_bits(),
                "{family}"
            );
            assert_eq!(few[k].to_bits(), all[i].to_bits(), "{family}");
        }
    }
}

/// Boosting's log-odds are the very sum behind its probabilities (trees added in order
/// onto the base score), so a caller's own sigmoid reproduces them.
#[test]
fn boosting_log_odds_match_its_probabilities() {
    let d = synth(1200);
    let rows: Vec<usize> = (0..d.len()).collect();
    let m = Boost::fit(&d, &rows, &small_params().boost, 1).unwrap();
    let all = m.predict_proba(&d).unwrap();
    for i in [0, 5, 600, 1199] {
        let z = m.log_odds(&d.row(i));
        assert_eq!((1.0 / (1.0 + (-z).exp())).to_bits(), all[i].to_bits());
    }
}

#[test]
fn max_samples_caps_each_trees_bootstrap_draw_and_changes_nothing_below_the_row_count() {
    let d = synth(2000);
    let rows: Vec<usize> = (0..d.len()).collect();
    let fit = |max_samples| {
        Forest::fit(
            &d,
            &rows,
            &ForestParams {
                n_trees: 20,
                max_samples,
                ..Default::default()
            },
            5,
        )
        .unwrap()
    };
    // A cap at or above the row count draws exactly what drawing every row draws.
    let all = fit(None);
    assert_eq!(fit(Some(2000)), all);
    assert_eq!(fit(Some(hitcast::model::MAX_SAMPLES)), all);
    // Each tree's root covers its bootstrap draw: the cap, counted with duplicates.
    let capped = fit(Some(300));
    for t in capped.trees.iter().chain(all.trees.iter()) {
        assert!(!t.cover.is_empty());
    }
    assert!(capped.trees.iter().all(|t| t.cover[0] == 300.0));
    assert!(all.trees.iter().all(|t| t.cover[0] == 2000.0));
    let nodes = |f: &Forest| f.trees.iter().map(|t| t.nodes.len()).sum::<usize>();
    assert!(
        nodes(&capped) < nodes(&all),
        "{} vs {}",
        nodes(&capped),
        nodes(&all)
    );
    // Without the bootstrap every row is used once, whatever the cap.
    let no_boot = |max_samples| {
        Forest::fit(
            &d,
            &rows,
            &ForestParams {
                n_trees: 3,
                bootstrap: false,
                max_samples,
                ..Default::default()
            },
            5,
        )
        .unwrap()
    };
    assert_eq!(no_boot(Some(10)), no_boot(None));
}
