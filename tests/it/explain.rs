//! Explanations: TreeSHAP against brute-force Shapley values of the same game, additivity for
//! every family, determinism, bad input.

#![allow(clippy::needless_range_loop)] // matrices indexed both ways, as the formulas read

use hitcast::data::{stratified_holdout, synthesize, Dataset, SynthParams};
use hitcast::explain::{self, Explanation};
use hitcast::model::{
    Artifact, BoostParams, Ensemble, Family, Forest, ForestParams, Model, ModelParams, Node,
    Trained, Tree,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---- the oracle: a separate, obviously correct walk and the Shapley formula ----

/// The path-dependent expectation of `tree` when the features in `known` (a bit mask) are
/// known: follow the row at their splits, average the children by cover elsewhere.
fn expectation(tree: &Tree, row: &[f64], known: u32, node: usize) -> f64 {
    let n = tree.nodes[node];
    let left = n.left as usize;
    if left == node {
        return tree.values[node];
    }
    if known & (1 << n.feature) != 0 {
        let child = if row[n.feature as usize] > n.threshold {
            left + 1
        } else {
            left
        };
        expectation(tree, row, known, child)
    } else {
        (tree.cover[left] * expectation(tree, row, known, left)
            + tree.cover[left + 1] * expectation(tree, row, known, left + 1))
            / tree.cover[node]
    }
}

fn value(trees: &[Tree], row: &[f64], known: u32) -> f64 {
    trees.iter().map(|t| expectation(t, row, known, 0)).sum()
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

/// Shapley values by enumerating every subset of the other features.
fn brute_shap(trees: &[Tree], row: &[f64]) -> Vec<f64> {
    let p = row.len();
    (0..p)
        .map(|i| {
            let mut phi = 0.0;
            for s in 0u32..(1 << p) {
                if s & (1 << i) != 0 {
                    continue;
                }
                let k = s.count_ones() as usize;
                let w = factorial(k) * factorial(p - k - 1) / factorial(p);
                phi += w * (value(trees, row, s | 1 << i) - value(trees, row, s));
            }
            phi
        })
        .collect()
}

/// SHAP interaction index by enumeration: off the diagonal the Shapley interaction index,
/// on it what is left of φᵢ.
fn brute_interactions(trees: &[Tree], row: &[f64]) -> Vec<Vec<f64>> {
    let p = row.len();
    let phi = brute_shap(trees, row);
    let mut out = vec![vec![0.0; p]; p];
    for i in 0..p {
        for j in 0..p {
            if i == j {
                continue;
            }
            let mut v = 0.0;
            for s in 0u32..(1 << p) {
                if s & (1 << i | 1 << j) != 0 {
                    continue;
                }
                let k = s.count_ones() as usize;
                let w = factorial(k) * factorial(p - k - 2) / (2.0 * factorial(p - 1));
                v += w
                    * (value(trees, row, s | 1 << i | 1 << j)
                        - value(trees, row, s | 1 << i)
                        - value(trees, row, s | 1 << j)
                        + value(trees, row, s));
            }
            out[i][j] = v;
        }
        out[i][i] = phi[i] - (0..p).filter(|&j| j != i).map(|j| out[i][j]).sum::<f64>();
    }
    out
}

/// A random tree over the features in `features` (repeats on a path allowed), with covers
/// that add up and thresholds on a coarse grid so rows hit both sides.
fn random_tree(rng: &mut ChaCha8Rng, features: &[u32], max_depth: usize) -> Tree {
    let mut nodes = vec![Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: 0,
    }];
    let mut values = vec![0.0];
    let mut depth_of = vec![0usize];
    let mut i = 0;
    while i < nodes.len() {
        let d = depth_of[i];
        if d < max_depth && (d < 2 || rng.gen_bool(0.7)) {
            let left = nodes.len() as u32;
            nodes[i] = Node {
                threshold: f64::from(rng.gen_range(1..10u8)) / 10.0,
                feature: features[rng.gen_range(0..features.len())],
                left,
            };
            for k in 0..2 {
                nodes.push(Node {
                    threshold: f64::INFINITY,
                    feature: 0,
                    left: left + k,
                });
                values.push(0.0);
                depth_of.push(d + 1);
            }
        } else {
            values[i] = rng.gen_range(-2.0..2.0);
        }
        i += 1;
    }
    // Leaves get random covers; a parent's is its children's sum (children come later).
    let mut cover = vec![0.0; nodes.len()];
    for k in (0..nodes.len()).rev() {
        let l = nodes[k].left as usize;
        cover[k] = if l == k {
            f64::from(rng.gen_range(1..50u8))
        } else {
            cover[l] + cover[l + 1]
        };
    }
    Tree {
        depth: *depth_of.iter().max().unwrap_or(&0) as u32,
        nodes,
        values,
        cover,
    }
}

fn random_row(rng: &mut ChaCha8Rng, p: usize) -> Vec<f64> {
    (0..p).map(|_| rng.gen_range(0.0..1.0)).collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (j, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol, "{what}: feature {j}: {a} vs {b}");
    }
}

#[test]
fn tree_shap_equals_brute_force_shapley_values_with_4_and_6_features() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // 8 features: `tree_shap` itself takes Algorithm 2 there.
    for p in [4usize, 6, 8] {
        let features: Vec<u32> = (0..p as u32).collect();
        for case in 0..12 {
            // A single tree and a small forest, as deep as 7 levels (features repeat).
            let n_trees = if case % 2 == 0 { 1 } else { 5 };
            let trees: Vec<Tree> = (0..n_trees)
                .map(|_| random_tree(&mut rng, &features, 3 + case % 5))
                .collect();
            for k in 0..6 {
                let mut row = random_row(&mut rng, p);
                if k >= 4 {
                    // Exactly on thresholds the trees use: the tables' cells must break ties
                    // as the walk does (left when the value equals the threshold).
                    for t in &trees {
                        for n in t.nodes.iter().step_by(2).take(3) {
                            if n.threshold.is_finite() && (n.feature as usize) < p {
                                row[n.feature as usize] = n.threshold;
                            }
                        }
                    }
                }
                let (expected, phi) = explain::tree_shap(&trees, &row).unwrap();
                let want = brute_shap(&trees, &row);
                assert_close(&phi, &want, 1e-12, &format!("p = {p}, case {case}"));
                // Without the one- and two-feature tables (models too large to tabulate).
                let (e3, walk) = explain::tree_shap_untabulated(&trees, &row).unwrap();
                assert_close(&walk, &want, 1e-12, &format!("subset walk, p = {p}"));
                assert!((e3 - expected).abs() < 1e-12);
                // Both algorithms: every subset's value at once, and Algorithm 2.
                let (e2, recursive) = explain::tree_shap_recursive(&trees, &row).unwrap();
                assert_close(&recursive, &want, 1e-12, &format!("Algorithm 2, p = {p}"));
                assert!((e2 - expected).abs() < 1e-12);
                let total: f64 = trees.iter().map(|t| t.eval(&row)).sum();
                let sum = expected + phi.iter().sum::<f64>();
                assert!(
                    (sum - total).abs() < 1e-12,
                    "local accuracy {sum} vs {total}"
                );
                assert!((expected - value(&trees, &row, 0)).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn interaction_values_equal_brute_force_and_sum_to_the_shap_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for p in [4usize, 6, 7] {
        let features: Vec<u32> = (0..p as u32).collect();
        for case in 0..6 {
            let trees: Vec<Tree> = (0..1 + case % 3)
                .map(|_| random_tree(&mut rng, &features, 3 + case % 4))
                .collect();
            let row = random_row(&mut rng, p);
            let got = explain::tree_interactions(&trees, &row).unwrap();
            let want = brute_interactions(&trees, &row);
            let recursive = explain::tree_interactions_recursive(&trees, &row).unwrap();
            for i in 0..p {
                assert_close(
                    &recursive[i],
                    &want[i],
                    1e-12,
                    &format!("Algorithm 2, p = {p}"),
                );
            }
            let (_, phi) = explain::tree_shap(&trees, &row).unwrap();
            for i in 0..p {
                assert_close(&got[i], &want[i], 1e-12, &format!("p = {p}, row {i}"));
                let row_sum: f64 = got[i].iter().sum();
                assert!((row_sum - phi[i]).abs() < 1e-12);
                for j in 0..p {
                    assert!((got[i][j] - got[j][i]).abs() < 1e-12, "symmetric");
                }
            }
        }
    }
}

#[test]
fn an_unused_feature_gets_exactly_zero_and_symmetric_features_equal_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // Features 0, 1, 2, 4 and 5 only: feature 3 appears in no tree.
    let trees: Vec<Tree> = (0..6)
        .map(|_| random_tree(&mut rng, &[0, 1, 2, 4, 5], 6))
        .collect();
    for _ in 0..20 {
        let row = random_row(&mut rng, 6);
        let (_, phi) = explain::tree_shap(&trees, &row).unwrap();
        assert_eq!(phi[3], 0.0);
        assert!(phi.iter().any(|v| *v != 0.0));
        let (_, phi) = explain::tree_shap_recursive(&trees, &row).unwrap();
        assert_eq!(phi[3], 0.0);
    }
    // f = 1 when x0 > 0.5 and x1 > 0.5: the two features play the same role, with equal
    // covers on both sides.
    let leaf = |i: u32| Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: i,
    };
    let split = |feature: u32, left: u32| Node {
        threshold: 0.5,
        feature,
        left,
    };
    let tree = Tree {
        nodes: vec![split(0, 1), leaf(1), split(1, 3), leaf(3), leaf(4)],
        values: vec![0.0, 0.0, 0.0, 0.0, 1.0],
        depth: 2,
        cover: vec![40.0, 20.0, 20.0, 10.0, 10.0],
    };
    // The mirror image splits on x1 first: the same function.
    let mut mirror = tree.clone();
    mirror.nodes[0].feature = 1;
    mirror.nodes[2].feature = 0;
    for row in [[0.7, 0.7, 0.1], [0.2, 0.2, 0.9], [0.9, 0.6, 0.5]] {
        for trees in [vec![tree.clone()], vec![mirror.clone()]] {
            for (_, phi) in [
                explain::tree_shap(&trees, &row).unwrap(),
                explain::tree_shap_recursive(&trees, &row).unwrap(),
            ] {
                assert!((phi[0] - phi[1]).abs() < 1e-15, "{phi:?}");
                assert_eq!(phi[2], 0.0);
            }
        }
    }
}

// ---- fitted models ----

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
            n_trees: 30,
            ..Default::default()
        },
        boost: BoostParams {
            n_rounds: 60,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fitted() -> (Dataset, Vec<Trained>) {
    let d = synth(3000);
    let s = stratified_holdout(&d.y, 0.25, 3).unwrap();
    let models = Family::ALL
        .iter()
        .map(|&f| Trained::fit(f, &d, &s.train, &small_params(), 11).unwrap())
        .collect();
    (d.subset(&s.test), models)
}

#[test]
fn every_family_is_additive_in_log_odds_and_matches_predict_proba() {
    let (test, models) = fitted();
    for m in &models {
        let explained = explain::explain_dataset(m, &test).unwrap();
        let p = m.predict_proba(&test).unwrap();
        assert_eq!(explained.len(), test.len());
        for (e, &p) in explained.iter().zip(&p) {
            let sum = e.base + e.contributions.iter().sum::<f64>();
            assert!(
                (sum - e.log_odds).abs() < 1e-9,
                "{}: {sum} vs {}",
                m.family(),
                e.log_odds
            );
            let s = 1.0 / (1.0 + (-sum).exp());
            assert!((s - p).abs() < 1e-12, "{}: {s} vs {p}", m.family());
            assert_eq!(e.probability, p);
        }
        // Contributions vary between tracks and are not all zero.
        assert!(explained
            .iter()
            .any(|e| e.contributions[0] != explained[0].contributions[0]));
    }
}

#[test]
fn fitted_trees_carry_covers_and_their_tree_shap_equals_brute_force() {
    let (test, models) = fitted();
    let row: Vec<f64> = (0..4).map(|j| test.x[j][0]).collect();
    for m in &models[1..] {
        let trees: &[Tree] = match m {
            Trained::Forest(f) => &f.trees[..],
            Trained::Boost(b) => &b.trees[..],
            Trained::Logistic(_) => unreachable!(),
        };
        for t in trees.iter() {
            assert_eq!(t.cover.len(), t.nodes.len());
            // A parent's cover is its children's sum (exactly for the forest's counts).
            for (i, n) in t.nodes.iter().enumerate() {
                let l = n.left as usize;
                if l != i {
                    let sum = t.cover[l] + t.cover[l + 1];
                    assert!(
                        (sum - t.cover[i]).abs() <= 1e-9 * t.cover[i],
                        "{}",
                        m.family()
                    );
                }
            }
        }
        let few = &trees[..8];
        let (_, phi) = explain::tree_shap(few, &row).unwrap();
        assert_close(&phi, &brute_shap(few, &row), 1e-12, m.family().name());
    }
    // The forest's covers are bootstrap counts: the root holds the training rows.
    if let Trained::Forest(f) = &models[1] {
        assert!(f.trees.iter().all(|t| t.cover[0] == 2250.0));
        let cols = f.columns(&test).unwrap();
        let (b, psi) = explain::forest_probability(f, &cols).unwrap();
        let p = f.predict_proba(&test).unwrap();
        for (psi, p) in psi.iter().zip(&p) {
            assert!((b + psi.iter().sum::<f64>() - p).abs() < 1e-12);
        }
    }
}

#[test]
fn logistic_contributions_are_coefficient_times_standardised_deviation() {
    let (test, models) = fitted();
    let Trained::Logistic(lr) = &models[0] else {
        unreachable!()
    };
    let e = explain::explain_dataset(&models[0], &test).unwrap();
    for (i, e) in e.iter().enumerate().take(50) {
        assert_eq!(e.base, lr.intercept);
        for j in 0..4 {
            let want = lr.coefficients[j] * (test.x[j][i] - lr.means[j]) / lr.scales[j];
            assert_eq!(e.contributions[j], want);
        }
    }
    // A track at the training means has every contribution zero and the base as log-odds.
    let at_mean: Vec<[f64; 1]> = lr.means.iter().map(|&m| [m]).collect();
    let cols: Vec<&[f64]> = at_mean.iter().map(|c| &c[..]).collect();
    let e = explain::explain(&models[0], &cols).unwrap();
    assert!(e[0].contributions.iter().all(|v| *v == 0.0));
    assert!((e[0].log_odds - lr.intercept).abs() < 1e-12);
}

#[test]
fn interactions_of_fitted_models_sum_to_their_contributions() {
    let (test, models) = fitted();
    let few = test.subset(&(0..20).collect::<Vec<_>>());
    for m in &models {
        let cols = m.columns(&few).unwrap();
        let e = explain::explain(m, &cols).unwrap();
        let inter = explain::interactions(m, &cols).unwrap();
        for (e, matrix) in e.iter().zip(&inter) {
            for j in 0..4 {
                let s: f64 = matrix[j].iter().sum();
                assert!((s - e.contributions[j]).abs() < 1e-9, "{}", m.family());
            }
        }
        if m.family() == Family::Logistic {
            assert!(inter.iter().all(|x| x[0][1] == 0.0));
        }
    }
}

#[test]
fn same_bits_whatever_the_thread_count() {
    let (test, models) = fitted();
    let run = |threads: usize| -> Vec<Vec<Explanation>> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                models
                    .iter()
                    .map(|m| explain::explain_dataset(m, &test).unwrap())
                    .collect()
            })
    };
    let one = run(1);
    for threads in [2, 3] {
        let other = run(threads);
        for (a, b) in one.iter().flatten().zip(other.iter().flatten()) {
            assert_eq!(a.base.to_bits(), b.base.to_bits());
            assert_eq!(a.log_odds.to_bits(), b.log_odds.to_bits());
            let bits = |e: &Explanation| {
                e.contributions
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(a), bits(b), "{threads} threads");
        }
    }
}

#[test]
fn bad_input_gives_errors_naming_the_row_and_feature() {
    let (test, models) = fitted();
    let mut cols: Vec<Vec<f64>> = test.x.iter().map(|c| c[..5].to_vec()).collect();
    cols[1][3] = f64::NAN;
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
    for m in &models {
        let err = explain::explain(m, &refs).unwrap_err().to_string();
        assert!(
            err.contains("row 3") && err.contains("`energy`") && err.contains("NaN"),
            "{err}"
        );
    }
    cols[1][3] = 1.5;
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
    let err = explain::explain(&models[2], &refs).unwrap_err().to_string();
    assert!(err.contains("outside the valid range"), "{err}");
    let err = explain::explain(&models[1], &refs[..3])
        .unwrap_err()
        .to_string();
    assert!(err.contains("4 features") && err.contains("got 3"), "{err}");
    let mut renamed = test.clone();
    renamed.feature_names[3] = "bpm".into();
    let err = explain::explain_dataset(&models[1], &renamed)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`tempo`"), "{err}");
}

#[test]
fn an_artifact_without_covers_loads_for_scoring_but_explaining_says_retrain() {
    let dir = tempfile::tempdir().unwrap();
    let d = synth(600);
    let rows: Vec<usize> = (0..d.len()).collect();
    let m = Trained::fit(Family::Forest, &d, &rows, &small_params(), 1).unwrap();
    let json = Artifact::new(m, &d, &rows, &small_params(), 1).to_json();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for tree in value["model"]["trees"].as_array_mut().unwrap() {
        tree.as_object_mut().unwrap().remove("cover");
    }
    let path = dir.path().join("model_forest.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let a = Artifact::load(&path).unwrap();
    assert!(a.model.predict_proba(&d).is_ok());
    let err = explain::explain_dataset(&a.model, &d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no node covers") && err.contains("hitcast train"),
        "{err}"
    );

    // The previous schema: a clear request to retrain.
    let old = json.replacen(
        &format!(
            "\"schema_version\":{}",
            hitcast::model::artifact::SCHEMA_VERSION
        ),
        "\"schema_version\":1",
        1,
    );
    assert_ne!(old, json);
    std::fs::write(&path, old).unwrap();
    let err = Artifact::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("model_forest.json") && err.contains("version 1") && err.contains("retrain"),
        "{err}"
    );

    // Covers of the wrong length or negative are refused on load.
    let mut bad = value.clone();
    bad["model"]["trees"][0]["cover"] = serde_json::json!([1.0]);
    std::fs::write(&path, bad.to_string()).unwrap();
    assert!(Artifact::load(&path)
        .unwrap_err()
        .to_string()
        .contains("covers"));

    // A forest built by hand without covers fails the same way, without a panic.
    let f = Forest {
        feature_names: d.feature_names.clone(),
        trees: Ensemble::new(vec![Tree {
            nodes: vec![
                Node {
                    threshold: 0.5,
                    feature: 0,
                    left: 1,
                },
                Node {
                    threshold: f64::INFINITY,
                    feature: 0,
                    left: 1,
                },
                Node {
                    threshold: f64::INFINITY,
                    feature: 0,
                    left: 2,
                },
            ],
            values: vec![0.0, 0.2, 0.8],
            depth: 1,
            cover: vec![10.0, 4.0, 6.0],
        }]),
        impurity_importance: vec![0.25; 4],
        oob_roc_auc: None,
    };
    let cols = f.columns(&d).unwrap();
    assert!(explain::forest_probability(&f, &cols).is_ok());
    let mut zero = f.clone();
    let mut trees: Vec<Tree> = zero.trees.to_vec();
    trees[0].cover[0] = 0.0;
    zero.trees = Ensemble::new(trees);
    let err = explain::forest_probability(&zero, &cols)
        .unwrap_err()
        .to_string();
    assert!(err.contains("positive cover"), "{err}");
}

#[test]
fn a_logistic_term_beyond_f64_is_an_error_not_an_infinite_contribution() {
    let (_, models) = fitted();
    let Trained::Logistic(mut m) = models[0].clone() else {
        unreachable!("family order starts with the logistic regression")
    };
    // Valid (finite) coefficients whose terms overflow for a track at the top of the range.
    m.coefficients[0] = 1e308;
    m.coefficients[1] = -1e308;
    let model = Trained::Logistic(m);
    let track = [1.0, 0.0, 0.5, 120.0];
    let p = model.predict_proba_one(&track);
    assert!((0.0..=1.0).contains(&p), "{p}");
    let err = explain::explain_row(&model, &track)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 0") && err.contains("overflows"), "{err}");
}

/// Beyond six features one track's TreeSHAP runs over blocks of trees on the pool: the same
/// bits on 1, 2 or 3 threads, for one track and for a batch, and still additive.
#[test]
fn wide_models_explain_one_track_on_the_pool_with_the_same_bits() {
    let (n, p) = (600, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x: Vec<Vec<f64>> = (0..p)
        .map(|_| (0..n).map(|_| rng.gen::<f64>()).collect())
        .collect();
    let y: Vec<u8> = (0..n)
        .map(|i| u8::from(x[0][i] + x[1][i] * x[2][i] + 0.3 * rng.gen::<f64>() > 0.9))
        .collect();
    let names: Vec<String> = (0..p).map(|j| format!("f{j}")).collect();
    let data = Dataset::from_columns(names, x, y).unwrap();
    let rows: Vec<usize> = (0..n).collect();
    let params = ModelParams {
        forest: ForestParams {
            n_trees: 80,
            ..Default::default()
        },
        ..Default::default()
    };
    for family in [Family::Forest, Family::Boost] {
        let m = Trained::fit(family, &data, &rows, &params, 3).unwrap();
        for take in [1, 30] {
            let few = data.subset(&(0..take).collect::<Vec<_>>());
            let run = |threads: usize| -> Vec<Explanation> {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| explain::explain_dataset(&m, &few).unwrap())
            };
            let bits = |e: &[Explanation]| -> Vec<u64> {
                e.iter()
                    .flat_map(|e| e.contributions.iter().map(|v| v.to_bits()))
                    .collect()
            };
            let one = run(1);
            for e in &one {
                let total: f64 = e.base + e.contributions.iter().sum::<f64>();
                assert!((total - e.log_odds).abs() < 1e-9, "{family:?}");
            }
            for threads in [2, 3] {
                assert_eq!(
                    bits(&one),
                    bits(&run(threads)),
                    "{family:?}, {threads} threads"
                );
            }
        }
    }
}
