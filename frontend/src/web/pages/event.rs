//! An event: venue, date, price categories, the live seat map, and the way into the queue.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

use onsale_shared::EventId;
use onsale_shared::api::EventDetail;

use crate::failure::Failure;
use crate::format::{format_count, format_event_date, format_price};
use crate::seatmap::layout::SeatLayout;
use crate::stored::{StoredAdmission, admission_key};
use crate::web::seat_map::SeatMap;
use crate::web::{ErrorPanel, Loading, api, browser, event_param};

#[component]
pub fn EventPage() -> impl IntoView {
    let params = use_params_map();
    move || match event_param(&params.read()) {
        Some(event) => view! { <EventView event=event/> }.into_any(),
        None => view! { <super::NotFoundPage/> }.into_any(),
    }
}

#[component]
fn EventView(event: EventId) -> impl IntoView {
    let (detail, set_detail) = signal(None::<Result<EventDetail, Failure>>);
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        reload.track();
        set_detail.set(None);
        spawn_local(async move { set_detail.set(Some(api::event_detail(event).await)) });
    });

    move || match detail.get() {
        None => view! { <Loading what="Loading the event…"/> }.into_any(),
        Some(Err(failure)) => {
            view! { <ErrorPanel failure=failure on_retry=Callback::new(move |_| reload.update(|n| *n += 1))/> }
                .into_any()
        }
        Some(Ok(detail)) => view! { <EventDetails detail=detail/> }.into_any(),
    }
}

#[component]
fn EventDetails(detail: EventDetail) -> impl IntoView {
    let event = detail.summary.id;
    let layout = RwSignal::new(None::<Arc<SeatLayout>>);
    let admitted = browser::load::<StoredAdmission>(&admission_key(event))
        .is_some_and(|admission| admission.deadline_ms > browser::now_ms());
    let currency = detail.categories.first().map(|c| c.currency.clone()).unwrap_or_else(|| "USD".to_owned());
    let summary = detail.summary;
    let categories = detail
        .categories
        .iter()
        .map(|category| {
            let color = category.color.clone().unwrap_or_else(|| "#8a8f98".to_owned());
            view! {
                <li class="price" data-testid="price-category" data-category=category.key.clone()>
                    <span class="swatch" style:background=color></span>
                    <span class="price-name">{category.name.clone()}</span>
                    <span class="price-amount">{format_price(category.price_cents, &category.currency)}</span>
                </li>
            }
        })
        .collect_view();

    view! {
        <section class="event" data-testid="event-page" data-event-id=event.to_string()>
            <a class="link" href="/" data-testid="back-to-events">"← All events"</a>
            <h1 data-testid="event-name">{summary.name.clone()}</h1>
            <p class="event-when" data-testid="event-date">{format_event_date(summary.local_date)}</p>
            <p class="event-where" data-testid="event-venue">
                {format!("{}, {}, {}, {}", summary.venue, summary.city, summary.region, summary.country)}
            </p>
            <p class="event-seats">{format!("{} seats · up to {} per order", format_count(u64::from(summary.seat_count)), detail.max_seats_per_order)}</p>
            <h2>"Prices"</h2>
            <ul class="prices" data-testid="price-list">{categories}</ul>
            <div class="actions">
                {if admitted {
                    view! { <a class="button" data-testid="pick-seats" href=format!("/events/{event}/seats")>"Pick your seats"</a> }.into_any()
                } else {
                    view! { <a class="button" data-testid="join-queue" href=format!("/events/{event}/queue")>"Join the queue to buy"</a> }.into_any()
                }}
            </div>
            <h2>"Seat map"</h2>
            <p class="hint">"Seats update live. Grey seats are held or sold."</p>
            <SeatMap event=event currency=currency layout=layout/>
        </section>
    }
}
