use hitcast::data::*;
use hitcast::model::*;
use std::time::Instant;
fn main() {
    let path = std::path::Path::new("../shared/data/billboard-hits/hit_predictor_1960_2019.csv");
    let ing = hitcast::data::ingest(path, &IngestOptions::default()).unwrap();
    let d = &ing.dataset;
    let rows: Vec<usize> = (0..30829).collect();
    let t = Instant::now();
    let m = Forest::fit(
        d,
        &rows,
        &ForestParams {
            min_samples_leaf: 5,
            ..Default::default()
        },
        42,
    )
    .unwrap();
    eprintln!("forest {:?}", t.elapsed());
    let t = Instant::now();
    let b = Boost::fit(d, &rows, &BoostParams::default(), 42).unwrap();
    eprintln!("boost {:?} {}", t.elapsed(), m.trees.len() + b.trees.len());
}
