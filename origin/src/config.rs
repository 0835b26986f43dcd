//! Configuration: one typed struct per concern, read from flags and environment variables by
//! clap. Secrets are wrapped in [`Secret`], whose `Debug` and `Display` print a placeholder.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use onsale_shared::token::{SigningKey, TokenAlgorithm, TokenIssuer, TokenVerifier, VerifyingKey};

/// A configuration value that must never be printed: a key, a password, a URL with credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call it only where the value is used, never to log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Parses a duration in seconds, with an optional `ms` or `s` suffix.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let (number, millis) =
        if let Some(ms) = s.strip_suffix("ms") { (ms, true) } else { (s.strip_suffix('s').unwrap_or(s), false) };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {input:?}: expected seconds such as 600, 2.5s or 250ms"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid duration {input:?}: must be zero or positive"));
    }
    Ok(if millis { Duration::from_secs_f64(value / 1000.0) } else { Duration::from_secs_f64(value) })
}

/// The database of EventDB and OrderDB: PostgreSQL, or SQLite for a single process.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// URL of EventDB and OrderDB: postgres://… (or postgresql://…) for PostgreSQL,
    /// sqlite://PATH for a SQLite file that is created if missing, or sqlite::memory: for a
    /// database that lives as long as the process. Default: postgres://postgres@127.0.0.1:5432/onsale,
    /// and for `onsale up`, sqlite://<data dir>/onsale.db.
    #[arg(long = "database-url", env = "ONSALE_DATABASE_URL")]
    pub url: Option<Secret>,
    /// Maximum connections in this process's pool. An in-memory SQLite database uses one.
    #[arg(long = "database-max-connections", env = "ONSALE_DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails with 503.
    #[arg(long = "database-acquire-timeout", env = "ONSALE_DATABASE_ACQUIRE_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub acquire_timeout: Duration,
}

impl DatabaseConfig {
    pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/onsale";

    /// The configured URL, or the PostgreSQL default.
    pub fn url(&self) -> &str {
        self.url.as_ref().map(Secret::expose).unwrap_or(Self::DEFAULT_URL)
    }
}

/// Redis: the hold store, the queues and the availability bitmaps.
#[derive(Debug, Clone, Args)]
pub struct RedisConfig {
    /// Hold store: Redis node URLs, comma-separated, or memory:// for the store in this
    /// process. Several nodes, or one node of a cluster, select Redis Cluster; one standalone
    /// node selects a single Redis. Default: redis://127.0.0.1:6379, and for `onsale up`,
    /// memory://.
    #[arg(long = "redis-url", env = "ONSALE_REDIS_URL", value_delimiter = ',')]
    pub urls: Vec<Secret>,
    /// PEM file of the CA that signed the Redis servers' TLS certificates, for rediss:// URLs
    /// whose servers are not signed by a public CA. Without it, the built-in public roots are used.
    #[arg(long = "redis-tls-ca-file", env = "ONSALE_REDIS_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Prefix of onsale's global Redis keys, so several deployments can share one Redis.
    #[arg(long = "redis-namespace", env = "ONSALE_REDIS_NAMESPACE", default_value = "onsale")]
    pub namespace: String,
    /// Time limit for one Redis command, after which the request fails with 503.
    #[arg(long = "redis-timeout", env = "ONSALE_REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub response_timeout: Duration,
    /// Sorted sets that one event's waiting room is split over, each in its own cluster slot,
    /// so joins use more than the one core of one Redis node. Set it to the number of primaries.
    /// It applies to queues that no process has used yet; a queue keeps the count it started with.
    #[arg(long = "redis-queue-shards", env = "ONSALE_REDIS_QUEUE_SHARDS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queue_shards: u16,
}

impl RedisConfig {
    pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
    pub const MEMORY: &str = "memory://";

    /// The configured node URLs, or the default single node.
    pub fn urls(&self) -> Vec<String> {
        if self.urls.is_empty() {
            vec![Self::DEFAULT_URL.to_owned()]
        } else {
            self.urls.iter().map(|url| url.expose().trim().to_owned()).collect()
        }
    }

    /// Whether the hold store runs in this process.
    pub fn is_memory(&self) -> bool {
        self.urls().iter().any(|url| url.starts_with(Self::MEMORY))
    }
}

/// Kafka: seat state changes and the TicketStream.
#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// Event log: Kafka bootstrap servers, comma-separated host:port, or memory:// for the log
    /// in this process. Default: 127.0.0.1:9092, and for `onsale up`, memory://.
    #[arg(long = "kafka-brokers", env = "ONSALE_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Topic of seat state changes (hold, release, expiry, sale), keyed by event.
    #[arg(long = "seat-topic", env = "ONSALE_SEAT_TOPIC", default_value = "onsale.seat-changes")]
    pub seat_topic: String,
    /// Topic of confirmed seats (TicketStream), keyed by event.
    #[arg(long = "ticket-topic", env = "ONSALE_TICKET_TOPIC", default_value = "onsale.tickets")]
    pub ticket_topic: String,
    /// Prefix of consumer group ids; the role name is appended.
    #[arg(long = "kafka-group-prefix", env = "ONSALE_KAFKA_GROUP_PREFIX", default_value = "onsale")]
    pub group_prefix: String,
    /// Partitions given to topics that onsale creates itself.
    #[arg(long = "kafka-partitions", env = "ONSALE_KAFKA_PARTITIONS", default_value_t = 6)]
    pub partitions: i32,
    /// Replication factor of topics that onsale creates itself (3 on a production cluster).
    #[arg(long = "kafka-replication", env = "ONSALE_KAFKA_REPLICATION", default_value_t = 1)]
    pub replication: i32,
    /// How long the producer keeps an undelivered seat change before giving up on it. Past this,
    /// the event's bitmap is rebuilt from the hold store instead.
    #[arg(long = "kafka-message-timeout", env = "ONSALE_KAFKA_MESSAGE_TIMEOUT", default_value = "4s", value_parser = parse_duration)]
    pub message_timeout: Duration,
    /// Most seat changes the producer buffers while Kafka is slow or down. A change that finds
    /// the buffer full is dropped and its event's bitmap rebuilt from the hold store.
    #[arg(long = "kafka-queue-max-messages", env = "ONSALE_KAFKA_QUEUE_MAX_MESSAGES", default_value_t = 200_000)]
    pub queue_max_messages: u32,
    /// How clients talk to the brokers: plaintext, ssl, sasl_plaintext or sasl_ssl. TLS needs a
    /// binary built with the `kafka-tls` feature.
    #[arg(long = "kafka-security-protocol", env = "ONSALE_KAFKA_SECURITY_PROTOCOL", default_value = "plaintext")]
    pub security_protocol: KafkaSecurityProtocol,
    /// PEM file of the CA that signed the brokers' certificates; the system's roots without it.
    #[arg(long = "kafka-ssl-ca-location", env = "ONSALE_KAFKA_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<PathBuf>,
    /// SASL mechanism for sasl_* protocols: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long = "kafka-sasl-mechanism", env = "ONSALE_KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(long = "kafka-sasl-username", env = "ONSALE_KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SASL password.
    #[arg(long = "kafka-sasl-password", env = "ONSALE_KAFKA_SASL_PASSWORD")]
    pub sasl_password: Option<Secret>,
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaSecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl KafkaSecurityProtocol {
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            KafkaSecurityProtocol::Plaintext => "plaintext",
            KafkaSecurityProtocol::Ssl => "ssl",
            KafkaSecurityProtocol::SaslPlaintext => "sasl_plaintext",
            KafkaSecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, KafkaSecurityProtocol::Ssl | KafkaSecurityProtocol::SaslSsl)
    }
}

impl KafkaConfig {
    pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
    pub const MEMORY: &str = "memory://";

    /// The configured brokers, or the default local broker.
    pub fn brokers(&self) -> &str {
        self.brokers.as_deref().unwrap_or(Self::DEFAULT_BROKERS)
    }

    /// Whether the event log runs in this process.
    pub fn is_memory(&self) -> bool {
        self.brokers().trim().starts_with(Self::MEMORY)
    }
}

/// Admission tokens.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// Signing algorithm of admission tokens: ed25519 or hs256.
    #[arg(long = "token-algorithm", env = "ONSALE_TOKEN_ALGORITHM", default_value = "ed25519")]
    pub algorithm: TokenAlgorithm,
    /// Base64 signing key: the 32-byte Ed25519 seed, or the HS256 secret (at least 32 bytes).
    /// `onsale keygen` makes one. Without it, a random key is made at start-up, and tokens do not
    /// verify on other instances or after a restart.
    #[arg(long = "token-signing-key", env = "ONSALE_TOKEN_SIGNING_KEY")]
    pub signing_key: Option<Secret>,
    /// Allowed clock skew when checking token expiry.
    #[arg(long = "token-leeway", env = "ONSALE_TOKEN_LEEWAY", default_value = "5s", value_parser = parse_duration)]
    pub leeway: Duration,
    /// Lifetime of an admission token.
    #[arg(long = "token-lifetime", env = "ONSALE_TOKEN_LIFETIME", default_value = "900s", value_parser = parse_duration)]
    pub lifetime: Duration,
}

impl TokenConfig {
    /// Decodes the configured key, or makes a random one when none is configured.
    pub fn signing_key(&self) -> anyhow::Result<SigningKey> {
        match &self.signing_key {
            Some(encoded) => SigningKey::from_base64(self.algorithm, encoded.expose())
                .map_err(|err| anyhow::anyhow!("invalid --token-signing-key: {err}")),
            None => {
                tracing::warn!(
                    algorithm = %self.algorithm,
                    "no admission token key configured: using a random key that other instances and restarts will not accept"
                );
                Ok(SigningKey::generate(self.algorithm))
            }
        }
    }

    pub fn issuer(&self, key: SigningKey) -> TokenIssuer {
        TokenIssuer::new(key).with_lifetime(to_chrono(self.lifetime))
    }

    pub fn verifier(&self, key: VerifyingKey) -> TokenVerifier {
        TokenVerifier::new(key).with_leeway(to_chrono(self.leeway))
    }
}

pub fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Fan sessions and the operator API.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Base64 secret (at least 32 bytes) that signs fan sessions. Without it, a random one is made
    /// at start-up and sessions do not survive a restart or cross instances.
    #[arg(long = "session-secret", env = "ONSALE_SESSION_SECRET")]
    pub session_secret: Option<Secret>,
    /// Bearer token of the operator API (`/api/v1/admin/...`). Without it the operator API is off.
    #[arg(long = "admin-token", env = "ONSALE_ADMIN_TOKEN")]
    pub admin_token: Option<Secret>,
}

/// Rules of the sale.
#[derive(Debug, Clone, Args)]
pub struct SaleConfig {
    /// How long a hold keeps its seats before they return to sale.
    #[arg(long = "hold-ttl", env = "ONSALE_HOLD_TTL", default_value = "600s", value_parser = parse_duration)]
    pub hold_ttl: Duration,
    /// Most seats one hold (and so one order) may contain.
    #[arg(long = "max-seats-per-order", env = "ONSALE_MAX_SEATS_PER_ORDER", default_value_t = 8)]
    pub max_seats: u32,
    /// Fans admitted per second per queue, unless an operator sets another rate.
    #[arg(long = "admission-rate", env = "ONSALE_ADMISSION_RATE", default_value_t = 5000)]
    pub admission_rate: u32,
    /// Open every event's queue for joins without an operator (for development and the demo).
    #[arg(long = "auto-open-queues", env = "ONSALE_AUTO_OPEN_QUEUES", default_value_t = false)]
    pub auto_open_queues: bool,
}

/// Ticket signing and email delivery.
#[derive(Debug, Clone, Args)]
pub struct TicketConfig {
    /// Base64 32-byte Ed25519 seed that signs ticket secrets. Gate scanners verify with its public
    /// key. Without it a random key is made, and tickets of earlier runs no longer verify.
    #[arg(id = "ticket_signing_key", long = "ticket-signing-key", env = "ONSALE_TICKET_SIGNING_KEY")]
    pub signing_key: Option<Secret>,
    /// SMTP server URL (for example smtps://user:pass@smtp.example.com). Without it, emails are
    /// written as .eml files to --mail-dir.
    #[arg(long = "smtp-url", env = "ONSALE_SMTP_URL")]
    pub smtp_url: Option<Secret>,
    /// Directory of .eml files when no SMTP server is configured. Default: var/mail, and for
    /// `onsale up`, <data dir>/mail.
    #[arg(long = "mail-dir", env = "ONSALE_MAIL_DIR")]
    pub mail_dir: Option<PathBuf>,
    /// Sender address of ticket emails.
    #[arg(long = "mail-from", env = "ONSALE_MAIL_FROM", default_value = "onsale tickets <tickets@onsale.invalid>")]
    pub mail_from: String,
}

impl TicketConfig {
    /// The configured mail directory, or `var/mail`.
    pub fn mail_dir(&self) -> PathBuf {
        self.mail_dir.clone().unwrap_or_else(|| PathBuf::from("var/mail"))
    }
}

/// HTTP listener.
#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Address the HTTP server listens on.
    #[arg(long = "listen", env = "ONSALE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    #[arg(long = "max-body-bytes", env = "ONSALE_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,
}

/// The fans' web app, served by this process for development and single-box sales. Behind a
/// CDN, the CDN serves the same files and this stays unset.
#[derive(Debug, Clone, Args)]
pub struct WebAppConfig {
    /// Directory of the built web app (scripts/build-frontend.sh writes frontend/dist). Its files
    /// are served to every GET outside /api/, and index.html to paths of the app's own pages.
    /// Default: frontend/dist when that directory exists, else the web app is not served.
    #[arg(long = "static-dir", env = "ONSALE_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
}

impl WebAppConfig {
    /// The directory that `scripts/build-frontend.sh` writes, relative to the working directory.
    pub const DEFAULT_DIR: &str = "frontend/dist";

    /// Returns the directory to serve, logging the choice. A configured directory that does not
    /// exist is an error, so that a typo does not go unnoticed.
    pub fn resolve(&self) -> anyhow::Result<Option<PathBuf>> {
        let dir = match &self.static_dir {
            Some(dir) if dir.is_dir() => dir.clone(),
            Some(dir) => anyhow::bail!(
                "--static-dir {} is not a directory: build the web app with scripts/build-frontend.sh, \
                 or point --static-dir at its output",
                dir.display()
            ),
            None if Path::new(Self::DEFAULT_DIR).is_dir() => PathBuf::from(Self::DEFAULT_DIR),
            None => {
                tracing::info!(
                    static_dir = Self::DEFAULT_DIR,
                    "not serving the web app: the directory does not exist (scripts/build-frontend.sh builds it)"
                );
                return Ok(None);
            }
        };
        if !dir.join("index.html").is_file() {
            tracing::warn!(static_dir = %dir.display(), "the web app directory has no index.html, so its pages will return 404");
        }
        tracing::info!(static_dir = %dir.display(), "serving the web app");
        Ok(Some(dir))
    }
}

/// Prints fresh keys as environment variable lines, for `onsale keygen`. This is the one place
/// that prints secrets, on the operator's request.
pub fn print_new_keys() {
    let token_key = SigningKey::generate(TokenAlgorithm::Ed25519);
    let public = token_key.verifying_key().public_base64().unwrap_or_default();
    let ticket_key = SigningKey::generate(TokenAlgorithm::Ed25519);
    let session = SigningKey::generate(TokenAlgorithm::Hs256);
    let admin = SigningKey::generate(TokenAlgorithm::Hs256);
    println!("ONSALE_TOKEN_ALGORITHM=ed25519");
    println!("ONSALE_TOKEN_SIGNING_KEY={}", token_key.to_base64());
    println!("# Public key for the edge gate: {public}");
    println!("ONSALE_TICKET_SIGNING_KEY={}", ticket_key.to_base64());
    println!("ONSALE_SESSION_SECRET={}", session.to_base64());
    println!("ONSALE_ADMIN_TOKEN={}", admin.to_base64().trim_end_matches('='));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("ten").unwrap_err().contains("ten"));
    }

    #[test]
    fn web_app_dir_must_exist_when_configured() {
        let missing = WebAppConfig { static_dir: Some(PathBuf::from("/nonexistent/onsale-dist")) };
        assert!(missing.resolve().unwrap_err().to_string().contains("/nonexistent/onsale-dist"));

        let dir = tempfile::tempdir().unwrap();
        let present = WebAppConfig { static_dir: Some(dir.path().to_owned()) };
        assert_eq!(present.resolve().unwrap(), Some(dir.path().to_owned()));
    }

    #[test]
    fn secret_never_prints() {
        let secret: Secret = "hunter2".parse().unwrap();
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    }
}
