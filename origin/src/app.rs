//! Wiring: builds the shared state from configuration and runs each role. `onsale up` runs all
//! of them in one process with one Redis connection, one pool and one producer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::cli::{ExpiryArgs, NotificationArgs, ServeArgs, TicketArgs};
use crate::clock::Clock;
use crate::config::KafkaConfig;
use crate::db::SharedDatabase;
use crate::http::{self, AppState};
use crate::payment::TestPaymentProvider;
use crate::pipeline::SeatChangePublisher;
use crate::pipeline::log::{self, SharedLog};
use crate::pipeline::relay::OutboxRelay;
use crate::session::FanSessions;
use crate::store::SharedStore;
use crate::waiting_room::admitter::{Admitter, AdmitterConfig};
use crate::waiting_room::watch::QueueWatch;
use crate::workers::expiry::ExpiryWorker;
use crate::workers::notification::NotificationWorker;

/// A cancellation token that fires on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fired = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::warn!(cause = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
        }
        tracing::info!("shutdown requested");
        fired.cancel();
    });
    token
}

/// Creates the seat-change and ticket topics in the background, retrying until the broker
/// answers, so a service starts and holds seats while Kafka is down.
pub fn ensure_topics_in_background(log: SharedLog, config: KafkaConfig, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut attempt = 0u32;
        loop {
            match ensure_topics(&log, &config).await {
                Ok(()) => return,
                Err(err) => {
                    attempt += 1;
                    if attempt == 1 || attempt.is_multiple_of(20) {
                        tracing::warn!(cause = %err, attempt, "creating topics failed; retrying");
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

async fn ensure_topics(log: &SharedLog, config: &KafkaConfig) -> Result<(), log::LogError> {
    log.ensure_topics(&[config.seat_topic.as_str(), config.ticket_topic.as_str()], config.partitions).await
}

/// Creates the topics before a consumer subscribes to them: waits up to 10 s for the broker,
/// then goes on (the consumer retries) and keeps creating them in the background.
pub async fn prepare_topics(log: &SharedLog, config: &KafkaConfig, shutdown: CancellationToken) {
    match tokio::time::timeout(Duration::from_secs(10), ensure_topics(log, config)).await {
        Ok(Ok(())) => {}
        _ => {
            ensure_topics_in_background(log.clone(), config.clone(), shutdown);
        }
    }
}

/// Opens the configured event log and a seat-change publisher on it.
pub fn open_log(config: &KafkaConfig, store: &SharedStore) -> anyhow::Result<(SharedLog, SeatChangePublisher)> {
    let (failures, failed_deliveries) = tokio::sync::mpsc::channel(10_000);
    let log = log::open(config, failures)?;
    let publisher = SeatChangePublisher::start(log.clone(), &config.seat_topic, store.clone(), failed_deliveries);
    Ok((log, publisher))
}

/// The running API of one process, with its background tasks.
pub struct Platform {
    pub state: AppState,
    pub log: SharedLog,
    pub tasks: Vec<JoinHandle<()>>,
    /// Directory of the built web app that the router serves, if any.
    pub static_dir: Option<PathBuf>,
}

impl Platform {
    /// Connects to every engine and starts the admitter (unless disabled) and the outbox relay.
    pub async fn start(args: &ServeArgs, clock: Clock, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let db = crate::db::connect_lazy(&args.database)?;
        Self::start_with_database(args, db, clock, shutdown).await
    }

    /// Starts like [`Platform::start`] on a database that is already open, such as the one that
    /// `onsale up` just migrated. An in-memory SQLite database exists only in the pool that
    /// opened it, so a second connect would find it empty.
    pub async fn start_with_database(
        args: &ServeArgs,
        db: SharedDatabase,
        clock: Clock,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let static_dir = args.web_app.resolve()?;
        let store: SharedStore = crate::store::open(&args.redis).await?;
        let (log, publisher) = open_log(&args.kafka, &store)?;
        let mut tasks = vec![ensure_topics_in_background(log.clone(), args.kafka.clone(), shutdown.clone())];

        let signing_key = args.tokens.signing_key()?;
        let verifier = args.tokens.verifier(signing_key.verifying_key());
        let issuer = args.tokens.issuer(signing_key);
        if let Some(public) = verifier_public_key(&issuer) {
            tracing::info!(token.algorithm = %args.tokens.algorithm, token.public_key = %public, "admission tokens ready");
        }
        let sessions = FanSessions::from_config(args.auth.session_secret.as_ref())?;
        let outbox_wake = Arc::new(Notify::new());

        let default_state = if args.sale.auto_open_queues {
            onsale_shared::api::QueueState::Open
        } else {
            onsale_shared::api::QueueState::NotOpen
        };
        let state = AppState {
            hold_ttl_ms: Arc::new(std::sync::atomic::AtomicU64::new(
                u64::try_from(args.sale.hold_ttl.as_millis()).unwrap_or(u64::MAX),
            )),
            sale: Arc::new(args.sale.clone()),
            catalog: Catalog::new(db.clone()),
            queue_watch: QueueWatch::new(store.clone(), default_state),
            db: db.clone(),
            store: store.clone(),
            issuer: issuer.clone(),
            verifier,
            sessions,
            publisher,
            payments: Arc::new(TestPaymentProvider),
            clock: clock.clone(),
            outbox_wake: outbox_wake.clone(),
            admin_token: args.auth.admin_token.clone(),
            bitmaps: Default::default(),
        };

        if !args.no_admitter {
            let config = AdmitterConfig::new(args.sale.admission_rate, default_state);
            let admitter = Admitter::new(store.clone(), issuer, clock, config);
            tasks.push(tokio::spawn(admitter.run(shutdown.clone())));
        }
        let relay = OutboxRelay::new(&args.kafka, db, log.clone(), outbox_wake);
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
        Ok(Self { state, log, tasks, static_dir })
    }

    pub fn router(&self, max_body_bytes: usize) -> axum::Router {
        http::router(self.state.clone(), max_body_bytes, self.static_dir.as_deref())
    }
}

fn verifier_public_key(issuer: &onsale_shared::token::TokenIssuer) -> Option<String> {
    issuer.verifying_key().public_base64()
}

/// Serves the router on `listener` until `shutdown` fires.
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(http.address = %address, "serving HTTP");
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// `onsale serve`.
pub async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let platform = Platform::start(&args, Clock::system(), shutdown.clone()).await?;
    let listener = TcpListener::bind(args.http.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.http.listen))?;
    serve_http(listener, platform.router(args.http.max_body_bytes), shutdown.clone()).await?;
    platform.state.publisher.flush(Duration::from_secs(5));
    Ok(())
}

/// `onsale worker notification`.
pub async fn run_notification(args: NotificationArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let db = crate::db::connect_lazy(&args.database)?;
    let store: SharedStore = crate::store::open(&args.redis).await?;
    let (log, _publisher) = open_log(&args.kafka, &store)?;
    prepare_topics(&log, &args.kafka, shutdown.clone()).await;
    NotificationWorker::new(store, Catalog::new(db)).run(log, &args.kafka, shutdown).await
}

/// `onsale worker expiry`.
pub async fn run_expiry(args: ExpiryArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let db = crate::db::connect_lazy(&args.database)?;
    let store: SharedStore = crate::store::open(&args.redis).await?;
    let (log, publisher) = open_log(&args.kafka, &store)?;
    ensure_topics_in_background(log, args.kafka.clone(), shutdown.clone());
    ExpiryWorker::new(store, db, publisher.clone()).run(shutdown).await;
    publisher.flush(Duration::from_secs(5));
    Ok(())
}

/// `onsale worker ticket`.
pub async fn run_ticket(args: TicketArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let db = crate::db::connect_lazy(&args.database)?;
    let (failures, _) = tokio::sync::mpsc::channel(1);
    let log = log::open(&args.kafka, failures)?;
    prepare_topics(&log, &args.kafka, shutdown.clone()).await;
    crate::workers::ticket::run(log, &args.kafka, &args.tickets, db, shutdown).await
}
