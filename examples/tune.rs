use hitcast::data::*;
use hitcast::model::*;
use std::time::Instant;
fn main() {
    for feats in [FeatureSet::Core, FeatureSet::All] {
        let path =
            std::path::Path::new("../shared/data/billboard-hits/hit_predictor_1960_2019.csv");
        let ing = hitcast::data::ingest(
            path,
            &IngestOptions {
                features: feats.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        let is_test = read_split_file(
            std::path::Path::new("../shared/data/billboard-hits/split.csv"),
            &ing.source_rows,
        )
        .unwrap();
        let split = split_by_rows(&is_test).unwrap();
        let d = &ing.dataset;
        let test = d.subset(&split.test);
        for leaf in [1, 3, 5, 10, 20] {
            let p = ForestParams {
                min_samples_leaf: leaf,
                ..Default::default()
            };
            let t = Instant::now();
            let m = Forest::fit(d, &split.train, &p, 42).unwrap();
            let ft = t.elapsed();
            let t = Instant::now();
            let pr = m.predict_proba(&test).unwrap();
            let pt = t.elapsed();
            let nodes: usize = m.trees.iter().map(|t| t.nodes.len()).sum();
            println!(
                "{feats} leaf {leaf}: fit {ft:.2?} predict {pt:.2?} auc {:.4} nodes {nodes}",
                hitcast::eval::roc_auc(&test.y, &pr).unwrap()
            );
        }
    }
}
