use hitcast::data::*;
use hitcast::model::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let feats = if args.get(1).map(|s| s.as_str()) == Some("all") {
        FeatureSet::All
    } else {
        FeatureSet::Core
    };
    let path = std::path::Path::new("../shared/data/billboard-hits/hit_predictor_1960_2019.csv");
    let t = Instant::now();
    let ing = hitcast::data::ingest(
        path,
        &IngestOptions {
            features: feats,
            ..Default::default()
        },
    )
    .unwrap();
    println!("ingest {:?} {:?}", t.elapsed(), ing.report);
    let is_test = read_split_file(
        std::path::Path::new("../shared/data/billboard-hits/split.csv"),
        &ing.source_rows,
    )
    .unwrap();
    let split = split_by_rows(&is_test).unwrap();
    let d = &ing.dataset;
    let test = d.subset(&split.test);
    let params = ModelParams::default();
    for fam in Family::ALL {
        let t = Instant::now();
        let m = Trained::fit(fam, d, &split.train, &params, 42).unwrap();
        let ft = t.elapsed();
        let t = Instant::now();
        let p = m.predict_proba(&test).unwrap();
        let pt = t.elapsed();
        let auc = hitcast::eval::roc_auc(&test.y, &p).unwrap();
        let size = serde_json::to_string(&m).unwrap().len();
        println!(
            "{fam}: fit {ft:?} predict {pt:?} auc {auc:.4} json {size} imp {:?}",
            m.importances()
        );
    }
    let (s, _) = synthesize(&SynthParams::default()).unwrap();
    let sp = stratified_holdout(&s.y, 0.25, 42).unwrap();
    let st = s.subset(&sp.test);
    let oracle = hitcast::eval::roc_auc(&st.y, st.true_prob.as_ref().unwrap()).unwrap();
    println!("synth oracle {oracle:.4}");
    for fam in Family::ALL {
        let m = Trained::fit(fam, &s, &sp.train, &params, 42).unwrap();
        let p = m.predict_proba(&st).unwrap();
        println!(
            "synth {fam}: auc {:.4}",
            hitcast::eval::roc_auc(&st.y, &p).unwrap()
        );
    }
}
