//! Per-instance view of each queue's state and counters, shared by every WebSocket and status
//! request of this process. One poller per event reads the queue's meta a few times a second,
//! however many fans are connected; a socket then estimates its fan's position from the
//! admitted counter instead of asking Redis for its rank.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use onsale_shared::EventId;
use onsale_shared::api::QueueState;

use crate::store::{QueueMeta, SharedStore};

/// How often a poller reads its queue's meta.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// A poller with no subscriber for this long stops.
const IDLE_STOP: Duration = Duration::from_secs(30);

pub type MetaReceiver = watch::Receiver<Option<Arc<QueueMeta>>>;

#[derive(Clone)]
pub struct QueueWatch {
    store: SharedStore,
    default_state: QueueState,
    /// A std mutex: held only to look up or insert a receiver, never across an await.
    pollers: Arc<Mutex<HashMap<EventId, MetaReceiver>>>,
}

impl QueueWatch {
    pub fn new(store: SharedStore, default_state: QueueState) -> Self {
        Self { store, default_state, pollers: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// A receiver of the event's queue meta, starting its poller if none runs.
    pub fn subscribe(&self, event: EventId) -> MetaReceiver {
        let mut pollers = self.pollers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(receiver) = pollers.get(&event)
            && receiver.has_changed().is_ok()
        {
            return receiver.clone();
        }
        let (sender, receiver) = watch::channel(None);
        pollers.insert(event, receiver.clone());
        tokio::spawn(poll(self.clone(), event, sender));
        receiver
    }

    /// The latest meta of the event's queue, if the poller has read it yet.
    pub fn latest(&self, event: EventId) -> Option<Arc<QueueMeta>> {
        self.subscribe(event).borrow().clone()
    }
}

async fn poll(watch: QueueWatch, event: EventId, sender: watch::Sender<Option<Arc<QueueMeta>>>) {
    let mut idle_since: Option<Instant> = None;
    let mut failures = 0u32;
    loop {
        match watch.store.queue_meta(event, watch.default_state).await {
            Ok(meta) => {
                failures = 0;
                sender.send_if_modified(|current| {
                    if current.as_deref() == Some(&meta) {
                        false
                    } else {
                        *current = Some(Arc::new(meta));
                        true
                    }
                });
            }
            Err(err) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(100) {
                    tracing::warn!(event.id = %event, cause = %err, failures, "reading queue meta failed");
                }
            }
        }

        // The map keeps one receiver of its own; more than that means a subscriber is connected.
        if sender.receiver_count() > 1 {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() > IDLE_STOP {
            let mut pollers = watch.pollers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if sender.receiver_count() <= 1 {
                pollers.remove(&event);
                return;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
