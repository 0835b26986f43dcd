//! A Redis Cluster primary fails mid-sale: the cluster client follows the failover, the hold
//! scripts load again on the promoted replica (whose script cache is empty), and holds go on.
//! The test runs a 6-node cluster of its own, so killing a node disturbs no other test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{TestApp, TestOptions, eventually};

/// Six redis-server processes on consecutive ports, 3 primaries and 3 replicas.
struct PrivateCluster {
    ports: Vec<u16>,
    nodes: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl PrivateCluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Ports with their cluster bus (port + 10000) free; picked from a range the shared cluster
        // and ephemeral ports do not use.
        let base = 20_000 + (std::process::id() % 500) as u16 * 10;
        let ports: Vec<u16> = (base..base + 6).collect();
        let nodes = ports.iter().map(|port| start_node(dir.path(), *port)).collect();
        for port in &ports {
            wait_for(|| redis_cli(*port, &["PING"]).is_some_and(|reply| reply.trim() == "PONG"), "node to answer");
        }
        let addresses: Vec<String> = ports.iter().map(|port| format!("127.0.0.1:{port}")).collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(status.success(), "creating the private cluster failed");
        for port in &ports {
            wait_for(
                || redis_cli(*port, &["CLUSTER", "INFO"]).is_some_and(|info| info.contains("cluster_state:ok")),
                "cluster state ok",
            );
            // A replica that has not finished its first sync refuses to take over.
            wait_for(
                || {
                    redis_cli(*port, &["INFO", "replication"])
                        .is_some_and(|info| info.contains("role:master") || info.contains("master_link_status:up"))
                },
                "replicas in sync",
            );
        }
        Self { ports, nodes, _dir: dir }
    }

    fn urls(&self) -> String {
        self.ports.iter().map(|port| format!("redis://127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    }

    /// The port of the live primary that serves `key`'s slot; `None` while a failover is under way.
    fn primary_of(&self, key: &str) -> Option<u16> {
        // Ask any node that still answers.
        let (slot, nodes) = self
            .ports
            .iter()
            .find_map(|port| {
                let slot = redis_cli(*port, &["CLUSTER", "KEYSLOT", key])?.trim().parse::<u16>().ok()?;
                Some((slot, redis_cli(*port, &["CLUSTER", "NODES"])?))
            })
            .expect("a node that answers");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((start, end)) => (start.parse::<u16>().unwrap()..=end.parse::<u16>().unwrap()).contains(&slot),
                None => range.parse::<u16>().ok() == Some(slot),
            });
            if owns {
                let port = fields[1].split('@').next().unwrap().rsplit(':').next().unwrap();
                return port.parse().ok();
            }
        }
        None
    }

    fn kill(&mut self, port: u16) {
        let index = self.ports.iter().position(|p| *p == port).unwrap();
        self.nodes[index].kill().unwrap();
        self.nodes[index].wait().unwrap();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

fn start_node(dir: &Path, port: u16) -> Child {
    let node_dir = dir.join(port.to_string());
    std::fs::create_dir_all(&node_dir).unwrap();
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"])
        .args(["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"])
        .arg("--dir")
        .arg(&node_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // redis-cli exits 0 on a server error reply too; treat one as no answer.
    (output.status.success() && !stdout.starts_with("ERR") && !stdout.starts_with("Could not connect"))
        .then_some(stdout)
}

fn wait_for(mut check: impl FnMut() -> bool, what: &str) {
    for _ in 0..300 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn holds_go_on_after_a_primary_fails() {
    let mut cluster = PrivateCluster::start();
    let app = TestApp::start_with(TestOptions { redis_urls: Some(cluster.urls()), ..TestOptions::default() }).await;
    let event = app.create_event(200).await;
    let fan = app.fan().await;
    assert_eq!(app.hold(&fan, &app.token(&fan.fan_id, event), event, &[1, 2]).await.status(), 201);

    // Kill the primary of this event's slot and wait for its replica to take over.
    let key = app.redis.keys(event).queue_shard().queue();
    let primary = cluster.primary_of(&key).expect("a primary before the failure");
    cluster.kill(primary);
    let survivor = cluster.ports.iter().copied().find(|port| *port != primary).unwrap();
    wait_for(
        || {
            cluster.primary_of(&key).is_some_and(|port| port != primary)
                && redis_cli(survivor, &["CLUSTER", "INFO"]).is_some_and(|info| info.contains("cluster_state:ok"))
        },
        "the replica to be promoted",
    );

    // The promoted replica has no scripts loaded: the first hold meets NOSCRIPT and loads them.
    let mut seat = 10u32;
    let held = eventually(Duration::from_secs(30), "a hold after the failover", || {
        seat += 2;
        let seats = [seat, seat + 1];
        let app = &app;
        async move {
            let other = app.fan().await;
            let response = app.hold(&other, &app.token(&other.fan_id, event), event, &seats).await;
            (response.status() == 201).then_some(seats)
        }
    })
    .await;
    // And the store keeps working: the held seats show as held, others stay free.
    let states = app
        .state
        .store
        .seat_states(
            event,
            &[onsale_shared::SeatIndex::new(held[0]).unwrap(), onsale_shared::SeatIndex::new(199).unwrap()],
        )
        .await
        .unwrap();
    assert!(matches!(states[0], onsale_origin::store::SeatState::Held(_)));
    assert_eq!(states[1], onsale_origin::store::SeatState::Free);
}
