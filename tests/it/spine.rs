//! The estimator spine: a spec that fits, the evaluation pipeline and figures in the library,
//! typed errors, every branch of `DataSource::prepare`, and `Artifact::load_or_train`.

use std::path::Path;

use hitcast::data::{
    ingest, read_split_file, split_by_rows, stratified_holdout, synthesize, DataSource, Dataset,
    IngestOptions, SplitOptions, SynthParams,
};
use hitcast::eval::{self, PartialDependence};
use hitcast::model::{
    Artifact, BoostParams, Family, ForestParams, LogisticParams, ModelParams, ModelSpec, Trained,
};
use hitcast::report::{build, ReportOptions};
use hitcast::Error;

fn small_params() -> ModelParams {
    ModelParams {
        forest: ForestParams {
            n_trees: 25,
            ..Default::default()
        },
        boost: BoostParams {
            n_rounds: 40,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn synth(n: usize, seed: u64) -> Dataset {
    synthesize(&SynthParams {
        n_tracks: n,
        seed,
        ..Default::default()
    })
    .unwrap()
    .0
}

fn prepared(n: usize, seed: u64) -> hitcast::data::Prepared {
    DataSource::Synthetic(SynthParams {
        n_tracks: n,
        seed,
        ..Default::default()
    })
    .prepare(&SplitOptions::default(), seed)
    .unwrap()
}

#[test]
fn a_spec_fits_the_model_trained_fit_gives_and_remembers_spec_and_seed() {
    let data = synth(1500, 4);
    let split = stratified_holdout(&data.y, 0.25, 3).unwrap();
    let (train, test) = data.split(&split);
    assert_eq!(train, data.subset(&split.train));
    assert_eq!(test, data.subset(&split.test));
    let params = small_params();
    for family in Family::ALL {
        let spec = ModelSpec::from_params(family, &params);
        assert_eq!(spec.family(), family);
        let fitted = spec.fit(&train, 9).unwrap();
        assert_eq!(fitted.spec(), &spec);
        assert_eq!(fitted.seed(), 9);
        assert_eq!(fitted.family(), family);
        // Fitting a copied-out training set is the same model as fitting its rows in place.
        let in_place = Trained::fit(family, &data, &split.train, &params, 9).unwrap();
        assert_eq!(
            serde_json::to_string(fitted.model()).unwrap(),
            serde_json::to_string(&in_place).unwrap(),
            "{family}"
        );
        // No trait import: inherent methods on both.
        let p = fitted.predict_proba(&test).unwrap();
        assert_eq!(p, in_place.predict_proba(&test).unwrap());
        assert_eq!(fitted.predict_proba_one(&test.row(0)), p[0]);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    // A different seed gives a different forest: the seed is really used.
    let a = ModelSpec::from_params(Family::Forest, &params)
        .fit(&train, 1)
        .unwrap();
    let b = ModelSpec::from_params(Family::Forest, &params)
        .fit(&train, 2)
        .unwrap();
    assert_ne!(a.model(), b.model());
}

#[test]
fn parameter_errors_surface_at_check_naming_the_parameter() {
    let train = synth(400, 1);
    let cases = [
        (
            ModelSpec::Forest(ForestParams {
                n_trees: 0,
                ..Default::default()
            }),
            "forest.n_trees",
        ),
        (
            ModelSpec::Boost(BoostParams {
                learning_rate: 0.0,
                ..Default::default()
            }),
            "boost.learning_rate",
        ),
        (
            ModelSpec::Logistic(LogisticParams {
                c: -1.0,
                ..Default::default()
            }),
            "logistic.c",
        ),
    ];
    for (spec, want) in cases {
        match spec.clone().check() {
            Err(Error::Param { name, .. }) => assert_eq!(name, want),
            other => panic!("{want}: {other:?}"),
        }
        // `fit` checks first: the same error, before any work.
        assert!(matches!(spec.fit(&train, 1), Err(Error::Param { name, .. }) if name == want));
    }
    assert!(ModelSpec::boost().check().is_ok());
}

#[test]
fn the_fit_trait_still_checks_parameters_given_unchecked() {
    use hitcast::model::{Fit, Forest};
    let train = synth(300, 2);
    let rows: Vec<usize> = (0..train.len()).collect();
    let bad = ForestParams {
        max_depth: 0,
        ..Default::default()
    };
    match Forest::fit(&train, &rows, &bad, 1) {
        Err(Error::Param { name, .. }) => assert_eq!(name, "forest.max_depth"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn an_inconsistent_model_is_a_typed_model_error_naming_the_field() {
    let train = synth(300, 3);
    let fitted = ModelSpec::logistic().fit(&train, 1).unwrap();
    let mut value = serde_json::to_value(fitted.model()).unwrap();
    value["scales"][2] = serde_json::json!(-1.0);
    let broken: Trained = serde_json::from_value(value).unwrap();
    match broken.validate() {
        Err(Error::Model(m)) => assert_eq!(m, "`scales`[2] = -1 must be positive"),
        other => panic!("{other:?}"),
    }
    assert!(fitted.model().validate().is_ok());
}

#[test]
fn out_of_time_needs_periods_and_trains_only_on_earlier_ones() {
    // Synthetic data has no period column: no section.
    let p = prepared(600, 4);
    let none = eval::out_of_time(&p, &[], "decade", &small_params(), 10, 1).unwrap();
    assert!(none.is_none());
    // Give the same tracks decades 1960…2010 (a sixth each): the 2010s are tested.
    let mut prepared = p;
    prepared.period = Some(
        (0..prepared.dataset.len())
            .map(|i| 1960 + 10 * (i % 6) as i64)
            .collect(),
    );
    let period = prepared.period.clone().unwrap();
    let random: Vec<Vec<f64>> = Family::ALL
        .iter()
        .map(|_| vec![0.5; prepared.split.test.len()])
        .collect();
    let (section, rows, p) =
        eval::out_of_time(&prepared, &random, "decade", &small_params(), 10, 7)
            .unwrap()
            .expect("a section");
    assert!(section.summary.is_empty(), "the report words it");
    assert_eq!(rows.len(), section.test_rows);
    assert_eq!(section.test_periods, vec![2010]);
    assert_eq!(section.train_periods, vec![1960, 1970, 1980, 1990, 2000]);
    assert!(rows.iter().all(|&i| period[i] == 2010));
    assert_eq!(rows.len(), period.iter().filter(|&&d| d == 2010).count());
    assert_eq!(
        section.train_rows + section.test_rows,
        prepared.dataset.len()
    );
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|q| q.len() == rows.len()));
    // A constant random-split model ranks nothing: its AUC on the shared rows is 0.5.
    for m in &section.models {
        assert_eq!(m.random_split.roc_auc, 0.5, "{}", m.name);
    }
}

#[test]
fn from_columns_builds_a_dataset_and_names_the_bad_column_and_row() {
    let d = Dataset::from_columns(
        ["a", "b"],
        vec![vec![0.1, 0.2, 0.3, 0.4], vec![1.0, 2.0, 3.0, 4.0]],
        vec![0, 1, 0, 1],
    )
    .unwrap();
    assert_eq!(d.len(), 4);
    assert_eq!(d.feature_names, ["a", "b"]);
    assert_eq!(d.ids, ["1", "2", "3", "4"]);
    assert_eq!(d.row(2), [0.3, 3.0]);
    let bad = |names: Vec<&str>, cols: Vec<Vec<f64>>, y: Vec<u8>| match Dataset::from_columns(
        names, cols, y,
    ) {
        Err(Error::Input(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        bad(vec!["a"], vec![vec![1.0], vec![2.0]], vec![0]),
        "`columns`: 1 names for 2 columns"
    );
    assert_eq!(
        bad(vec!["a", "b"], vec![vec![1.0, 2.0], vec![1.0]], vec![0, 1]),
        "`b`: 1 values for 2 labels"
    );
    assert_eq!(
        bad(vec!["a"], vec![vec![1.0, f64::NAN]], vec![0, 1]),
        "`a`: row 2: NaN is not a finite number"
    );
    assert_eq!(
        bad(vec!["a", "a"], vec![vec![1.0], vec![1.0]], vec![0]),
        "`a`: the feature name is given twice"
    );
    assert_eq!(
        bad(vec!["a"], vec![vec![1.0, 2.0, 3.0]], vec![0, 1, 2]),
        "`y`: row 3: label 2 is not 0 or 1"
    );
}

#[test]
fn a_missing_feature_is_a_typed_error_naming_it() {
    let train = synth(600, 2);
    let model = ModelSpec::logistic().fit(&train, 1).unwrap();
    let other = Dataset::from_columns(
        ["danceability", "valence"],
        vec![vec![0.5; 4], vec![0.5; 4]],
        vec![0, 1, 0, 1],
    )
    .unwrap();
    match model.predict_proba(&other) {
        Err(Error::MissingFeature { feature, holder }) => {
            assert_eq!(feature, "energy");
            assert_eq!(holder, "the data");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn eval_evaluate_and_the_public_figures_are_what_the_report_shows() {
    let prepared = prepared(1200, 5);
    let options = ReportOptions {
        params: small_params(),
        permutation_repeats: 2,
        bootstrap_resamples: 40,
        ..Default::default()
    };
    let (report, figures) = build(&prepared, "synthetic", 5, &options, &|_| {}).unwrap();
    let test = prepared.dataset.subset(&prepared.split.test);
    let j = 3;
    let feature = report.meta.features[j].clone();
    let mut curves: Vec<(String, PartialDependence)> = Vec::new();
    for family in Family::ALL {
        let spec = ModelSpec::from_params(family, &options.params)
            .check()
            .unwrap();
        let (model, e) = eval::evaluate(
            &spec,
            &prepared.dataset,
            &prepared.split,
            Some(&prepared.groups),
            &options.eval(),
            5,
            &|_| {},
        )
        .unwrap();
        assert_eq!(model.family(), family);
        let section = report.model(family).unwrap();
        assert_eq!(e.family, family);
        assert_eq!(e.cv, section.cv, "{family}");
        assert_eq!(e.calibration, section.calibration, "{family}");
        assert_eq!(e.importance, section.importance, "{family}");
        assert_eq!(e.importance.native_kind, family.importance_kind());
        assert_eq!(e.partial_dependence, section.partial_dependence, "{family}");
        // The report adds the bootstrap intervals; everything else is the evaluation's.
        assert!(e.holdout.roc_auc_ci[0].is_nan());
        let mut holdout = e.holdout.clone();
        holdout.roc_auc_ci = section.holdout.roc_auc_ci;
        holdout.pr_auc_ci = section.holdout.pr_auc_ci;
        assert_eq!(holdout, section.holdout, "{family}");
        assert_eq!(
            e.probabilities,
            model.predict_proba(&test).unwrap(),
            "{family}"
        );
        // The report's SHAP section is `explain::summarise` of the same model and holdout.
        let (shap, points) = hitcast::explain::summarise(model.model(), &test).unwrap();
        assert_eq!(shap, section.shap, "{family}");
        assert_eq!(points.values.len(), shap.rows);
        curves.push((section.title.clone(), e.partial_dependence[j].clone()));
    }
    // A notebook draws the report's partial-dependence figure without building a report.
    let refs: Vec<(&str, &PartialDependence)> =
        curves.iter().map(|(t, p)| (t.as_str(), p)).collect();
    assert_eq!(
        hitcast::plot::partial_dependence_figure(&feature, &refs).unwrap(),
        figures[&format!("partial_dependence_{feature}.svg")]
    );
    assert!(matches!(
        hitcast::plot::partial_dependence_figure(&feature, &[]),
        Err(Error::Input(_))
    ));
    let empty = std::collections::BTreeMap::new();
    let no_features = hitcast::plot::ShapSample {
        features: &[],
        contributions: &[],
        values: &[],
        mean_abs: &empty,
    };
    assert!(matches!(
        hitcast::plot::shap_summary_figure("m", &no_features),
        Err(Error::Input(_))
    ));
    assert!(matches!(
        hitcast::plot::shap_dependence_figure("m", &no_features),
        Err(Error::Input(_))
    ));
    // The out-of-time check's fits: each family's probabilities on the test rows, as a
    // spec fitted on the same rows gives them.
    let scored = eval::fit_and_score(
        &options.params,
        &prepared.dataset,
        &prepared.split.train,
        &test,
        5,
    )
    .unwrap();
    for (family, p) in Family::ALL.iter().zip(&scored) {
        let fitted = ModelSpec::from_params(*family, &options.params)
            .check()
            .unwrap()
            .fit_rows(&prepared.dataset, &prepared.split.train, 5)
            .unwrap();
        assert_eq!(p, &fitted.predict_proba(&test).unwrap(), "{family}");
    }
    let d = &prepared.dataset;
    assert_eq!(
        hitcast::plot::distribution_figure(&feature, &d.x[j], &d.y).unwrap(),
        figures[&format!("distribution_{feature}.svg")]
    );
    // A holdout beyond eval::PERMUTATION_MAX_ROWS is sampled for permutation importance, and
    // the report says so (and says nothing when every row was scored).
    let markdown = hitcast::report::render_markdown(&report, &figures);
    assert!(!markdown.contains("seeded random sample of"));
    let mut large = report.clone();
    large.meta.test_rows = 250_000;
    assert!(
        hitcast::report::render_markdown(&large, &figures).contains(&format!(
            "2 seeded repeats, on a seeded random sample of {} of the 250000 holdout rows",
            eval::PERMUTATION_MAX_ROWS
        ))
    );
    // Out-of-range evaluation settings are refused before any fit.
    let spec = ModelSpec::logistic().check().unwrap();
    let too_many = eval::EvalOptions {
        cv_folds: 50,
        ..Default::default()
    };
    let (d, split) = (&prepared.dataset, &prepared.split);
    assert!(matches!(
        eval::evaluate(&spec, d, split, None, &too_many, 5, &|_| {}),
        Err(Error::Param {
            name: "cv_folds",
            ..
        })
    ));
    assert!(matches!(
        eval::evaluate(&spec, d, split, Some(&[0, 1]), &eval::EvalOptions::default(), 5, &|_| {}),
        Err(Error::Input(m)) if m == format!("2 groups for {} rows", d.len())
    ));
    // A notebook's own columns evaluate without a prepared source: each row its own group.
    let from_columns =
        Dataset::from_columns(d.feature_names.clone(), d.x.clone(), d.y.clone()).unwrap();
    let (fitted, e) = eval::evaluate(
        &spec,
        &from_columns,
        split,
        None,
        &eval::EvalOptions::default(),
        5,
        &|_| {},
    )
    .unwrap();
    assert_eq!(
        e.holdout.roc_auc,
        report.model(Family::Logistic).unwrap().holdout.roc_auc
    );
    // `&Fitted` is a `&dyn Model`: analyses take it directly.
    let pd = eval::partial_dependence(&fitted, &test, &feature, 25, eval::PD_MAX_ROWS, 5).unwrap();
    assert_eq!(
        pd,
        report.model(Family::Logistic).unwrap().partial_dependence[j]
    );
}

/// `hit_predictor.csv` copied into `dir` as `d.csv`, and its ingest.
fn hit_predictor(dir: &Path) -> (std::path::PathBuf, hitcast::data::Ingested) {
    let path = dir.join("d.csv");
    std::fs::copy(super::fixture("hit_predictor.csv"), &path).unwrap();
    let ing = ingest(&path, &IngestOptions::default()).unwrap();
    (path, ing)
}

#[test]
fn prepare_takes_a_split_file_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ing) = hit_predictor(dir.path());
    let mut csv = String::from("row,is_test\n");
    for i in 0..ing.report.rows_raw {
        csv.push_str(&format!("{i},{}\n", u8::from(i % 3 == 0)));
    }
    let split_file = dir.path().join("split.csv");
    std::fs::write(&split_file, csv).unwrap();
    let flags = read_split_file(&split_file, &ing).unwrap();
    // One flag per kept row, read from the file row it came from.
    let want: Vec<bool> = ing.source_rows.iter().map(|&r| r % 3 == 0).collect();
    assert_eq!(flags, want);
    let p = DataSource::Csv {
        path,
        options: IngestOptions::default(),
        split_file: Some(split_file.clone()),
    }
    .prepare(&SplitOptions::default(), 1)
    .unwrap();
    assert_eq!(p.split, split_by_rows(&flags).unwrap());
    assert_eq!(p.split_rule, "test rows given by the data");
    assert_eq!(
        p.split_origin.as_deref(),
        Some(split_file.display().to_string().as_str())
    );
}

#[test]
fn prepare_takes_a_split_column_of_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(super::fixture("hit_predictor.csv")).unwrap();
    let mut csv = String::new();
    for (i, line) in text.lines().enumerate() {
        let flag = if i == 0 {
            "is_test".to_string()
        } else {
            u8::from(i % 3 == 1).to_string()
        };
        csv.push_str(&format!("{line},{flag}\n"));
    }
    let path = dir.path().join("with_split.csv");
    std::fs::write(&path, csv).unwrap();
    let options = IngestOptions {
        split_column: Some("is_test".into()),
        ..Default::default()
    };
    let ing = ingest(&path, &options).unwrap();
    let flags = ing.is_test.clone().unwrap();
    assert_eq!(
        flags,
        ing.source_rows
            .iter()
            .map(|&r| r % 3 == 0)
            .collect::<Vec<_>>()
    );
    let p = DataSource::Csv {
        path: path.clone(),
        options,
        split_file: None,
    }
    .prepare(&SplitOptions::default(), 1)
    .unwrap();
    assert_eq!(p.split, split_by_rows(&flags).unwrap());
    assert_eq!(
        p.split_origin,
        Some(format!("{}, column `is_test`", path.display()))
    );
}

#[test]
fn prepare_tests_on_the_groups_asked_for_and_refuses_data_without_groups() {
    let source = DataSource::Synthetic(SynthParams {
        n_tracks: 2000,
        decades: 4,
        ..Default::default()
    });
    let split = SplitOptions {
        test_groups: vec!["2010".into()],
        ..Default::default()
    };
    let p = source.prepare(&split, 3).unwrap();
    let group = p.dataset.group.as_ref().unwrap();
    let want: Vec<usize> = (0..group.len()).filter(|&i| group[i] == "2010").collect();
    assert!(!want.is_empty() && want.len() < group.len());
    assert_eq!(p.split.test, want);
    assert_eq!(p.split.train.len() + want.len(), group.len());
    assert_eq!(p.split_rule, "test on groups 2010");
    assert_eq!(p.split_origin.as_deref(), Some("test groups 2010"));
    let plain = DataSource::Synthetic(SynthParams {
        n_tracks: 500,
        ..Default::default()
    });
    match plain.prepare(&split, 3) {
        Err(Error::Split(m)) => assert!(m.contains("no group (decade) column"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_or_train_trains_what_is_missing_stale_or_unreadable_and_loads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let params = small_params();
    let run = |p: &hitcast::data::Prepared| {
        let mut heard = Vec::new();
        let a = Artifact::load_or_train(dir.path(), p, &params, 1, &mut |m| {
            heard.push(m.to_string())
        })
        .unwrap();
        (a, heard)
    };
    let first_data = prepared(800, 1);
    let (first, heard) = run(&first_data);
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(heard
        .iter()
        .all(|m| m.ends_with("does not exist: training it now")));
    assert_eq!(
        first.iter().map(|a| a.family).collect::<Vec<_>>(),
        Family::ALL
    );
    // Present and trained on this data: loaded, not retrained.
    let (again, heard) = run(&first_data);
    assert!(heard.is_empty(), "{heard:?}");
    assert_eq!(again, first);
    // Trained on other data: every one retrained on this data.
    let other = prepared(800, 2);
    let (retrained, heard) = run(&other);
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(heard
        .iter()
        .all(|m| m.ends_with("was trained on other data: training it now")));
    assert!(retrained
        .iter()
        .all(|a| a.data_hash == other.dataset.hash()));
    // A corrupt file: only that one is retrained, and the file is whole again.
    let boost = dir.path().join(Artifact::file_name(Family::Boost));
    std::fs::write(&boost, "{\"schema_version\": 2, \"trunc").unwrap();
    let (_, heard) = run(&other);
    assert_eq!(
        heard,
        [format!(
            "{} is unreadable: training it now",
            boost.display()
        )]
    );
    assert_eq!(
        Artifact::load(&boost).unwrap(),
        retrained[2],
        "the same model, trained again from the same seed"
    );
}
