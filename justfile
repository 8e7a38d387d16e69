# HitCast: common steps. `just --list` shows them.

# The main job: the full report on the embedded synthetic data (or --data <csv>) → reports/.
report *ARGS:
    cargo run --release -- report {{ARGS}}

# Generate the synthetic demo dataset into data/raw_tracks.csv.
synth *ARGS:
    cargo run --release -- data synth {{ARGS}}

# Normalise a real Spotify CSV export into data/tracks.csv.
ingest CSV *ARGS:
    cargo run --release -- data ingest {{CSV}} {{ARGS}}

# Train the three models into models/.
train *ARGS:
    cargo run --release -- train {{ARGS}}

# Score a CSV with the models in models/.
predict CSV *ARGS:
    cargo run --release -- predict {{CSV}} {{ARGS}}

# Run the test suite.
test:
    cargo test

# Benchmarks against the Python peer (see docs/benchmarks.md).
bench *ARGS:
    cargo run --release -- bench {{ARGS}}

# Everything CI runs.
ci:
    bash .ci/run
