//! `onsale up`: every role in one process. With no configuration it needs nothing installed:
//! the hold store and the event log run in this process, EventDB and OrderDB are a SQLite file,
//! and keys, the database and ticket emails live under one data directory. Any engine the
//! configuration names (a Redis URL, Kafka brokers, a PostgreSQL URL) replaces its embedded
//! stand-in.
//!
//! What the embedded engines do not keep across a restart, and how start-up makes up for it:
//! - holds and queue places are lost (holds free their seats, fans join again);
//! - sold seats are written back into the store from OrderDB, and bitmaps rebuilt from it;
//! - ticket messages that were in flight are written again from the tickets not yet emailed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use onsale_shared::token::{SigningKey, TokenAlgorithm};

use crate::app::{Platform, prepare_topics, serve_http, shutdown_on_signal};
use crate::cli::ServeArgs;
use crate::clock::Clock;
use crate::config::{KafkaConfig, RedisConfig, Secret, TicketConfig};
use crate::db::SharedDatabase;
use crate::db::events::EventFilter;
use crate::store::SharedStore;
use crate::workers::expiry::ExpiryWorker;
use crate::workers::notification::NotificationWorker;

/// The 2023 tour dates, built into the binary so `onsale up` seeds from anywhere.
const TOUR_DATES_CSV: &str = include_str!("../../data/eras_tour_2023_us.csv");

/// Hold TTL of `onsale up --demo`, so the holds that demo fans abandon expire while it watches.
const DEMO_HOLD_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub tickets: TicketConfig,
    /// Directory of the embedded database, the generated keys and the ticket emails. Created if
    /// missing.
    #[arg(long = "data-dir", env = "ONSALE_DATA_DIR", default_value = "var/onsale")]
    pub data_dir: PathBuf,
    /// Load the 2023 tour dates (53 events on 20 generated stadiums) when the database has no
    /// events yet.
    #[arg(long = "seed", env = "ONSALE_SEED", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed: bool,
    /// Run the scripted demo against this process over HTTP, print its report and exit with its
    /// result. Holds last 30 seconds in this mode. `onsale demo --help` lists the ONSALE_DEMO_*
    /// variables that change it.
    #[arg(long)]
    pub demo: bool,
    /// With `--demo`: keep serving after the demo, until Ctrl-C or SIGTERM, so that the web app
    /// can be tried on the demo's event. New holds get the normal TTL again after the demo.
    #[arg(long = "keep-serving", requires = "demo")]
    pub keep_serving: bool,
}

/// Keys that `onsale up` makes once and keeps in the data directory, so tokens, sessions and
/// ticket secrets stay valid across restarts. A configured key always wins.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKeys {
    token_signing_key: String,
    ticket_signing_key: String,
    session_secret: String,
    admin_token: String,
}

impl StoredKeys {
    fn generate() -> Self {
        let random = |algorithm| SigningKey::generate(algorithm).to_base64();
        Self {
            token_signing_key: random(TokenAlgorithm::Ed25519),
            ticket_signing_key: random(TokenAlgorithm::Ed25519),
            session_secret: random(TokenAlgorithm::Hs256),
            admin_token: random(TokenAlgorithm::Hs256).trim_end_matches('=').replace(['+', '/'], "x"),
        }
    }

    /// Reads `keys.json` from the data directory, or writes a new one readable by its owner only.
    fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("keys.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                anyhow::anyhow!("{} is not a valid keys file: {err}; delete it to make new keys", path.display())
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate();
                write_private(&path, &serde_json::to_vec_pretty(&keys)?)?;
                tracing::info!(path = %path.display(), "made new keys");
                Ok(keys)
            }
            Err(err) => Err(anyhow::anyhow!("reading {} failed: {err}", path.display())),
        }
    }
}

/// Writes a file that only its owner can read, since it holds keys.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|err| anyhow::anyhow!("creating {} failed: {err}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// Fills in every engine and key the configuration leaves open with the embedded one.
fn fill_embedded_defaults(args: &mut UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|err| anyhow::anyhow!("creating the data directory {} failed: {err}", args.data_dir.display()))?;
    let serve = &mut args.serve;
    if serve.database.url.is_none() {
        let path = args.data_dir.join("onsale.db");
        serve.database.url = Some(Secret::new(format!("sqlite://{}", path.display())));
    }
    if serve.redis.urls.is_empty() {
        serve.redis.urls = vec![Secret::new(RedisConfig::MEMORY)];
    }
    if serve.kafka.brokers.is_none() {
        serve.kafka.brokers = Some(KafkaConfig::MEMORY.to_owned());
    }
    if args.tickets.mail_dir.is_none() {
        args.tickets.mail_dir = Some(args.data_dir.join("mail"));
    }

    let keys = StoredKeys::load_or_create(&args.data_dir)?;
    let serve = &mut args.serve;
    serve.tokens.signing_key.get_or_insert_with(|| Secret::new(keys.token_signing_key.clone()));
    serve.auth.session_secret.get_or_insert_with(|| Secret::new(keys.session_secret.clone()));
    serve.auth.admin_token.get_or_insert_with(|| Secret::new(keys.admin_token.clone()));
    args.tickets.signing_key.get_or_insert_with(|| Secret::new(keys.ticket_signing_key.clone()));
    if args.demo {
        serve.sale.hold_ttl = DEMO_HOLD_TTL;
    }
    Ok(())
}

/// Loads the built-in tour dates when the database has no event yet.
async fn seed_if_empty(db: &SharedDatabase, data_dir: &Path) -> anyhow::Result<()> {
    let filter = EventFilter { city: None, from: None, to: None, limit: 1, offset: 0 };
    if !db.list_events(&filter).await?.is_empty() {
        return Ok(());
    }
    let csv = data_dir.join("eras_tour_2023_us.csv");
    std::fs::write(&csv, TOUR_DATES_CSV).map_err(|err| anyhow::anyhow!("writing {} failed: {err}", csv.display()))?;
    tracing::info!("the database has no events: seeding the 2023 tour dates (53 events on 20 generated stadiums)");
    let options = crate::seed::SeedOptions {
        csv,
        only_date: None,
        only_venue: None,
        plan_preset: crate::plan::generate::Preset::Metlife,
        tour_name: "The Eras Tour".to_owned(),
    };
    let report = crate::seed::seed(db, &options).await?;
    tracing::info!(
        events.created = report.events_created.len(),
        seats.written = report.seats_written,
        "seeded the tour dates"
    );
    Ok(())
}

/// Restores what an in-process store or log lost in a restart: every sold seat back into the
/// store, bitmaps rebuilt, and ticket messages written again for tickets not yet emailed.
async fn recover_embedded_state(
    db: &SharedDatabase,
    store: &SharedStore,
    store_is_memory: bool,
    log_is_memory: bool,
) -> anyhow::Result<()> {
    if store_is_memory {
        let mut restored = 0usize;
        let mut offset = 0;
        loop {
            let filter = EventFilter { city: None, from: None, to: None, limit: 500, offset };
            let events = db.list_events(&filter).await?;
            if events.is_empty() {
                break;
            }
            offset += events.len() as u32;
            for event in events {
                let sold = db.sold_seats(event.id).await?;
                if sold.is_empty() {
                    continue;
                }
                store.repair_sold(event.id, &sold).await?;
                store.rebuild_bitmap(event.id, event.seat_count).await?;
                store.activate_event(event.id).await?;
                restored += sold.len();
            }
        }
        if restored > 0 {
            tracing::info!(seats.restored = restored, "restored sold seats into the in-process store");
        }
    }
    if log_is_memory {
        let requeued = db.requeue_unsent_tickets().await?;
        if requeued > 0 {
            tracing::info!(tickets.requeued = requeued, "queued tickets that were not emailed before the restart");
        }
    }
    Ok(())
}

#[derive(Parser)]
struct DemoCommand {
    #[command(flatten)]
    demo: crate::demo::DemoArgs,
}

/// `onsale up`: migrations, seed, recovery, then every role in this process, until Ctrl-C or
/// SIGTERM (or until the demo ends, with `--demo`).
pub async fn run_up(args: UpArgs) -> anyhow::Result<()> {
    run_up_until(args, shutdown_on_signal(), |_| {}).await
}

/// [`run_up`], stopping when `shutdown` fires. `on_ready` receives the address once the HTTP
/// server listens.
pub async fn run_up_until(
    mut args: UpArgs,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    let normal_hold_ttl = args.serve.sale.hold_ttl;
    fill_embedded_defaults(&mut args)?;
    let serve = &args.serve;
    let db = crate::db::connect(&serve.database).await?;
    crate::db::migrate(&db).await?;
    tracing::info!(
        database = %db.name(),
        store = if serve.redis.is_memory() { "memory" } else { "redis" },
        log = if serve.kafka.is_memory() { "memory" } else { "kafka" },
        data_dir = %args.data_dir.display(),
        "starting every role in one process"
    );
    if args.seed {
        seed_if_empty(&db, &args.data_dir).await?;
    }

    let platform = Platform::start_with_database(serve, db.clone(), Clock::system(), shutdown.clone()).await?;
    let state = platform.state.clone();
    recover_embedded_state(&db, &state.store, serve.redis.is_memory(), serve.kafka.is_memory()).await?;
    prepare_topics(&platform.log, &serve.kafka, shutdown.clone()).await;

    let mut workers = Vec::new();
    let notification = NotificationWorker::new(state.store.clone(), state.catalog.clone());
    let (log, kafka, stop) = (platform.log.clone(), serve.kafka.clone(), shutdown.clone());
    workers.push(tokio::spawn(async move {
        if let Err(err) = notification.run(log, &kafka, stop).await {
            tracing::error!(cause = format!("{err:#}"), "notification worker failed");
        }
    }));
    let expiry = ExpiryWorker::new(state.store.clone(), state.db.clone(), state.publisher.clone());
    workers.push(tokio::spawn(expiry.run(shutdown.clone())));
    let (log, kafka, tickets, ticket_db, stop) =
        (platform.log.clone(), serve.kafka.clone(), args.tickets.clone(), state.db.clone(), shutdown.clone());
    workers.push(tokio::spawn(async move {
        if let Err(err) = crate::workers::ticket::run(log, &kafka, &tickets, ticket_db, stop).await {
            tracing::error!(cause = format!("{err:#}"), "ticket worker failed");
        }
    }));

    let listener = TcpListener::bind(serve.http.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", serve.http.listen))?;
    let address = listener.local_addr()?;
    println!("onsale is up on http://{address}");
    println!("  data: {}", args.data_dir.display());
    println!("  ticket emails: {}", args.tickets.mail_dir().display());
    println!("  operator API token: in {}/keys.json", args.data_dir.display());
    match &platform.static_dir {
        Some(dir) => println!("  web app: http://{address}/ (files from {})", dir.display()),
        None => println!("  web app: not served (scripts/build-frontend.sh builds it into frontend/dist)"),
    }
    let server = tokio::spawn(serve_http(listener, platform.router(serve.http.max_body_bytes), shutdown.clone()));
    on_ready(address);

    let outcome = if args.demo {
        let result = run_demo(&args, address).await;
        if args.keep_serving && result.is_ok() && !shutdown.is_cancelled() {
            state.set_hold_ttl(normal_hold_ttl);
            println!();
            println!("The demo is over; onsale keeps serving on http://{address} until Ctrl-C.");
            match &platform.static_dir {
                Some(_) => {
                    println!("Open http://{address}/ and buy seats for the demo's event: its queue is still open.")
                }
                None => println!("Build the web app with scripts/build-frontend.sh to buy seats in a browser."),
            }
            shutdown.cancelled().await;
        }
        shutdown.cancel();
        result
    } else {
        shutdown.cancelled().await;
        Ok(())
    };

    let served = server.await;
    for worker in workers {
        let _ = worker.await;
    }
    state.publisher.flush(Duration::from_secs(5));
    db.close().await;
    match served {
        Ok(Ok(())) => outcome,
        Ok(Err(err)) => Err(err),
        Err(err) => Err(anyhow::anyhow!("the HTTP server task failed: {err}")),
    }
}

/// Runs `onsale demo` against this process.
async fn run_demo(args: &UpArgs, address: std::net::SocketAddr) -> anyhow::Result<()> {
    let url = format!("http://{address}");
    let token = args.serve.auth.admin_token.as_ref().map(|token| token.expose().to_owned()).unwrap_or_default();
    let demo = DemoCommand::try_parse_from(["demo", "--url", url.as_str(), "--admin-token", token.as_str()])
        .map_err(|err| anyhow::anyhow!("invalid ONSALE_DEMO_* settings: {err}"))?
        .demo;
    crate::demo::run(demo).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Up {
        #[command(flatten)]
        up: UpArgs,
    }

    fn parse(extra: &[&str], data_dir: &Path) -> UpArgs {
        let mut argv = vec!["up", "--data-dir", data_dir.to_str().unwrap()];
        argv.extend_from_slice(extra);
        Up::try_parse_from(argv).unwrap().up
    }

    #[test]
    fn no_configuration_means_embedded_engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = parse(&[], dir.path());
        fill_embedded_defaults(&mut args).unwrap();
        assert!(args.serve.database.url().starts_with("sqlite://"));
        assert!(args.serve.redis.is_memory());
        assert!(args.serve.kafka.is_memory());
        assert_eq!(args.tickets.mail_dir(), dir.path().join("mail"));
        assert!(args.serve.auth.admin_token.is_some());
    }

    #[test]
    fn configured_engines_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let extra =
            ["--database-url", "postgres://db/onsale", "--redis-url", "redis://r:6379", "--kafka-brokers", "k:9092"];
        let mut args = parse(&extra, dir.path());
        fill_embedded_defaults(&mut args).unwrap();
        assert_eq!(args.serve.database.url(), "postgres://db/onsale");
        assert!(!args.serve.redis.is_memory());
        assert_eq!(args.serve.kafka.brokers(), "k:9092");
    }

    #[test]
    fn keys_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = parse(&[], dir.path());
        fill_embedded_defaults(&mut first).unwrap();
        let mut second = parse(&[], dir.path());
        fill_embedded_defaults(&mut second).unwrap();
        assert_eq!(first.serve.tokens.signing_key, second.serve.tokens.signing_key);
        assert_eq!(first.tickets.signing_key, second.tickets.signing_key);
        assert_eq!(first.serve.auth.admin_token, second.serve.auth.admin_token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "keys.json must not be readable by others");
        }
    }

    #[test]
    fn configured_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = parse(&["--admin-token", "mine"], dir.path());
        fill_embedded_defaults(&mut args).unwrap();
        assert_eq!(args.serve.auth.admin_token.unwrap().expose(), "mine");
    }
}
