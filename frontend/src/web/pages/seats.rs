//! The seat pick, for a fan with a valid admission: the live map, the picked seats with their
//! total, and the hold. A seat someone else took in the meantime is marked on the map and
//! dropped from the pick, with a message.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};

use onsale_shared::api::EventDetail;
use onsale_shared::{ErrorCode, EventId};

use crate::failure::Failure;
use crate::format::{format_countdown, format_event_date, format_price};
use crate::messages::NextStep;
use crate::seatmap::layout::SeatLayout;
use crate::seatmap::seat_description;
use crate::stored::{StoredAdmission, StoredHold, admission_key, hold_key};
use crate::web::seat_map::SeatMap;
use crate::web::{ErrorPanel, Loading, api, browser, event_param};

#[component]
pub fn SeatsPage() -> impl IntoView {
    let params = use_params_map();
    move || match event_param(&params.read()) {
        Some(event) => view! { <SeatPick event=event/> }.into_any(),
        None => view! { <super::NotFoundPage/> }.into_any(),
    }
}

/// Returns a clock for countdowns that ticks twice a second while the page is open.
pub fn ticking_clock() -> ReadSignal<f64> {
    let (now, set_now) = signal(browser::now_ms());
    if let Ok(handle) =
        set_interval_with_handle(move || set_now.set(browser::now_ms()), std::time::Duration::from_millis(500))
    {
        on_cleanup(move || handle.clear());
    }
    now
}

#[component]
fn SeatPick(event: EventId) -> impl IntoView {
    let admission = browser::load::<StoredAdmission>(&admission_key(event));
    let Some(admission) = admission.filter(|admission| admission.deadline_ms > browser::now_ms()) else {
        return view! {
            <section class="card" data-testid="seats-need-admission">
                <h1>"Join the queue first"</h1>
                <p>"Seats can be picked by fans whose turn has come in the waiting room. If you had a turn, it has run out."</p>
                <a class="button" data-testid="join-queue" href=format!("/events/{event}/queue")>"Join the queue"</a>
            </section>
        }
        .into_any();
    };

    let (detail, set_detail) = signal(None::<Result<EventDetail, Failure>>);
    spawn_local(async move { set_detail.set(Some(api::event_detail(event).await)) });

    let page = move || match detail.get() {
        None => view! { <Loading what="Loading the event…"/> }.into_any(),
        Some(Err(failure)) => {
            view! { <ErrorPanel failure=failure event=event on_retry=Callback::new(|_| browser::reload())/> }.into_any()
        }
        Some(Ok(detail)) => view! { <PickView detail=detail admission=admission.clone()/> }.into_any(),
    };
    page.into_any()
}

#[component]
fn PickView(detail: EventDetail, admission: StoredAdmission) -> impl IntoView {
    let event = detail.summary.id;
    let currency = detail.categories.first().map(|c| c.currency.clone()).unwrap_or_else(|| "USD".to_owned());
    let max_seats = detail.max_seats_per_order;
    let layout = RwSignal::new(None::<Arc<SeatLayout>>);
    let pick = RwSignal::new(Vec::<u32>::new());
    let taken = RwSignal::new(Vec::<u32>::new());
    let notice = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<Failure>);
    let busy = RwSignal::new(false);
    let now = ticking_clock();
    let deadline = admission.deadline_ms;
    let expired = move || now.get() >= deadline;
    let existing_hold =
        browser::load::<StoredHold>(&hold_key(event)).filter(|hold| hold.deadline_ms > browser::now_ms());
    let navigate = use_navigate();
    let currency_for_list = currency.clone();

    let describe = move |seat: u32, currency: &str| -> String {
        layout
            .with_untracked(|layout| {
                layout.as_ref().and_then(|layout| layout.seat_info(seat).map(|info| seat_description(&info, currency)))
            })
            .unwrap_or_else(|| format!("Seat {seat}"))
    };
    let total = move || {
        layout.with(|layout| {
            let Some(layout) = layout else { return 0 };
            pick.with(|pick| pick.iter().filter_map(|seat| layout.seat_info(*seat)?.price_cents).sum::<i64>())
        })
    };

    let token = admission.token.clone();
    let event_title = format!("{} · {}", detail.summary.name, format_event_date(detail.summary.local_date));
    let hold_currency = currency.clone();
    let hold_seats = move |_| {
        let seats = pick.get_untracked();
        if seats.is_empty() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        failure.set(None);
        let (token, navigate, currency, event_title) =
            (token.clone(), navigate.clone(), hold_currency.clone(), event_title.clone());
        spawn_local(async move {
            match api::hold(event, &token, &seats).await {
                Ok(hold) => {
                    let seat_labels = hold.seats.iter().map(|seat| describe(seat.get(), &currency)).collect();
                    let deadline_ms = browser::client_deadline(hold.expires_at);
                    let hold_id = hold.hold_id;
                    browser::save(&hold_key(event), &StoredHold { hold, deadline_ms, seat_labels, event_title });
                    navigate(&format!("/events/{event}/holds/{hold_id}"), Default::default());
                }
                Err(error) => {
                    if error.code() == Some(ErrorCode::SeatUnavailable) {
                        taken.set(error.taken_seats());
                    }
                    if matches!(error.code(), Some(ErrorCode::AdmissionTokenExpired)) {
                        browser::remove(&admission_key(event));
                    }
                    failure.set(Some(error));
                    busy.set(false);
                }
            }
        });
    };

    view! {
        <section class="seat-pick" data-testid="seat-pick" data-event-id=event.to_string()>
            <a class="link" href=format!("/events/{event}") data-testid="back-to-event">"← Event"</a>
            <h1>{detail.summary.name.clone()}</h1>
            <p class="countdown" data-testid="admission-countdown" role="timer">
                {move || if expired() {
                    "Your time to pick seats has run out.".to_owned()
                } else {
                    format!("Time left to pick and hold seats: {}", format_countdown((deadline - now.get()) as i64))
                }}
            </p>
            {move || expired().then(|| view! {
                <div class="error-panel" role="alert" data-testid="admission-expired">
                    <p>{crate::messages::fan_message(ErrorCode::AdmissionTokenExpired)}</p>
                    <a class="button secondary" data-testid="error-rejoin" href=format!("/events/{event}/queue")>"Join the queue"</a>
                </div>
            })}
            {existing_hold.map(|hold| view! {
                <p class="notice" data-testid="resume-hold">
                    "You already hold seats for this event. "
                    <a href=format!("/events/{event}/holds/{}", hold.hold.hold_id)>"Go to checkout"</a>
                </p>
            })}
            <div class="pick-layout">
                <SeatMap event=event currency=currency.clone() layout=layout pick=pick max_seats=max_seats taken=taken notice=notice/>
                <aside class="pick-panel card" data-testid="pick-panel">
                    <h2>{format!("Your seats (up to {max_seats})")}</h2>
                    {move || notice.get().map(|text| view! { <p class="notice" role="status" data-testid="pick-notice">{text}</p> })}
                    {move || {
                        let currency = currency_for_list.clone();
                        let seats = pick.get();
                        if seats.is_empty() {
                            return view! { <p class="empty" data-testid="pick-empty">"No seats picked yet. Zoom into a section and pick seats."</p> }.into_any();
                        }
                        view! {
                            <ul class="pick-list" data-testid="pick-list">
                                {seats.into_iter().map(|seat| view! {
                                    <li data-testid="picked-seat" data-seat=seat.to_string()>
                                        <span>{describe(seat, &currency)}</span>
                                        <button
                                            type="button"
                                            class="link"
                                            data-testid="remove-seat"
                                            aria-label=format!("Remove {}", describe(seat, &currency))
                                            on:click=move |_| pick.update(|pick| pick.retain(|picked| *picked != seat))
                                        >"Remove"</button>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                    <p class="total" data-testid="pick-total">{
                        let currency = currency.clone();
                        move || format!("Total: {}", format_price(total(), &currency))
                    }</p>
                    {move || failure.get().map(|failure| view! { <ErrorPanel failure=failure event=event current_step=NextStep::PickOtherSeats/> })}
                    <button
                        type="button"
                        class="button"
                        data-testid="hold-seats"
                        disabled=move || pick.with(Vec::is_empty) || busy.get() || expired()
                        on:click=hold_seats
                    >
                        {move || match (busy.get(), pick.with(Vec::len)) {
                            (true, _) => "Holding…".to_owned(),
                            (false, 0) => "Hold seats".to_owned(),
                            (false, 1) => "Hold 1 seat".to_owned(),
                            (false, count) => format!("Hold {count} seats"),
                        }}
                    </button>
                    <button type="button" class="link" data-testid="clear-pick" on:click=move |_| pick.set(Vec::new())>"Clear"</button>
                </aside>
            </div>
        </section>
    }
    .into_any()
}
