//! The waiting room. The page joins the queue (joining again keeps the place), then follows the
//! fan's status over the WebSocket: position, fans ahead, estimated wait and a progress bar.
//! A dropped connection is opened again after a pause, and the place is kept because the
//! server keeps it. On admission the token is stored and the page moves on to the seat pick.

use leptos::prelude::*;
use leptos::task::{spawn_local, spawn_local_scoped_with_cancellation};
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map};

use onsale_shared::api::QueueStatus;
use onsale_shared::{ErrorCode, EventId};

use crate::failure::Failure;
use crate::format::{format_count, format_eta, format_event_date, queue_progress};
use crate::stored::{StoredAdmission, admission_key, queue_start_key};
use crate::web::socket::{Socket, SocketEvent};
use crate::web::{ErrorPanel, Loading, api, browser, event_param};

/// Pauses between reconnection attempts, in milliseconds; the last one repeats.
const RECONNECT_DELAYS_MS: [i32; 5] = [500, 1_000, 2_000, 5_000, 10_000];

/// The content of the waiting room.
#[derive(Debug, Clone, PartialEq)]
enum RoomView {
    Joining,
    Status(QueueStatus),
    /// The connection dropped; the last status is kept on screen.
    Reconnecting(Option<QueueStatus>),
    Failed(Failure),
}

#[component]
pub fn QueuePage() -> impl IntoView {
    let params = use_params_map();
    move || match event_param(&params.read()) {
        Some(event) => view! { <WaitingRoom event=event/> }.into_any(),
        None => view! { <super::NotFoundPage/> }.into_any(),
    }
}

#[component]
fn WaitingRoom(event: EventId) -> impl IntoView {
    let room = RwSignal::new(RoomView::Joining);
    let attempt = RwSignal::new(0u32);
    // A stored admission that has run out means the fan's time to pick seats ended, so the page
    // explains why the fan is back in the queue.
    let expired_before = match browser::load::<StoredAdmission>(&admission_key(event)) {
        Some(admission) if admission.deadline_ms <= browser::now_ms() => {
            browser::remove(&admission_key(event));
            true
        }
        _ => false,
    };
    let navigate = use_navigate();
    let title = RwSignal::new(String::new());
    spawn_local(async move {
        if let Ok(detail) = api::event_detail(event).await {
            title.set(format!("{} · {}", detail.summary.name, format_event_date(detail.summary.local_date)));
        }
    });

    Effect::new(move |_| {
        attempt.track();
        let navigate = navigate.clone();
        spawn_local_scoped_with_cancellation(follow_queue(event, room, move |path| {
            navigate(path, NavigateOptions { replace: true, ..Default::default() })
        }));
    });

    let retry = Callback::new(move |_| {
        room.set(RoomView::Joining);
        attempt.update(|n| *n += 1);
    });

    view! {
        <section class="waiting-room card" data-testid="waiting-room">
            <a class="link" href=format!("/events/{event}") data-testid="back-to-event">"← Event"</a>
            <h1>"Waiting room"</h1>
            <p class="event-title" data-testid="queue-event">{move || title.get()}</p>
            {expired_before.then(|| view! {
                <p class="notice" role="status" data-testid="queue-token-expired">
                    "Your time to pick seats ran out, so you have joined the queue again."
                </p>
            })}
            {move || match room.get() {
                RoomView::Joining => view! { <Loading what="Joining the queue…"/> }.into_any(),
                RoomView::Failed(failure) => view! { <ErrorPanel failure=failure event=event on_retry=retry/> }.into_any(),
                RoomView::Status(status) => view! { <StatusView event=event status=status on_rejoin=retry/> }.into_any(),
                RoomView::Reconnecting(last) => view! {
                    <p class="notice" role="status" data-testid="queue-reconnecting">
                        "The connection dropped. Reconnecting… you keep your place in the queue."
                    </p>
                    {last.map(|status| view! { <StatusView event=event status=status on_rejoin=retry/> })}
                }.into_any(),
            }}
        </section>
    }
}

/// Joins, then follows the status until the fan is admitted or the event sells out.
async fn follow_queue(event: EventId, room: RwSignal<RoomView>, go: impl Fn(&str) + 'static) {
    let seats_page = format!("/events/{event}/seats");
    let valid_admission = browser::load::<StoredAdmission>(&admission_key(event))
        .is_some_and(|admission| admission.deadline_ms > browser::now_ms());
    if valid_admission {
        go(&seats_page);
        return;
    }

    let mut failures = 0usize;
    let mut status = loop {
        match api::join_queue(event).await {
            Ok(status) => break status,
            Err(failure) if failure.code() == Some(ErrorCode::SoldOut) => break QueueStatus::SoldOut,
            Err(failure) if is_transient(&failure) && failures < RECONNECT_DELAYS_MS.len() => {
                browser::sleep(RECONNECT_DELAYS_MS[failures]).await;
                failures += 1;
            }
            Err(failure) => {
                room.set(RoomView::Failed(failure));
                return;
            }
        }
    };

    let mut reconnects = 0usize;
    loop {
        if show(event, room, &status) {
            if matches!(status, QueueStatus::Admitted { .. }) {
                go(&seats_page);
            }
            return;
        }
        let session = match api::fan_session().await {
            Ok(session) => session.session,
            Err(failure) => {
                room.set(RoomView::Failed(failure));
                return;
            }
        };
        let mut socket = Socket::open(&api::queue_socket_url(event, &session)).ok();
        while let Some(open) = socket.as_mut() {
            match open.next().await {
                SocketEvent::Text(text) => {
                    let Ok(next) = serde_json::from_str::<QueueStatus>(&text) else { continue };
                    reconnects = 0;
                    status = next;
                    if show(event, room, &status) {
                        if matches!(status, QueueStatus::Admitted { .. }) {
                            go(&seats_page);
                        }
                        return;
                    }
                }
                SocketEvent::Closed => socket = None,
            }
        }

        room.set(RoomView::Reconnecting(Some(status.clone())));
        browser::sleep(RECONNECT_DELAYS_MS[reconnects.min(RECONNECT_DELAYS_MS.len() - 1)]).await;
        reconnects += 1;
        // The HTTP status works even when WebSockets are blocked, and returns a token that was
        // issued while the socket was down.
        if let Ok(latest) = api::queue_status(event).await {
            status = latest;
        }
    }
}

fn is_transient(failure: &Failure) -> bool {
    matches!(failure, Failure::Network | Failure::Unreadable { .. })
        || matches!(
            failure.code(),
            Some(ErrorCode::ServiceUnavailable | ErrorCode::RateLimited | ErrorCode::InternalError)
        )
}

/// Shows a status, stores what it carries, and returns whether the wait is over.
fn show(event: EventId, room: RwSignal<RoomView>, status: &QueueStatus) -> bool {
    if let QueueStatus::Queued { position, .. } = status {
        let start_key = queue_start_key(event);
        let start = browser::load::<u64>(&start_key).unwrap_or(0);
        if *position > start {
            browser::save(&start_key, position);
        }
    }
    if let QueueStatus::Admitted { token, expires_at } = status {
        let admission = StoredAdmission {
            token: token.clone(),
            expires_at: *expires_at,
            deadline_ms: browser::client_deadline(*expires_at),
        };
        browser::save(&admission_key(event), &admission);
        browser::remove(&queue_start_key(event));
    }
    room.set(RoomView::Status(status.clone()));
    matches!(status, QueueStatus::Admitted { .. } | QueueStatus::SoldOut)
}

#[component]
fn StatusView(event: EventId, status: QueueStatus, on_rejoin: Callback<()>) -> impl IntoView {
    match status {
        QueueStatus::Queued { position, ahead, eta_seconds, paused, .. } => {
            let start = browser::load::<u64>(&queue_start_key(event)).unwrap_or(position);
            let progress = queue_progress(start, position);
            let percent = (progress * 100.0).round();
            view! {
                <div class="queue-status" data-testid="queue-status" data-state="queued">
                    {paused.then(|| view! {
                        <p class="notice" role="status" data-testid="queue-paused">
                            "The sale is paused for a moment. You keep your place: stay on this page."
                        </p>
                    })}
                    <p class="queue-position">
                        "You are number "
                        <strong data-testid="queue-position">{format_count(position)}</strong>
                        " in line."
                    </p>
                    <p data-testid="queue-ahead">{format!("{} fans ahead of you", format_count(ahead))}</p>
                    <p data-testid="queue-eta">
                        {if paused { "Estimated wait: on hold while the sale is paused".to_owned() } else { format!("Estimated wait: {}", format_eta(eta_seconds)) }}
                    </p>
                    <div
                        class="progress"
                        role="progressbar"
                        aria-label="Your progress through the queue"
                        aria-valuemin="0"
                        aria-valuemax="100"
                        aria-valuenow=percent.to_string()
                        data-testid="queue-progress"
                    >
                        <div class="progress-bar" style:width=format!("{percent}%")></div>
                    </div>
                    <p class="hint">"Keep this page open. When it is your turn, the seat map opens by itself."</p>
                </div>
            }
            .into_any()
        }
        QueueStatus::Admitted { .. } => view! {
            <div class="queue-status" data-testid="queue-status" data-state="admitted">
                <p data-testid="queue-admitted">"It is your turn. Opening the seat map…"</p>
                <a class="button" href=format!("/events/{event}/seats")>"Pick your seats"</a>
            </div>
        }
        .into_any(),
        QueueStatus::Prequeue => view! {
            <div class="queue-status" data-testid="queue-status" data-state="prequeue">
                <p data-testid="queue-prequeue">
                    "You are in the waiting room. The sale has not started yet. When it opens, everyone here gets a random place in line, so there is no need to refresh."
                </p>
            </div>
        }
        .into_any(),
        QueueStatus::NotOpen => view! {
            <div class="queue-status" data-testid="queue-status" data-state="not_open">
                <p data-testid="queue-not-open">"The queue for this event is not open yet. Come back when the sale starts."</p>
            </div>
        }
        .into_any(),
        QueueStatus::NotQueued => view! {
            <div class="queue-status" data-testid="queue-status" data-state="not_queued">
                <p data-testid="queue-not-queued">"You are not in the queue. If your time to pick seats ran out, join again."</p>
                <button class="button" data-testid="queue-rejoin" on:click=move |_| on_rejoin.run(())>"Join the queue"</button>
            </div>
        }
        .into_any(),
        QueueStatus::SoldOut => view! {
            <div class="queue-status" data-testid="queue-status" data-state="sold_out">
                <p data-testid="queue-sold-out">"This event is sold out. There are no more seats to buy."</p>
                <a class="button secondary" href="/">"See other events"</a>
            </div>
        }
        .into_any(),
    }
}
