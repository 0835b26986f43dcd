//! TLS to the engines: Redis at a `rediss://` URL and PostgreSQL with `sslmode=require`, as
//! ElastiCache with encryption in transit and RDS with `rds.force_ssl` demand.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use onsale_origin::config::{DatabaseConfig, RedisConfig};
use onsale_shared::{EventId, FanId, HoldId, SeatIndex};

use crate::common::admin_database_url;

#[derive(Parser)]
struct Engines {
    #[command(flatten)]
    redis: RedisConfig,
    #[command(flatten)]
    database: DatabaseConfig,
}

/// A Redis node that speaks TLS only, with a certificate from a CA made for this test.
struct TlsRedis {
    port: u16,
    process: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A CA and a server certificate it signs: rustls refuses a self-signed CA as the server.
        let script = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=onsale-test-ca \
              -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
              -keyout ca.key -out ca.pem \
            && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr \
            && printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > server.ext \
            && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
              -extfile server.ext -out cert.pem";
        let status = Command::new("bash")
            .args(["-c", script])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "making test certificates failed");
        let port = 21_400 + (std::process::id() % 90) as u16;
        let process = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem", "--tls-ca-cert-file", "ca.pem"])
            .args(["--tls-auth-clients", "no"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server with TLS");
        Self { port, process, _dir: dir }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn store_works_over_tls() {
    let redis = TlsRedis::start();
    // The test's own CA signed the server; ElastiCache presents a certificate from a public CA,
    // which the built-in roots verify without a CA file.
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let ca = redis._dir.path().join("ca.pem");
    let engines =
        Engines::try_parse_from(["tls", "--redis-url", &url, "--redis-tls-ca-file", ca.to_str().unwrap()]).unwrap();
    let mut store = None;
    let mut last_error = None;
    for _ in 0..50 {
        match onsale_origin::store::open(&engines.redis).await {
            Ok(opened) => {
                store = Some(opened);
                break;
            }
            Err(err) => {
                last_error = Some(err);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let store = store.unwrap_or_else(|| panic!("connect to Redis over TLS: {last_error:?}"));
    store.ping().await.unwrap();

    // A plain connection to the TLS port fails: the hold really went over TLS.
    let plain = Engines::try_parse_from(["tls", "--redis-url", &format!("redis://127.0.0.1:{}", redis.port)]).unwrap();
    assert!(onsale_origin::store::open(&plain.redis).await.is_err(), "a plain connection must fail");

    let event = EventId::new(77).unwrap();
    let fan: FanId = "tls-fan".parse().unwrap();
    let seats = [SeatIndex::new(1).unwrap(), SeatIndex::new(2).unwrap()];
    let attempt = onsale_origin::store::HoldAttempt {
        event,
        hold: HoldId::random(),
        fan: &fan,
        nonce: "tls-nonce",
        seats: &seats,
        ttl: Duration::from_secs(60),
    };
    assert!(matches!(store.hold(&attempt).await.unwrap(), onsale_origin::store::HoldOutcome::Held { .. }));
}

#[tokio::test]
async fn database_works_over_tls() {
    let url = format!("{}?sslmode=require", admin_database_url());
    let engines = Engines::try_parse_from(["tls", "--database-url", &url]).unwrap();
    let db = onsale_origin::db::connect(&engines.database).await.expect("connect to PostgreSQL with TLS required");
    db.ping().await.unwrap();

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_one(&pool).await.unwrap();
    assert!(encrypted, "the connection must be encrypted");
}
