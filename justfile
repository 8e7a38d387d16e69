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

# The what-if dashboard on http://127.0.0.1:8501/.
serve *ARGS:
    cargo run --release -- serve {{ARGS}}

# Execute the notebooks headlessly (installs the evcxr kernel on first use).
notebooks:
    bash .ci/notebooks

# Export a model as SQL, e.g. `just export-sql boost snowflake`.
export-sql MODEL DIALECT *ARGS:
    cargo run --release -- export-sql --model {{MODEL}} --dialect {{DIALECT}} {{ARGS}}

# Run the test suite.
test:
    cargo test

# Benchmarks against the Python peer (see docs/benchmarks.md).
bench *ARGS:
    cargo run --release -- bench {{ARGS}}

# Everything CI runs.
ci:
    bash .ci/run
