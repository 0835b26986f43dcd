//! Checkout of a hold: the held seats and total, the hold's countdown, the release button, and
//! payment with the test provider. The hold comes from localStorage, where the seat pick put it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};

use onsale_shared::{ErrorCode, EventId, HoldId};

use crate::failure::Failure;
use crate::format::{format_countdown, format_price};
use crate::stored::{StoredAdmission, StoredHold, admission_key, hold_key};
use crate::web::pages::seats::ticking_clock;
use crate::web::{ErrorPanel, api, browser, event_param};

/// Seconds left on the hold below which the countdown turns urgent.
const URGENT_SECONDS: f64 = 60.0;

#[component]
pub fn CheckoutPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let params = params.read();
        let hold = params.get("hold").and_then(|hold| hold.parse::<HoldId>().ok());
        match (event_param(&params), hold) {
            (Some(event), Some(hold)) => view! { <Checkout event=event hold=hold/> }.into_any(),
            _ => view! { <super::NotFoundPage/> }.into_any(),
        }
    }
}

#[component]
fn Checkout(event: EventId, hold: HoldId) -> impl IntoView {
    let stored = browser::load::<StoredHold>(&hold_key(event)).filter(|stored| stored.hold.hold_id == hold);
    let admission = browser::load::<StoredAdmission>(&admission_key(event));
    let (Some(stored), Some(admission)) = (stored, admission) else {
        return view! {
            <section class="card" data-testid="hold-missing">
                <h1>"This hold is not in this browser"</h1>
                <p>"Holds are kept in the browser that made them. If it expired or was released, its seats are back on sale."</p>
                <a class="button" href=format!("/events/{event}/seats")>"Pick seats"</a>
            </section>
        }
        .into_any();
    };

    let now = ticking_clock();
    let deadline = stored.deadline_ms;
    let remaining_ms = move || deadline - now.get();
    let expired = move || remaining_ms() <= 0.0;
    let email = RwSignal::new(String::new());
    let card = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(None::<Failure>);
    let navigate = use_navigate();
    let token = admission.token;

    let pay = {
        let (token, navigate) = (token.clone(), navigate.clone());
        move |event_: leptos::ev::SubmitEvent| {
            event_.prevent_default();
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            failure.set(None);
            let (token, navigate) = (token.clone(), navigate.clone());
            spawn_local(async move {
                match api::confirm(event, &token, hold, &email.get_untracked(), &card.get_untracked()).await {
                    Ok(order) => {
                        // The order spends the admission, and the hold is now an order.
                        browser::remove(&hold_key(event));
                        browser::remove(&admission_key(event));
                        navigate(&format!("/orders/{}", order.order_id), Default::default());
                    }
                    Err(error) => {
                        if matches!(
                            error.code(),
                            Some(ErrorCode::HoldExpired | ErrorCode::SeatSold | ErrorCode::HoldNotFound)
                        ) {
                            browser::remove(&hold_key(event));
                        }
                        failure.set(Some(error));
                        busy.set(false);
                    }
                }
            });
        }
    };

    let release = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        failure.set(None);
        let (token, navigate) = (token.clone(), navigate.clone());
        spawn_local(async move {
            match api::release(event, &token, hold).await {
                Ok(()) | Err(Failure::Api { code: ErrorCode::HoldNotFound, .. }) => {
                    browser::remove(&hold_key(event));
                    navigate(&format!("/events/{event}/seats"), Default::default());
                }
                Err(error) => {
                    failure.set(Some(error));
                    busy.set(false);
                }
            }
        });
    };

    let held = stored.hold;
    let total = format_price(held.total_cents, &held.currency);
    let pay_label = format!("Pay {total}");
    let labels = if stored.seat_labels.len() == held.seats.len() {
        stored.seat_labels
    } else {
        held.seats.iter().map(|seat| format!("Seat {seat}")).collect()
    };

    view! {
        <section class="checkout card" data-testid="checkout" data-hold-id=hold.to_string()>
            <h1>"Checkout"</h1>
            <p class="event-title" data-testid="checkout-event">{stored.event_title.clone()}</p>
            <p
                class="countdown"
                class:urgent=move || remaining_ms() < URGENT_SECONDS * 1000.0
                role="timer"
                data-testid="hold-countdown"
                data-remaining-ms=move || remaining_ms().max(0.0).round().to_string()
            >
                {move || if expired() {
                    "Your hold has run out.".to_owned()
                } else {
                    format!("Your seats are held for {}", format_countdown(remaining_ms() as i64))
                }}
            </p>
            {move || expired().then(|| view! {
                <div class="error-panel" role="alert" data-testid="hold-expired">
                    <p>"Your hold ran out and the seats went back on sale. Pick seats again to buy."</p>
                    <a class="button secondary" data-testid="error-pick-seats" href=format!("/events/{event}/seats")>"Pick seats"</a>
                </div>
            })}
            <ul class="held-seats" data-testid="held-seats">
                {labels.into_iter().map(|label| view! { <li data-testid="held-seat">{label}</li> }).collect_view()}
            </ul>
            <p class="total" data-testid="hold-total">{format!("Total: {total}")}</p>
            {move || failure.get().map(|failure| view! { <ErrorPanel failure=failure event=event/> })}
            <form class="pay-form" data-testid="checkout-form" on:submit=pay>
                <label>
                    "Email for your tickets"
                    <input
                        type="email"
                        required
                        autocomplete="email"
                        data-testid="checkout-email"
                        prop:value=move || email.get()
                        on:input=move |ev| email.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Card number"
                    <input
                        type="text"
                        inputmode="numeric"
                        required
                        autocomplete="cc-number"
                        data-testid="checkout-card"
                        prop:value=move || card.get()
                        on:input=move |ev| card.set(event_target_value(&ev))
                    />
                </label>
                <p class="hint">"Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined."</p>
                <button type="submit" class="button" data-testid="checkout-pay" disabled=move || busy.get() || expired()>
                    {move || if busy.get() { "Working…".to_owned() } else { pay_label.clone() }}
                </button>
            </form>
            <button type="button" class="link" data-testid="release-hold" disabled=move || busy.get() on:click=release>
                "Release these seats"
            </button>
        </section>
    }
    .into_any()
}
