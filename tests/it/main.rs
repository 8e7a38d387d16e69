//! Integration tests: one binary, a module per feature area.

mod cli;
mod data;
mod explain;
mod fuzz;
mod honesty;
mod leakage;
mod model;
mod provider;
mod report;
mod safety;
mod serve;
mod spine;
mod sql;

use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
