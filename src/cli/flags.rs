//! The `hitcast` command line: clap's flag structs and their conversion into library
//! options (the binary's only module; `main.rs` calls the library and prints).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use hitcast::data::{
    self, DataSource, FeatureSet, IngestOptions, LabelRule, SplitOptions, SynthParams,
};
use hitcast::model::Family;

/// Predict whether a Spotify track becomes a hit from its audio features.
#[derive(Parser)]
#[command(name = "hitcast", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum Command {
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
pub enum DataCommand {
    /// Generate the synthetic demo dataset (seeded, with its true hit probability).
    Synth(SynthArgs),
    /// Read a Spotify CSV export, validate it, and write the normalised dataset.
    Ingest(IngestArgs),
}

#[derive(Args)]
pub struct SynthArgs {
    /// Number of tracks.
    #[arg(long, default_value_t = 20_000)]
    pub rows: usize,
    /// Expected share of hits.
    #[arg(long, default_value_t = 0.2)]
    pub hit_rate: f64,
    /// Seed of all randomness.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub lessons: LessonArgs,
    /// Features: `core` (danceability, energy, valence, tempo) or `all` (also the eleven
    /// other audio features, drawn without any signal).
    #[arg(long, default_value = "core")]
    pub features: FeatureSet,
    /// Output CSV.
    #[arg(long, default_value = "data/raw_tracks.csv")]
    pub out: PathBuf,
}

/// The synthetic generator's built-in lessons (off by default).
#[derive(Args, Clone)]
pub struct LessonArgs {
    /// Synthetic data: extra rows repeating popular tracks, as a share of the tracks (e.g. 0.3).
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_rate: f64,
    /// Synthetic data: spread the tracks over this many decades ending with the 2010s.
    #[arg(long, default_value_t = 0)]
    pub decades: usize,
    /// Synthetic data: how strongly the ground truth drifts across the decades (e.g. 1).
    #[arg(long, default_value_t = 0.0)]
    pub drift: f64,
}

/// How to read a CSV: shared by `data ingest`, `train` and `report`.
#[derive(Args, Clone)]
pub struct CsvArgs {
    /// Label source: `auto` (a `target` column, else popularity ≥ its 80th percentile),
    /// `target`, or `popularity` (with --threshold or --quantile).
    #[arg(long, default_value = "auto")]
    pub label: String,
    /// Popularity at or above this value (0–100) is a hit.
    #[arg(long, conflicts_with = "quantile")]
    pub threshold: Option<f64>,
    /// Popularity at or above this quantile (0–1) of the column is a hit.
    #[arg(long)]
    pub quantile: Option<f64>,
    /// Features: `core` (danceability, energy, valence, tempo), `all` audio features present
    /// (on the synthetic data: also its eleven other features, which carry no signal), or a
    /// comma-separated list (CSV data).
    #[arg(long, default_value = "core")]
    pub features: FeatureSet,
    /// One row per track id, the first (the default; kept for old scripts).
    #[arg(long, hide = true, conflicts_with = "keep_duplicates")]
    pub dedupe: bool,
    /// Keep every row of a repeated track id (by default only the first is kept); splits
    /// still keep a track's rows on one side. With --split-file it reproduces another tool's
    /// rows exactly.
    #[arg(long)]
    pub keep_duplicates: bool,
    /// What keeps rows together across the holdout and the folds: `track` (track id) or
    /// `title-artist` (also the same normalised title and artist under another id).
    #[arg(long, default_value = "track")]
    pub group_by: data::GroupBy,
    /// Column giving each row's time (decade, year or a release date) for the out-of-time
    /// section (default: decade, year, release_date, track_album_release_date, album_release_date).
    #[arg(long)]
    pub time_column: Option<String>,
    /// Column holding the track id (default: track_id, id or uri).
    #[arg(long)]
    pub id_column: Option<String>,
    /// Column holding the 0/1 label (default: target).
    #[arg(long)]
    pub target_column: Option<String>,
    /// Column holding popularity (default: popularity or track_popularity).
    #[arg(long)]
    pub popularity_column: Option<String>,
    /// Column holding a group such as the decade (default: group or decade).
    #[arg(long)]
    pub group_column: Option<String>,
    /// A 0/1 column marking the test rows (e.g. is_test).
    #[arg(long)]
    pub split_column: Option<String>,
    /// A split file with `row` (0-based data row) and `is_test` columns.
    #[arg(long)]
    pub split_file: Option<PathBuf>,
    /// Map a feature to a differently named column: `--map tempo=bpm` (repeatable).
    #[arg(long = "map", value_name = "FEATURE=COLUMN")]
    pub map: Vec<String>,
    /// Field delimiter: one character, or `tab`.
    #[arg(long, default_value = ",", value_parser = parse_delimiter)]
    pub delimiter: u8,
}

pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s != "\"" && s != "\n" && s != "\r" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "`{s}`: expected one ASCII character such as ';' or '|', or `tab` (not a quote or newline)"
        )),
    }
}

impl CsvArgs {
    pub fn options(&self) -> anyhow::Result<IngestOptions> {
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
pub struct IngestArgs {
    /// The CSV to read.
    pub csv: PathBuf,
    /// Output CSV (normalised layout).
    #[arg(long, default_value = "data/tracks.csv")]
    pub out: PathBuf,
    #[command(flatten)]
    pub csv_args: CsvArgs,
}

/// Which data a run uses: the synthetic default or `--data <csv>`.
#[derive(Args, Clone)]
pub struct SourceArgs {
    /// A Spotify CSV to use instead of the embedded synthetic data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Rows of synthetic data (ignored with --data).
    #[arg(long, default_value_t = 20_000)]
    pub rows: usize,
    /// Share of each class held out for testing (when the data gives no split).
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Test on these groups (e.g. `--test-group 2010`) instead of a random holdout.
    #[arg(long = "test-group")]
    pub test_groups: Vec<String>,
    /// Seed of all randomness: data, split, models.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub lessons: LessonArgs,
    #[command(flatten)]
    pub csv_args: CsvArgs,
}

/// Whether `--features` asks the synthetic generator for all fifteen features.
pub fn synthetic_features(features: &FeatureSet) -> anyhow::Result<bool> {
    match features {
        FeatureSet::Core => Ok(false),
        FeatureSet::All => Ok(true),
        FeatureSet::Named(_) => anyhow::bail!(
            "--features: the synthetic data takes `core` (its four features) or `all` (fifteen, the eleven others without signal); a list of columns needs --data"
        ),
    }
}

impl SourceArgs {
    pub fn source(&self) -> anyhow::Result<DataSource> {
        Ok(match &self.data {
            None => DataSource::Synthetic(SynthParams {
                n_tracks: self.rows,
                seed: self.seed,
                duplicate_rate: self.lessons.duplicate_rate,
                decades: self.lessons.decades,
                drift: self.lessons.drift,
                all_features: synthetic_features(&self.csv_args.features)?,
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
    pub fn inputs(&self) -> Vec<&std::path::Path> {
        let mut v: Vec<&std::path::Path> = self.data.iter().map(PathBuf::as_path).collect();
        v.extend(self.csv_args.split_file.as_deref());
        v
    }

    pub fn split(&self) -> SplitOptions {
        SplitOptions {
            test_fraction: self.test_fraction,
            test_groups: self.test_groups.clone(),
            keep_duplicates: self.csv_args.keep_duplicates,
            group_by: self.csv_args.group_by,
        }
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Folder the artifacts are written to.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
}

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Folder the report is written to, replaced as a whole: it must be new, empty, or a
    /// folder HitCast wrote (it holds a `.hitcast-output` marker).
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Replace --out even if it holds files HitCast did not write (they are deleted).
    #[arg(long)]
    pub force: bool,
    /// Folds of the cross-validation on the training rows.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Shuffles per feature in permutation importance.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Time explanations instead (10k holdout rows for forest and boost on 1 and 2 threads,
    /// one track for all three models).
    #[arg(long)]
    pub explain: bool,
    /// Time the models only, not the whole report (for large --rows).
    #[arg(long, conflicts_with = "explain")]
    pub no_report: bool,
    /// Also time the Python peers (XGBoost, LightGBM, pandas) on the same rows with
    /// `benches/peer_scale.py`, in `HITCAST_PEER_PYTHON` or /tmp/peer (see
    /// ../shared/bench/python-peer/README.md), and compare HitCast's boosting ROC AUC with
    /// each peer's on the same holdout (paired bootstrap); the data goes to
    /// target/bench-peer/.
    #[arg(long, conflicts_with = "explain")]
    pub peer: bool,
}

#[derive(Args)]
#[command(after_long_help = EXPORT_SQL_HELP)]
pub struct ExportSqlArgs {
    /// Which model: logistic, forest or boost.
    #[arg(long)]
    pub model: Family,
    /// SQL dialect: snowflake, bigquery, duckdb, postgres or sqlite.
    #[arg(long)]
    pub dialect: hitcast::sql::Dialect,
    /// inline (nested CASE, a function and a SELECT), table (trees as a table, a data file
    /// and a scoring query of fixed size) or auto (inline if every statement is under 1 MB).
    #[arg(long, default_value = "auto")]
    pub form: hitcast::sql::Form,
    /// Folder holding the model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Table the SELECT scores (`schema.table` allowed).
    #[arg(long, default_value = "tracks")]
    pub table: String,
    /// The table's columns, comma-separated: checked against the model's features.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Write the SQL here instead of standard output (the table form's data file goes
    /// beside it; the table form needs this).
    #[arg(long)]
    pub out: Option<PathBuf>,
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
pub struct ServeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8501")]
    pub addr: std::net::SocketAddr,
    /// Folder of model artifacts (trained on the data first if missing or stale).
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Seconds a connection may take to send a request's head (also closes idle connections).
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub header_timeout: f64,
    /// Seconds a request's body may take to arrive.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub body_timeout: f64,
    /// Most connections served at once (more wait until one closes).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// A positive, finite number of seconds (at most a day).
#[cfg(feature = "serve")]
pub fn seconds(s: &str) -> Result<f64, String> {
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
pub struct FetchArgs {
    /// Where tracks come from: reccobeats (no credentials) or spotify.
    #[arg(long, default_value = "reccobeats")]
    pub provider: hitcast::data::provider::ProviderKind,
    /// Spotify playlist ids, URIs or open.spotify.com links (repeatable; listed through Spotify).
    #[arg(long = "playlist")]
    pub playlists: Vec<String>,
    /// Track ids, URIs or links (repeatable, or comma-separated).
    #[arg(long = "track", value_delimiter = ',')]
    pub tracks: Vec<String>,
    /// Label: a track of this playlist is a hit, any other is not.
    #[arg(long, conflicts_with = "threshold")]
    pub hit_playlist: Option<String>,
    /// Label: popularity at or above this value (0–100) is a hit (refused when any track's
    /// popularity is unknown).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// With --provider spotify: take every track's popularity from this provider instead
    /// (Spotify's 2026 track object has none). Only `reccobeats`.
    #[arg(long)]
    pub popularity_from: Option<hitcast::data::provider::ProviderKind>,
    /// Output CSV (the normalised layout `data ingest` reads).
    #[arg(long, default_value = "data/fetched_tracks.csv")]
    pub out: PathBuf,
    /// Ignore cached responses and ask the API again.
    #[arg(long)]
    pub refresh: bool,
    /// Response cache folder (one subfolder per provider; no credentials are stored).
    #[arg(long, default_value = "data/cache")]
    pub cache: PathBuf,
    /// The provider's base URL, for a mirror, a proxy or a test server (default: the
    /// provider's own, https://api.reccobeats.com/v1 or https://api.spotify.com/v1).
    #[arg(long)]
    pub api_url: Option<String>,
    /// Spotify's base URL when another provider lists the playlists (a mirror or test server).
    #[arg(long)]
    pub spotify_api_url: Option<String>,
    /// ReccoBeats' base URL when it is asked for popularity only (--popularity-from).
    #[arg(long)]
    pub reccobeats_api_url: Option<String>,
    /// Token URL (for testing against a local server).
    #[arg(
        long,
        default_value = "https://accounts.spotify.com/api/token",
        hide = true
    )]
    pub token_url: String,
    /// Most per-track requests when Spotify refuses batch /tracks.
    #[arg(long, default_value_t = 500)]
    pub max_requests: usize,
}

#[cfg(feature = "fetch")]
use hitcast::data::provider::{FetchLabel, FetchRequest};

#[cfg(feature = "fetch")]
impl FetchArgs {
    /// What to fetch and how to label it, once the flags agree with each other (checked
    /// before any client is built or request sent).
    pub fn request(&self) -> anyhow::Result<(FetchRequest, FetchLabel)> {
        use hitcast::data::provider::{bare_id, ProviderKind};
        let args = self;
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
        if let Some(hit) = &args.hit_playlist {
            let id = bare_id(hit);
            if !args.playlists.iter().any(|p| bare_id(p) == id) {
                bail!("--hit-playlist {id} is not among the --playlist options: every track would be labelled a non-hit; list it with --playlist too");
            }
        }
        let label = match (&args.hit_playlist, args.threshold) {
            (Some(p), _) => FetchLabel::InPlaylist(p.clone()),
            (None, Some(t)) => FetchLabel::PopularityAtLeast(t),
            (None, None) => FetchLabel::None,
        };
        let request = FetchRequest {
            playlists: args.playlists.clone(),
            tracks: args.tracks.clone(),
            popularity_from_reccobeats: args.popularity_from.is_some(),
        };
        Ok((request, label))
    }
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
pub struct ScoreAudioArgs {
    /// The audio file: MP3, OGG, WAV or AIFF, at most 5 MB (checked before anything is sent).
    pub file: PathBuf,
    /// Folder holding model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Output CSV: one row with the extracted features, and each model's probability and top
    /// reasons.
    #[arg(long, default_value = "data/score_audio.csv")]
    pub out: PathBuf,
    /// Reasons printed per model.
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
    /// Ignore a cached analysis of the same file and upload it again.
    #[arg(long)]
    pub refresh: bool,
    /// Response cache folder.
    #[arg(long, default_value = "data/cache")]
    pub cache: PathBuf,
    /// ReccoBeats' base URL (for a mirror, a proxy or a test server).
    #[arg(long, default_value = hitcast::data::provider::reccobeats::API_URL)]
    pub api_url: String,
}

#[derive(Args)]
pub struct PredictArgs {
    /// The CSV to score (needs the models' feature columns).
    pub csv: PathBuf,
    /// Folder holding model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Output CSV: the track id and one probability column per model.
    #[arg(long, default_value = "data/predictions.csv")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// The CSV to explain (needs the models' feature columns).
    pub csv: PathBuf,
    /// Folder holding model_<family>.json artifacts.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Output CSV: one row per track and model (base, each feature's contribution, log-odds,
    /// probability).
    #[arg(long, default_value = "data/explanations.csv")]
    pub out: PathBuf,
    /// Tracks whose top reasons are printed.
    #[arg(long, default_value_t = 3)]
    pub show: usize,
    /// Reasons printed per track and model.
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
}
