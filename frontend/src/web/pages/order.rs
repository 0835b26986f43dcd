//! An order with its tickets. The ticket worker signs each ticket a moment after the order, so
//! the page requests the order every second until every ticket has its secret, then draws the
//! QR codes.

use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;
use leptos_router::hooks::use_params_map;

use onsale_shared::OrderId;
use onsale_shared::api::{OrderView, TicketView};

use crate::failure::Failure;
use crate::format::format_price;
use crate::qr::qr_svg;
use crate::web::{ErrorPanel, Loading, api, browser};

/// How often the page requests the order while tickets are being signed, in milliseconds.
const POLL_INTERVAL_MS: i32 = 1_000;
/// Requests after which the page stops asking; the tickets still arrive by email.
const MAX_POLLS: u32 = 120;

#[component]
pub fn OrderPage() -> impl IntoView {
    let params = use_params_map();
    move || match params.read().get("order").and_then(|order| order.parse::<OrderId>().ok()) {
        Some(order) => view! { <Order order=order/> }.into_any(),
        None => view! { <super::NotFoundPage/> }.into_any(),
    }
}

#[component]
fn Order(order: OrderId) -> impl IntoView {
    let view_state = RwSignal::new(None::<Result<OrderView, Failure>>);
    let gave_up = RwSignal::new(false);
    let attempt = RwSignal::new(0u32);

    Effect::new(move |_| {
        attempt.track();
        spawn_local_scoped_with_cancellation(async move {
            for _ in 0..MAX_POLLS {
                let result = api::order(order).await;
                let signed = matches!(&result, Ok(view) if view.tickets.iter().all(|ticket| ticket.secret.is_some()));
                let transient = matches!(&result, Err(Failure::Network | Failure::Unreadable { .. }));
                // Keep showing the order through a transient failure rather than flashing an error.
                if !(transient && matches!(view_state.get_untracked(), Some(Ok(_)))) {
                    view_state.set(Some(result.clone()));
                }
                if signed || (result.is_err() && !transient) {
                    return;
                }
                browser::sleep(POLL_INTERVAL_MS).await;
            }
            gave_up.set(true);
        });
    });

    move || match view_state.get() {
        None => view! { <Loading what="Loading your order…"/> }.into_any(),
        Some(Err(failure)) => {
            view! { <ErrorPanel failure=failure on_retry=Callback::new(move |_| attempt.update(|n| *n += 1))/> }
                .into_any()
        }
        Some(Ok(order)) => view! { <OrderDetails order=order gave_up=gave_up/> }.into_any(),
    }
}

#[component]
fn OrderDetails(order: OrderView, gave_up: RwSignal<bool>) -> impl IntoView {
    let currency = order.currency.clone();
    let tickets = order
        .tickets
        .into_iter()
        .map(|ticket| view! { <Ticket ticket=ticket currency=currency.clone() gave_up=gave_up/> })
        .collect_view();
    view! {
        <section class="order" data-testid="order" data-order-id=order.order_id.to_string()>
            <h1>"Your tickets"</h1>
            <p data-testid="order-summary">
                {format!("Order {} · Total {}", order.order_id, format_price(order.total_cents, &order.currency))}
            </p>
            <p class="hint">"Show the QR code at the gate. A copy of each ticket is on its way to your email."</p>
            <ul class="tickets" data-testid="ticket-list">{tickets}</ul>
            <a class="link" href=format!("/events/{}", order.event_id)>"Back to the event"</a>
        </section>
    }
}

#[component]
fn Ticket(ticket: TicketView, currency: String, gave_up: RwSignal<bool>) -> impl IntoView {
    let seat = format!("{}, row {}, seat {}", ticket.zone, ticket.row, ticket.number);
    let qr = ticket.secret.as_deref().and_then(|secret| qr_svg(secret, 192));
    let code = match qr {
        Some(svg) => view! {
            <div class="qr" role="img" aria-label=format!("QR code of the ticket for {seat}") data-testid="ticket-qr" inner_html=svg></div>
        }
        .into_any(),
        None => view! {
            <p class="qr-pending" role="status" data-testid="ticket-pending">
                {move || if gave_up.get() {
                    "Your ticket is still being issued. It will arrive by email; reload this page to see it here."
                } else {
                    "Issuing your ticket…"
                }}
            </p>
        }
        .into_any(),
    };
    view! {
        <li class="ticket card" data-testid="ticket" data-ticket-id=ticket.ticket_id.to_string() data-signed=ticket.secret.is_some().to_string()>
            <div class="ticket-seat">
                <strong>{seat.clone()}</strong>
                <span>{format!("{} · {}", ticket.category, format_price(ticket.price_cents, &currency))}</span>
                {ticket.emailed.then(|| view! { <span class="emailed" data-testid="ticket-emailed">"Emailed"</span> })}
            </div>
            {code}
        </li>
    }
}
