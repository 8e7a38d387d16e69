//! The `hitcast` command: argument parsing and printing around library calls.

use std::io::Write;
use std::process::ExitCode;

#[path = "cli/flags.rs"]
mod flags;

use anyhow::{bail, Context};
use clap::Parser;
use hitcast::data::{self, SynthParams};
use hitcast::model::{Artifact, Family, ModelParams};

use flags::*;

fn synth(args: &SynthArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let params = SynthParams {
        n_tracks: args.rows,
        hit_rate: args.hit_rate,
        seed: args.seed,
        duplicate_rate: args.lessons.duplicate_rate,
        decades: args.lessons.decades,
        drift: args.lessons.drift,
        all_features: synthetic_features(&args.features)?,
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
    if args.peer {
        let Some(python) = hitcast::bench::peer_python() else {
            bail!("--peer: no Python peer environment (set HITCAST_PEER_PYTHON, or create /tmp/peer as ../shared/bench/python-peer/README.md says, plus `pip install lightgbm`)");
        };
        let boost = b
            .families
            .iter()
            .find(|t| t.family == hitcast::model::Family::Boost)
            .ok_or_else(|| anyhow::anyhow!("--peer: the bench timed no boosting"))?;
        let peers = hitcast::bench::peer(
            &prepared,
            &boost.holdout_proba,
            &python,
            std::path::Path::new("benches/peer_scale.py"),
            std::path::Path::new("target/bench-peer"),
        )?;
        write!(out, "{peers}")?;
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
    use hitcast::data::provider::{self, reccobeats, spotify, ProviderKind};
    use std::io::IsTerminal;
    let (request, label) = args.request()?;
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
            provider::dotenv::credential("SPOTIFY_CLIENT_ID", std::path::Path::new(".env"))?,
            provider::dotenv::credential("SPOTIFY_CLIENT_SECRET", std::path::Path::new(".env"))?,
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
    let unresolved_path = args.out.with_extension("unresolved.csv");
    let show = std::io::stderr().is_terminal();
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
    let verdicts = hitcast::score::score_features(&artifacts, &features, args.reasons)?;
    for (a, v) in artifacts.iter().zip(&verdicts) {
        match v {
            hitcast::score::Verdict::Scored {
                explanation,
                reasons,
            } => writeln!(
                out,
                "  {:<8} P(hit) {:.3}; {}",
                a.family.name(),
                explanation.probability,
                reasons.join("; ")
            )?,
            hitcast::score::Verdict::Skipped { missing } => writeln!(
                out,
                "  {:<8} skipped: the upload gives no {} (the analysis returns {})",
                a.family.name(),
                missing.join(", "),
                features.keys().cloned().collect::<Vec<_>>().join(", ")
            )?,
        }
    }
    if !verdicts
        .iter()
        .any(|v| matches!(v, hitcast::score::Verdict::Scored { .. }))
    {
        bail!("no model could score the upload: every model needs a feature the analysis does not return");
    }
    let csv = hitcast::score::upload_csv(&id, &features, &artifacts, &verdicts);
    hitcast::atomic::write(&args.out, csv.as_bytes())?;
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
