//! The `hitcast` command: argument parsing and printing around library calls.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use hitcast::data::{
    self, DataSource, FeatureSet, IngestOptions, LabelRule, SplitOptions, SynthParams,
};
use hitcast::model::{Artifact, Family, ModelParams};

/// Predict whether a Spotify track becomes a hit from its audio features.
#[derive(Parser)]
#[command(name = "hitcast", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Command {
    /// Build datasets: the synthetic demo data or a normalised copy of a real CSV.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train the three models and save them as artifacts.
    Train(TrainArgs),
    /// Score a CSV with saved models: one probability column per model.
    Predict(PredictArgs),
    /// Why these probabilities? Each feature's contribution (exact SHAP values, log-odds) per
    /// track and model.
    Explain(ExplainArgs),
    /// The main job: data → three models → evaluation → figures → reports/.
    Report(ReportArgs),
    /// Time fitting, scoring and the whole report (see docs/benchmarks.md).
    Bench(BenchArgs),
    /// Export a trained model as SQL for a warehouse: inline (a function and a SELECT) or as a
    /// table of trees with a scoring query.
    ExportSql(ExportSqlArgs),
    /// The what-if dashboard: a slider per feature, each model's hit probability.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Fetch real tracks with audio features (and popularity where the provider has it) into
    /// a CSV: from ReccoBeats (default, no credentials) or the Spotify Web API.
    #[cfg(feature = "fetch")]
    Fetch(FetchArgs),
    /// Score your own song: upload an audio file for feature extraction (ReccoBeats), then
    /// print each model's hit probability and the top reasons.
    #[cfg(feature = "fetch")]
    ScoreAudio(ScoreAudioArgs),
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum DataCommand {
    /// Generate the synthetic demo dataset (seeded, with its true hit probability).
    Synth(SynthArgs),
    /// Read a Spotify CSV export, validate it, and write the normalised dataset.
    Ingest(IngestArgs),
}

#[derive(Args)]
struct SynthArgs {
    /// Number of tracks.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Expected share of hits.
    #[arg(long, default_value_t = 0.2)]
    hit_rate: f64,
    /// Seed of all randomness.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    lessons: LessonArgs,
    /// Output CSV.
    #[arg(long, default_value = "data/raw_tracks.csv")]
    out: PathBuf,
}

/// The synthetic generator's built-in lessons (off by default).
#[derive(Args, Clone)]
struct LessonArgs {
    /// Synthetic data: extra rows repeating popular tracks, as a share of the tracks (e.g. 0.3).
    #[arg(long, default_value_t = 0.0)]
    duplicate_rate: f64,
    /// Synthetic data: spread the tracks over this many decades ending with the 2010s.
    #[arg(long, default_value_t = 0)]
    decades: usize,
    /// Synthetic data: how strongly the ground truth drifts across the decades (e.g. 1).
    #[arg(long, default_value_t = 0.0)]
    drift: f64,
}

/// How to read a CSV: shared by `data ingest`, `train` and `report`.
#[derive(Args, Clone)]
struct CsvArgs {
    /// Label source: `auto` (a `target` column, else popularity ≥ its 80th percentile),
    /// `target`, or `popularity` (with --threshold or --quantile).
    #[arg(long, default_value = "auto")]
    label: String,
    /// Popularity at or above this value (0–100) is a hit.
    #[arg(long, conflicts_with = "quantile")]
    threshold: Option<f64>,
    /// Popularity at or above this quantile (0–1) of the column is a hit.
    #[arg(long)]
    quantile: Option<f64>,
    /// Features: `core` (danceability, energy, valence, tempo), `all` audio features present,
    /// or a comma-separated list.
    #[arg(long, default_value = "core")]
    features: FeatureSet,
    /// One row per track id, the first (the default; kept for old scripts).
    #[arg(long, hide = true, conflicts_with = "keep_duplicates")]
    dedupe: bool,
    /// Keep every row of a repeated track id (by default only the first is kept); splits
    /// still keep a track's rows on one side. With --split-file it reproduces another tool's
    /// rows exactly.
    #[arg(long)]
    keep_duplicates: bool,
    /// What keeps rows together across the holdout and the folds: `track` (track id) or
    /// `title-artist` (also the same normalised title and artist under another id).
    #[arg(long, default_value = "track")]
    group_by: data::GroupBy,
    /// Column giving each row's time (decade, year or a release date) for the out-of-time
    /// section (default: decade, year, release_date, track_album_release_date, album_release_date).
    #[arg(long)]
    time_column: Option<String>,
    /// Column holding the track id (default: track_id, id or uri).
    #[arg(long)]
    id_column: Option<String>,
    /// Column holding the 0/1 label (default: target).
    #[arg(long)]
    target_column: Option<String>,
    /// Column holding popularity (default: popularity or track_popularity).
    #[arg(long)]
    popularity_column: Option<String>,
    /// Column holding a group such as the decade (default: group or decade).
    #[arg(long)]
    group_column: Option<String>,
    /// A 0/1 column marking the test rows (e.g. is_test).
    #[arg(long)]
    split_column: Option<String>,
    /// A split file with `row` (0-based data row) and `is_test` columns.
    #[arg(long)]
    split_file: Option<PathBuf>,
    /// Map a feature to a differently named column: `--map tempo=bpm` (repeatable).
    #[arg(long = "map", value_name = "FEATURE=COLUMN")]
    map: Vec<String>,
    /// Field delimiter: one character, or `tab`.
    #[arg(long, default_value = ",", value_parser = parse_delimiter)]
    delimiter: u8,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s != "\"" && s != "\n" && s != "\r" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "`{s}`: expected one ASCII character such as ';' or '|', or `tab` (not a quote or newline)"
        )),
    }
}

impl CsvArgs {
    fn options(&self) -> anyhow::Result<IngestOptions> {
        let label = match (self.label.as_str(), self.threshold, self.quantile) {
            ("auto", None, None) => LabelRule::Auto,
            ("target", None, None) => LabelRule::Target,
            ("popularity" | "auto", Some(t), None) => LabelRule::PopularityAtLeast(t),
            ("popularity" | "auto", None, Some(q)) => LabelRule::PopularityQuantile(q),
            ("popularity", None, None) => LabelRule::PopularityQuantile(0.8),
            ("target", _, _) => bail!("--threshold and --quantile apply to --label popularity"),
            (other, _, _) => {
                bail!("unknown --label `{other}`: expected auto, target or popularity")
            }
        };
        let mut rename = BTreeMap::new();
        for m in &self.map {
            let (feature, column) = m
                .split_once('=')
                .with_context(|| format!("--map `{m}`: expected FEATURE=COLUMN"))?;
            rename.insert(feature.trim().to_string(), column.trim().to_string());
        }
        Ok(IngestOptions {
            label,
            features: self.features.clone(),
            dedupe: !self.keep_duplicates,
            id_column: self.id_column.clone(),
            target_column: self.target_column.clone(),
            popularity_column: self.popularity_column.clone(),
            group_column: self.group_column.clone(),
            split_column: self.split_column.clone(),
            time_column: self.time_column.clone(),
            rename,
            delimiter: self.delimiter,
        })
    }
}

#[derive(Args)]
struct IngestArgs {
    /// The CSV to read.
    csv: PathBuf,
    /// Output CSV (normalised layout).
    #[arg(long, default_value = "data/tracks.csv")]
    out: PathBuf,
    #[command(flatten)]
    csv_args: CsvArgs,
}

/// Which data a run uses: the synthetic default or `--data <csv>`.
#[derive(Args, Clone)]
struct SourceArgs {
    /// A Spotify CSV to use instead of the embedded synthetic data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Rows of synthetic data (ignored with --data).
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Share of each class held out for testing (when the data gives no split).
    #[arg(long, default_value_t = 0.25)]
    test_fraction: f64,
    /// Test on these groups (e.g. `--test-group 2010`) instead of a random holdout.
    #[arg(long = "test-group")]
    test_groups: Vec<String>,
    /// Seed of all randomness: data, split, models.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    lessons: LessonArgs,
    #[command(flatten)]
    csv_args: CsvArgs,
}

impl SourceArgs {
    fn source(&self) -> anyhow::Result<DataSource> {
        Ok(match &self.data {
            None => DataSource::Synthetic(SynthParams {
                n_tracks: self.rows,
                seed: self.seed,
                duplicate_rate: self.lessons.duplicate_rate,
                decades: self.lessons.decades,
                drift: self.lessons.drift,
                ..SynthParams::default()
            }),
            Some(path) => DataSource::Csv {
                path: path.clone(),
                options: self.csv_args.options()?,
                split_file: self.csv_args.split_file.clone(),
            },
        })
    }

    /// The files this run reads: an output must never overwrite or delete them.
    fn inputs(&self) -> Vec<&std::path::Path> {
        let mut v: Vec<&std::path::Path> = self.data.iter().map(PathBuf::as_path).collect();
        v.extend(self.csv_args.split_file.as_deref());
        v
    }

    fn split(&self) -> SplitOptions {
        SplitOptions {
            test_fraction: self.test_fraction,
            test_groups: self.test_groups.clone(),
            keep_duplicates: self.csv_args.keep_duplicates,
            group_by: self.csv_args.group_by,
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Folder the artifacts are written to.
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Folder the report is written to, replaced as a whole: it must be new, empty, or a
    /// folder HitCast wrote (it holds a `.hitcast-output` marker).
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Replace --out even if it holds files HitCast did not write (they are deleted).
    #[arg(long)]
    force: bool,
    /// Folds of the cross-validation on the training rows.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Shuffles per feature in permutation importance.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Time explanations instead (10k holdout rows for forest and boost on 1 and 2 threads,
    /// one track for all three models).
    #[arg(long)]
    explain: bool,
    /// Time the models only, not the whole report (for large --rows).
    #[arg(long, conflicts_with = "explain")]
    no_report: bool,
}

#[derive(Args)]
#[command(after_long_help = EXPORT_SQL_HELP)]
struct ExportSqlArgs {
    /// Which model: logistic, forest or boost.
    #[arg(long)]
    model: Family,
    /// SQL dialect: snowflake, bigquery, duckdb, postgres or sqlite.
    #[arg(long)]
    dialect: hitcast::sql::Dialect,
    /// inline (nested CASE, a function and a SELECT), table (trees as a table, a data file
    /// and a scoring query of fixed size) or auto (inline if every statement is under 1 MB).
    #[arg(long, default_value = "auto")]
    form: hitcast::sql::Form,
    /// Folder holding the model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Table the SELECT scores (`schema.table` allowed).
    #[arg(long, default_value = "tracks")]
    table: String,
    /// The table's columns, comma-separated: checked against the model's features.
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Write the SQL here instead of standard output (the table form's data file goes
    /// beside it; the table form needs this).
    #[arg(long)]
    out: Option<PathBuf>,
}

const EXPORT_SQL_HELP: &str = "\
Forms:
  inline  The model as one expression: a function (Snowflake/PostgreSQL UDF, BigQuery temp
          function, DuckDB macro; none in SQLite) and a plain SELECT. Size grows with the
          trees (default models, measured): logistic 1.6 KB, boost 156 KB, forest 20 MB.
  table   The trees as rows of a table: a CSV data file (hitcast_<model>_trees.csv beside
          --out), the CREATE TABLE and load statement of the dialect (DuckDB read_csv,
          psql \\copy, Snowflake PUT + COPY INTO, BigQuery LOAD DATA, sqlite3 .import) and a
          scoring query of fixed size, three tree levels per join (default forest: 8.5 KB of
          SQL and a 15.6 MB CSV), whatever the number of trees. Forest and boost only.
  auto    inline when its largest statement is under 1 MB (Snowflake's and BigQuery's
          limit on query text), else table. The choice is printed.

Which model where (1M rows in DuckDB on 2 cores, measured): logistic inline 0.02 s, boost
inline 1.1 s; the default forest is too large for inline SQL in a warehouse (20 MB per
statement; DuckDB needed 755 s to create its macro), so it goes to the table form: 38 s.
docs/warehouses.md has the measured numbers and the steps per warehouse.
";

#[cfg(feature = "serve")]
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8501")]
    addr: std::net::SocketAddr,
    /// Folder of model artifacts (trained on the data first if missing or stale).
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Seconds a connection may take to send a request's head (also closes idle connections).
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    header_timeout: f64,
    /// Seconds a request's body may take to arrive.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    body_timeout: f64,
    /// Most connections served at once (more wait until one closes).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

/// A positive, finite number of seconds (at most a day).
#[cfg(feature = "serve")]
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 86_400.0 => Ok(x),
        _ => Err(format!("`{s}` is not a number of seconds in (0, 86400]")),
    }
}

#[cfg(feature = "fetch")]
const FETCH_HELP: &str = "\
Routes to real tracks in 2026:
  reccobeats  (default) audio features and popularity by Spotify track id, no credentials.
              Playlists are listed through Spotify, which needs SPOTIFY_CLIENT_ID and
              SPOTIFY_CLIENT_SECRET (environment or .env).
  spotify     apps with extended access only: since 27 Nov 2024 audio features answer 403
              for new and development-mode apps, and since 9 Mar 2026 their tracks carry
              no popularity (labels by popularity then refuse; --popularity-from reccobeats).
Ids a provider cannot resolve are printed and written beside the CSV (with --out
data/fetched_tracks.csv: data/fetched_tracks.unresolved.csv).

Examples:
  hitcast fetch --track 4uLU6hMCjMI75M1A2tKUQC,spotify:track:7ouMYWpwJ422jRcDASZB7P --threshold 60
  hitcast fetch --playlist <hits playlist> --playlist <other playlist> --hit-playlist <hits playlist>";

#[cfg(feature = "fetch")]
#[derive(Args)]
#[command(after_help = FETCH_HELP)]
struct FetchArgs {
    /// Where tracks come from: reccobeats (no credentials) or spotify.
    #[arg(long, default_value = "reccobeats")]
    provider: hitcast::data::provider::ProviderKind,
    /// Spotify playlist ids, URIs or open.spotify.com links (repeatable; listed through Spotify).
    #[arg(long = "playlist")]
    playlists: Vec<String>,
    /// Track ids, URIs or links (repeatable, or comma-separated).
    #[arg(long = "track", value_delimiter = ',')]
    tracks: Vec<String>,
    /// Label: a track of this playlist is a hit, any other is not.
    #[arg(long, conflicts_with = "threshold")]
    hit_playlist: Option<String>,
    /// Label: popularity at or above this value (0–100) is a hit (refused when any track's
    /// popularity is unknown).
    #[arg(long)]
    threshold: Option<f64>,
    /// With --provider spotify: take every track's popularity from this provider instead
    /// (Spotify's 2026 track object has none). Only `reccobeats`.
    #[arg(long)]
    popularity_from: Option<hitcast::data::provider::ProviderKind>,
    /// Output CSV (the normalised layout `data ingest` reads).
    #[arg(long, default_value = "data/fetched_tracks.csv")]
    out: PathBuf,
    /// Ignore cached responses and ask the API again.
    #[arg(long)]
    refresh: bool,
    /// Response cache folder (one subfolder per provider; no credentials are stored).
    #[arg(long, default_value = "data/cache")]
    cache: PathBuf,
    /// The provider's base URL, for a mirror, a proxy or a test server (default: the
    /// provider's own, https://api.reccobeats.com/v1 or https://api.spotify.com/v1).
    #[arg(long)]
    api_url: Option<String>,
    /// Spotify's base URL when another provider lists the playlists (a mirror or test server).
    #[arg(long)]
    spotify_api_url: Option<String>,
    /// ReccoBeats' base URL when it is asked for popularity only (--popularity-from).
    #[arg(long)]
    reccobeats_api_url: Option<String>,
    /// Token URL (for testing against a local server).
    #[arg(
        long,
        default_value = "https://accounts.spotify.com/api/token",
        hide = true
    )]
    token_url: String,
    /// Most per-track requests when Spotify refuses batch /tracks.
    #[arg(long, default_value_t = 500)]
    max_requests: usize,
}

#[cfg(feature = "fetch")]
#[derive(Args)]
#[command(after_help = "\
The file is uploaded to ReccoBeats (https://api.reccobeats.com, or --api-url), which extracts
the features with its own algorithm, not Spotify's (possibly from the start of the file only):
they may be shifted against the data the models learned from. README \"Getting real tracks in
2026\" shows how to check that drift. Size and format are checked here first; nothing is sent
for a file that fails them.

Example:
  hitcast score-audio song.mp3 --models models")]
struct ScoreAudioArgs {
    /// The audio file: MP3, OGG, WAV or AIFF, at most 5 MB (checked before anything is sent).
    file: PathBuf,
    /// Folder holding model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output CSV: one row with the extracted features, and each model's probability and top
    /// reasons.
    #[arg(long, default_value = "data/score_audio.csv")]
    out: PathBuf,
    /// Reasons printed per model.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// Ignore a cached analysis of the same file and upload it again.
    #[arg(long)]
    refresh: bool,
    /// Response cache folder.
    #[arg(long, default_value = "data/cache")]
    cache: PathBuf,
    /// ReccoBeats' base URL (for a mirror, a proxy or a test server).
    #[arg(long, default_value = hitcast::data::provider::reccobeats::API_URL)]
    api_url: String,
}

#[derive(Args)]
struct PredictArgs {
    /// The CSV to score (needs the models' feature columns).
    csv: PathBuf,
    /// Folder holding model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output CSV: the track id and one probability column per model.
    #[arg(long, default_value = "data/predictions.csv")]
    out: PathBuf,
}

#[derive(Args)]
struct ExplainArgs {
    /// The CSV to explain (needs the models' feature columns).
    csv: PathBuf,
    /// Folder holding model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output CSV: one row per track and model (base, each feature's contribution, log-odds,
    /// probability).
    #[arg(long, default_value = "data/explanations.csv")]
    out: PathBuf,
    /// Tracks whose top reasons are printed.
    #[arg(long, default_value_t = 3)]
    show: usize,
    /// Reasons printed per track and model.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
}

fn synth(args: &SynthArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let params = SynthParams {
        n_tracks: args.rows,
        hit_rate: args.hit_rate,
        seed: args.seed,
        duplicate_rate: args.lessons.duplicate_rate,
        decades: args.lessons.decades,
        drift: args.lessons.drift,
    };
    let (dataset, _) = data::synthesize(&params)?;
    dataset.write_csv(&args.out)?;
    writeln!(
        out,
        "wrote {} ({} tracks, seed {})",
        args.out.display(),
        dataset.len(),
        args.seed
    )?;
    write!(out, "{}", data::profile(&dataset))?;
    Ok(())
}

fn ingest(args: &IngestArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut inputs = vec![args.csv.as_path()];
    inputs.extend(args.csv_args.split_file.as_deref());
    hitcast::atomic::check_not_input(&args.out, &inputs)?;
    let ing = data::ingest(&args.csv, &args.csv_args.options()?)?;
    let r = &ing.report;
    ing.dataset.write_csv(&args.out)?;
    writeln!(
        out,
        "read {} ({}): {} rows",
        args.csv.display(),
        r.layout,
        r.rows_raw
    )?;
    writeln!(out, "label: {}", r.label_rule)?;
    if let Some(t) = r.threshold {
        writeln!(
            out,
            "resolved popularity cut: {t} ({} tracks tie at the cut and count as hits)",
            r.ties_at_cut.unwrap_or(0)
        )?;
    }
    writeln!(
        out,
        "hit rate: {:.1} % of {} rows",
        100.0 * r.hit_rate,
        r.rows
    )?;
    match &r.id_column {
        Some(c) => writeln!(
            out,
            "duplicates: {} rows repeat an earlier `{c}`; {} dropped{}",
            r.duplicate_rows,
            r.duplicates_dropped,
            if r.duplicates_dropped == r.duplicate_rows {
                ""
            } else {
                " (kept with --keep-duplicates: splits keep a track's rows on one side)"
            }
        )?,
        None => writeln!(out, "duplicates: no id column, not checked")?,
    }
    if !r.conflicting_tracks.is_empty() {
        let shown: Vec<&str> = r
            .conflicting_tracks
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        writeln!(
            out,
            "conflicting labels: {} tracks carry both labels (e.g. {})",
            r.conflicting_tracks.len(),
            shown.join(", ")
        )?;
    }
    let mut warnings = r.warnings();
    warnings.extend(data::near_duplicate_warning(
        &r.near_duplicates,
        args.csv_args.group_by,
    ));
    warnings.extend(data::feature_warnings(&ing.dataset));
    for w in &warnings {
        writeln!(out, "warning: {w}")?;
    }
    writeln!(out, "wrote {}", args.out.display())?;
    write!(out, "{}", data::profile(&ing.dataset))?;
    Ok(())
}

fn train(args: &TrainArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let prepared = args
        .source
        .source()?
        .prepare(&args.source.split(), args.source.seed)?;
    let params = ModelParams::default();
    let d = &prepared.dataset;
    writeln!(
        out,
        "training on {} of {} tracks ({})",
        prepared.split.train.len(),
        d.len(),
        prepared.split_rule
    )?;
    for w in &prepared.warnings {
        writeln!(out, "warning: {w}")?;
    }
    for family in Family::ALL {
        hitcast::atomic::check_not_input(
            &args.models.join(Artifact::file_name(family)),
            &args.source.inputs(),
        )?;
    }
    for (artifact, auc) in Artifact::train_all(&prepared, &params, args.source.seed)? {
        let path = args.models.join(Artifact::file_name(artifact.family));
        artifact.save(&path)?;
        writeln!(
            out,
            "{:<20} holdout ROC AUC {auc:.4}  → {}",
            artifact.family.title(),
            path.display()
        )?;
    }
    Ok(())
}

/// The artifacts in `dir` (at least one) and the tracks of `csv` with their features.
fn artifacts_and_tracks(
    dir: &std::path::Path,
    csv: &std::path::Path,
) -> anyhow::Result<(Vec<Artifact>, data::Dataset)> {
    let artifacts = Artifact::load_all(dir)?;
    let tracks = hitcast::score::read_tracks(&artifacts, csv)?;
    Ok((artifacts, tracks))
}

fn predict(args: &PredictArgs, out: &mut impl Write) -> anyhow::Result<()> {
    hitcast::atomic::check_not_input(&args.out, &[args.csv.as_path()])?;
    let (artifacts, scored) = artifacts_and_tracks(&args.models, &args.csv)?;
    let csv = hitcast::score::prediction_csv(&artifacts, &scored)?;
    hitcast::atomic::write(&args.out, csv.as_bytes())?;
    writeln!(
        out,
        "scored {} tracks with {} models → {}",
        scored.len(),
        artifacts.len(),
        args.out.display()
    )?;
    Ok(())
}

fn explain(args: &ExplainArgs, out: &mut impl Write) -> anyhow::Result<()> {
    hitcast::atomic::check_not_input(&args.out, &[args.csv.as_path()])?;
    let (artifacts, tracks) = artifacts_and_tracks(&args.models, &args.csv)?;
    let explained: Vec<Vec<hitcast::explain::Explanation>> = artifacts
        .iter()
        .map(|a| {
            hitcast::explain::explain_dataset(&a.model, &tracks).with_context(|| {
                format!(
                    "explaining {} with the {} model",
                    args.csv.display(),
                    a.family
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let csv = hitcast::score::explanation_csv(&artifacts, &tracks, &explained);
    hitcast::atomic::write(&args.out, csv.as_bytes())?;
    writeln!(
        out,
        "explained {} tracks with {} models → {}",
        tracks.len(),
        artifacts.len(),
        args.out.display()
    )?;
    for i in 0..tracks.len().min(args.show) {
        let label = hitcast::score::track_label(&tracks, i);
        writeln!(out, "\n{label}")?;
        for (a, e) in artifacts.iter().zip(&explained) {
            let e = &e[i];
            let row = hitcast::score::row_of(&tracks, &a.feature_names, i);
            let reasons = hitcast::explain::reasons(&a.feature_names, &row, e, args.reasons);
            writeln!(
                out,
                "  {:<8} P(hit) {:.3} (log-odds {:+.2} = base {:+.2} + contributions); {}",
                a.family.name(),
                e.probability,
                e.log_odds,
                e.base,
                reasons.join("; ")
            )?;
        }
    }
    Ok(())
}

fn report(args: &ReportArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let source = args.source.source()?;
    let name = source.name();
    let show = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let progress = |step: &str| {
        if show {
            eprintln!("[{:>5.1} s] {step}", started.elapsed().as_secs_f64());
        }
    };
    let replace = match args.force {
        true => hitcast::atomic::Replace::Force,
        false => hitcast::atomic::Replace::OnlyOurs,
    };
    // Refused before any work: a user should not wait for a report that cannot be written.
    hitcast::atomic::check_not_input(&args.out, &args.source.inputs())?;
    hitcast::atomic::check_replaceable(&args.out, replace)?;
    let options = hitcast::report::ReportOptions {
        cv_folds: args.folds,
        permutation_repeats: args.repeats,
        ..Default::default()
    };
    options.check()?;
    progress("loading data");
    let prepared = source.prepare(&args.source.split(), args.source.seed)?;
    let (rep, figures) =
        hitcast::report::build(&prepared, &name, args.source.seed, &options, &progress)?;
    hitcast::report::write_to(&args.out, &rep, &figures, replace)?;
    write!(
        out,
        "{}",
        hitcast::report::summary(&rep, &args.out, figures.len())
    )?;
    Ok(())
}

fn bench(args: &BenchArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let prepared = args
        .source
        .source()?
        .prepare(&args.source.split(), args.source.seed)?;
    let load_s = started.elapsed().as_secs_f64();
    if args.explain {
        let b = hitcast::bench::explain(
            &prepared,
            &ModelParams::default(),
            args.repeats,
            args.source.seed,
        )?;
        write!(out, "{b}")?;
        return Ok(());
    }
    let b = hitcast::bench::run(
        &prepared,
        &ModelParams::default(),
        args.repeats,
        args.source.seed,
        !args.no_report,
    )?;
    write!(out, "{b}")?;
    writeln!(out, "data loading: {load_s:.3} s")?;
    if let Some(peak) = hitcast::bench::peak_memory() {
        writeln!(out, "peak memory: {peak}")?;
    }
    Ok(())
}

fn export_sql(args: &ExportSqlArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let artifact = Artifact::load_family(&args.models, args.model)?;
    hitcast::sql::check_columns(&artifact.feature_names, &args.table, &args.columns)?;
    let export = hitcast::sql::export(&artifact.model, args.dialect, args.form, &args.table)?;
    match &args.out {
        Some(p) => {
            let model_path = args.models.join(Artifact::file_name(args.model));
            hitcast::atomic::check_not_input(p, &[&model_path])?;
            if let Some(data) = &export.data {
                let dir = p.parent().unwrap_or(std::path::Path::new(""));
                let data_path = dir.join(&data.file_name);
                hitcast::atomic::check_not_input(&data_path, &[&model_path])?;
                // Both targets checked before either is written: nothing half-written.
                hitcast::atomic::check_file_target(p)?;
                hitcast::atomic::check_file_target(&data_path)?;
                hitcast::atomic::write(&data_path, data.contents.as_bytes())?;
                eprintln!(
                    "wrote {} (the trees, {} bytes)",
                    data_path.display(),
                    data.contents.len()
                );
            }
            hitcast::atomic::write(p, export.sql.as_bytes())?;
            eprintln!("{}", export.note);
            writeln!(
                out,
                "wrote {} ({} dialect, {} form, {} bytes)",
                p.display(),
                args.dialect,
                export.form,
                export.sql.len()
            )?;
        }
        None => {
            if export.data.is_some() {
                bail!(
                    "the table form writes a data file beside the SQL: give --out ({})",
                    export.note
                );
            }
            eprintln!("{}", export.note);
            out.write_all(export.sql.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(feature = "serve")]
fn serve(args: &ServeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let source = args.source.source()?;
    let prepared = source.prepare(&args.source.split(), args.source.seed)?;
    let name = source.name();
    let mut notes = Vec::new();
    let artifacts = Artifact::load_or_train(
        &args.models,
        &prepared,
        &ModelParams::default(),
        args.source.seed,
        &mut |m| notes.push(m.to_string()),
    )?;
    for n in notes {
        writeln!(out, "{n}")?;
    }
    let dashboard =
        hitcast::serve::Dashboard::build(&prepared, &name, artifacts, args.source.seed)?;
    let mut ready = |addr: std::net::SocketAddr| {
        let _ = writeln!(
            out,
            "HitCast dashboard on http://{addr}/  (Ctrl-C stops it)"
        );
        let _ = out.flush();
    };
    let limits = hitcast::serve::Limits::default()
        .with_header_timeout(std::time::Duration::from_secs_f64(args.header_timeout))
        .with_body_timeout(std::time::Duration::from_secs_f64(args.body_timeout))
        .with_max_connections(args.max_connections as usize);
    hitcast::serve::run(args.addr, dashboard, &limits, &mut ready)?;
    Ok(())
}

/// Reads a credential from the environment, then from a git-ignored `.env` file (parsed as
/// dotenv readers do; a malformed line is an error naming it). An empty value is unset.
#[cfg(feature = "fetch")]
fn credential(name: &str) -> anyhow::Result<Option<String>> {
    if let Ok(v) = std::env::var(name) {
        if !v.trim().is_empty() {
            return Ok(Some(v));
        }
    }
    let text = match std::fs::read_to_string(".env") {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!(".env: {e}"),
    };
    let entries = hitcast::data::provider::dotenv::parse(&text)
        .map_err(|(line, message)| anyhow::anyhow!(".env line {line}: {message}"))?;
    Ok(entries
        .into_iter()
        .rev()
        .find(|e| e.key == name)
        .map(|e| e.value)
        .filter(|v| !v.trim().is_empty()))
}

/// A provider's HTTP settings: `base`, its cache folder under `cache`, `--refresh`.
#[cfg(feature = "fetch")]
fn provider_http(
    base: &str,
    cache: &std::path::Path,
    provider: &str,
    refresh: bool,
) -> hitcast::data::provider::HttpOptions {
    hitcast::data::provider::HttpOptions {
        refresh,
        ..hitcast::data::provider::HttpOptions::new(base, Some(cache.join(provider)))
    }
}

#[cfg(feature = "fetch")]
fn fetch(args: &FetchArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use hitcast::data::provider::{
        self, reccobeats, spotify, FetchLabel, FetchRequest, ProviderKind,
    };
    use std::io::IsTerminal;
    if args.playlists.is_empty() && args.tracks.is_empty() {
        bail!("nothing to fetch: give --track and/or --playlist");
    }
    if matches!(args.popularity_from, Some(ProviderKind::Spotify)) {
        bail!("--popularity-from: only reccobeats is supported");
    }
    if args.popularity_from.is_some() && args.provider != ProviderKind::Spotify {
        bail!("--popularity-from is for --provider spotify (ReccoBeats tracks already carry its popularity)");
    }
    if let Some(t) = args.threshold {
        if !(0.0..=100.0).contains(&t) {
            bail!("--threshold {t}: popularity runs from 0 to 100");
        }
    }
    // A provider's base URL: `--api-url` for the chosen one, else its own flag, else its
    // real address.
    let base_url = |kind: ProviderKind, own: &Option<String>, real: &str| -> String {
        let chosen = match args.provider == kind {
            true => args.api_url.clone(),
            false => None,
        };
        chosen
            .or_else(|| own.clone())
            .unwrap_or_else(|| real.into())
    };
    let needs_spotify = args.provider == ProviderKind::Spotify || !args.playlists.is_empty();
    let mut spotify_client = if needs_spotify {
        let (Some(client_id), Some(client_secret)) = (
            credential("SPOTIFY_CLIENT_ID")?,
            credential("SPOTIFY_CLIENT_SECRET")?,
        ) else {
            if args.provider == ProviderKind::Spotify {
                bail!("--provider spotify needs SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (environment or .env); --provider reccobeats needs no credentials");
            }
            bail!("--playlist lists tracks through Spotify: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (environment or .env), or pass the track ids with --track");
        };
        let http = provider_http(
            &base_url(
                ProviderKind::Spotify,
                &args.spotify_api_url,
                spotify::API_URL,
            ),
            &args.cache,
            "spotify",
            args.refresh,
        );
        Some(spotify::Client::new(
            spotify::Credentials {
                client_id,
                client_secret,
            },
            spotify::ClientOptions {
                http,
                token_url: args.token_url.clone(),
                max_requests: args.max_requests,
                ..spotify::ClientOptions::default()
            },
        ))
    } else {
        None
    };
    let needs_recco = args.provider == ProviderKind::ReccoBeats || args.popularity_from.is_some();
    let mut recco_client = needs_recco.then(|| {
        reccobeats::Client::new(provider_http(
            &base_url(
                ProviderKind::ReccoBeats,
                &args.reccobeats_api_url,
                reccobeats::API_URL,
            ),
            &args.cache,
            "reccobeats",
            args.refresh,
        ))
    });
    if let Some(hit) = &args.hit_playlist {
        let id = provider::bare_id(hit);
        if !args.playlists.iter().any(|p| provider::bare_id(p) == id) {
            bail!("--hit-playlist {id} is not among the --playlist options: every track would be labelled a non-hit; list it with --playlist too");
        }
    }
    let label = match (&args.hit_playlist, args.threshold) {
        (Some(p), _) => FetchLabel::InPlaylist(p.clone()),
        (None, Some(t)) => FetchLabel::PopularityAtLeast(t),
        (None, None) => FetchLabel::None,
    };
    let unresolved_path = args.out.with_extension("unresolved.csv");
    let show = std::io::stderr().is_terminal();
    let request = FetchRequest {
        playlists: args.playlists.clone(),
        tracks: args.tracks.clone(),
        popularity_from_reccobeats: args.popularity_from.is_some(),
    };
    let fetched = provider::fetch(
        args.provider,
        &request,
        spotify_client.as_mut(),
        recco_client.as_mut(),
        &mut |m| {
            if show {
                eprintln!("{m}");
            }
        },
    )?;
    // Labels are checked before anything is written.
    let csv = fetched.to_csv(&label)?;
    if fetched.tracks.is_empty() {
        for u in fetched.unresolved.iter().take(20) {
            writeln!(out, "unresolved: {} ({})", u.id, u.reason)?;
        }
        bail!(
            "no track could be fetched with features ({} unresolved); nothing written",
            fetched.unresolved.len()
        );
    }
    // The list of misses first: it always matches the CSV written after it. Both targets
    // are checked before either is written.
    hitcast::atomic::check_file_target(&args.out)?;
    hitcast::atomic::check_file_target(&unresolved_path)?;
    hitcast::atomic::write(&unresolved_path, fetched.unresolved_csv().as_bytes())?;
    hitcast::atomic::write(&args.out, csv.as_bytes())?;
    writeln!(
        out,
        "fetched {} tracks from {} ({} requests from the cache, {} from the network) → {}",
        fetched.tracks.len(),
        args.provider.name(),
        fetched.from_cache,
        fetched.from_network,
        args.out.display()
    )?;
    for n in &fetched.notes {
        writeln!(out, "note: {n}")?;
    }
    if !fetched.unresolved.is_empty() {
        writeln!(
            out,
            "{} ids not resolved (listed in {}):",
            fetched.unresolved.len(),
            unresolved_path.display()
        )?;
        for u in fetched.unresolved.iter().take(20) {
            writeln!(out, "  {}: {}", u.id, u.reason)?;
        }
        if fetched.unresolved.len() > 20 {
            writeln!(out, "  … and {} more", fetched.unresolved.len() - 20)?;
        }
    }
    Ok(())
}

#[cfg(feature = "fetch")]
fn score_audio(args: &ScoreAudioArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use hitcast::data::provider::{audio::AudioFile, reccobeats};
    hitcast::atomic::check_not_input(&args.out, &[args.file.as_path()])?;
    // Local checks first: nothing is sent for a file the service would refuse.
    let file = AudioFile::open(&args.file)?;
    let artifacts = Artifact::load_all(&args.models)?;
    let mut client = reccobeats::Client::new(provider_http(
        &args.api_url,
        &args.cache,
        "reccobeats",
        args.refresh,
    ));
    let features = client.analyse(&file)?;
    let id = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    writeln!(
        out,
        "{}: features extracted by ReccoBeats",
        hitcast::data::provider::http::printable(&id)
    )?;
    let described: Vec<String> = features
        .iter()
        .map(|(k, v)| hitcast::explain::describe_value(k, *v))
        .collect();
    writeln!(out, "  {}", described.join("; "))?;
    let mut row = format!(
        "file,{}",
        features.keys().cloned().collect::<Vec<_>>().join(",")
    );
    let mut values = format!(
        "{},{}",
        data::csv_field(&id),
        features
            .values()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut scored = 0;
    for a in &artifacts {
        let missing: Vec<&str> = a
            .feature_names
            .iter()
            .filter(|f| !features.contains_key(*f))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            writeln!(
                out,
                "  {:<8} skipped: the upload gives no {} (the analysis returns {})",
                a.family.name(),
                missing.join(", "),
                features.keys().cloned().collect::<Vec<_>>().join(", ")
            )?;
            row.push_str(&format!(",p_{0},reasons_{0}", a.family));
            values.push_str(",,");
            continue;
        }
        let x: Vec<f64> = a.feature_names.iter().map(|f| features[f]).collect();
        let e = hitcast::explain::explain_row(&a.model, &x)?;
        let reasons = hitcast::explain::reasons(&a.feature_names, &x, &e, args.reasons);
        writeln!(
            out,
            "  {:<8} P(hit) {:.3}; {}",
            a.family.name(),
            e.probability,
            reasons.join("; ")
        )?;
        // The top contributions beside the probability, as printed.
        row.push_str(&format!(",p_{0},reasons_{0}", a.family));
        values.push_str(&format!(
            ",{},{}",
            e.probability,
            data::csv_field(&reasons.join("; "))
        ));
        scored += 1;
    }
    if scored == 0 {
        bail!("no model could score the upload: every model needs a feature the analysis does not return");
    }
    hitcast::atomic::write(
        &args.out,
        format!(
            "{row}
{values}
"
        )
        .as_bytes(),
    )?;
    writeln!(
        out,
        "→ {}
note: these features come from ReccoBeats' extractor, not Spotify's, and may be shifted against the data the models learned from (one comparison found danceability 0.65 on Spotify ≈ 0.80 elsewhere); only the start of the file may be analysed. README \"Getting real tracks in 2026\" shows how to check the drift on your own data.",
        args.out.display()
    )?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &cli.command {
        Command::Data(DataCommand::Synth(a)) => synth(a, &mut out)?,
        Command::Data(DataCommand::Ingest(a)) => ingest(a, &mut out)?,
        Command::Train(a) => train(a, &mut out)?,
        Command::Predict(a) => predict(a, &mut out)?,
        Command::Explain(a) => explain(a, &mut out)?,
        Command::Report(a) => report(a, &mut out)?,
        Command::Bench(a) => bench(a, &mut out)?,
        Command::ExportSql(a) => export_sql(a, &mut out)?,
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve(a, &mut out)?,
        #[cfg(feature = "fetch")]
        Command::Fetch(a) => fetch(a, &mut out)?,
        #[cfg(feature = "fetch")]
        Command::ScoreAudio(a) => score_audio(a, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`hitcast … | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // Each cause once: the library's messages already quote their source (an OS
            // error names its path and reason), so a cause that repeats is left out.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !message.contains(&c) {
                    message = format!("{message}: {c}");
                }
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
