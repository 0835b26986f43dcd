//! Starts `onsale up` inside a test, on a thread and runtime of its own as its binary runs, and
//! stops it again.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use onsale_origin::up::{UpArgs, run_up_until};

#[derive(Parser)]
struct Up {
    #[command(flatten)]
    up: UpArgs,
}

/// Parses `onsale up` flags, as the command line gives them after `up`.
pub fn up_args(flags: &[&str]) -> UpArgs {
    Up::try_parse_from(std::iter::once("up").chain(flags.iter().copied())).unwrap().up
}

/// A running `onsale up`.
pub struct RunningUp {
    /// `http://127.0.0.1:PORT`, without a path.
    pub origin: String,
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl RunningUp {
    /// Starts `onsale up` with `args` and waits until it listens.
    pub async fn start(args: UpArgs) -> Self {
        let shutdown = CancellationToken::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(run_up_until(args, stop, move |address| {
                let _ = ready_tx.send(address);
            }))
        });
        let address = tokio::time::timeout(Duration::from_secs(60), ready_rx)
            .await
            .expect("onsale up listens within 60 s")
            .expect("onsale up started");
        Self { origin: format!("http://{address}"), shutdown, thread }
    }

    /// Stops `onsale up` and checks that it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let thread = self.thread;
        let result = tokio::task::spawn_blocking(move || thread.join()).await.unwrap();
        result.expect("onsale up thread").expect("onsale up stops cleanly");
    }
}
