//! The user interface, in the browser only: routes, pages and the components they share.
//!
//! - [`browser`]: localStorage, clocks, timers, `window.onsaleMetrics`, the panic hook.
//! - [`api`]: the HTTP client of the origin's API.
//! - [`socket`]: the waiting room's WebSocket.
//! - [`seat_map`]: the canvas seat map with its accessible seat buttons and live availability.
//! - [`pages`]: one component per route.
//!
//! Page flow: events (`/`) → event (`/events/{id}`) → waiting room (`/events/{id}/queue`) →
//! seat pick (`/events/{id}/seats`) → checkout (`/events/{id}/holds/{hold}`) → tickets
//! (`/orders/{id}`).

mod api;
mod browser;
mod pages;
mod seat_map;
mod socket;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;
use wasm_bindgen::prelude::wasm_bindgen;

use onsale_shared::EventId;

use crate::failure::Failure;
use crate::messages::NextStep;

/// Entry point that the generated JavaScript calls once the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    browser::install_panic_hook();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="top-bar" data-testid="app-header">
                <a class="brand" href="/" data-testid="home-link">"onsale"</a>
                <span class="tagline">"Tickets, fairly."</span>
            </header>
            <main id="main" class="page">
                <Routes fallback=|| view! { <pages::NotFoundPage/> }>
                    <Route path=path!("/") view=pages::browse::BrowsePage/>
                    <Route path=path!("/events/:event") view=pages::event::EventPage/>
                    <Route path=path!("/events/:event/queue") view=pages::queue::QueuePage/>
                    <Route path=path!("/events/:event/seats") view=pages::seats::SeatsPage/>
                    <Route path=path!("/events/:event/holds/:hold") view=pages::checkout::CheckoutPage/>
                    <Route path=path!("/orders/:order") view=pages::order::OrderPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Renders a failed request's fan-facing message with the button for its next step.
#[component]
fn ErrorPanel(
    failure: Failure,
    /// The event the page is about, for the "join the queue" and "pick seats" steps.
    #[prop(optional)]
    event: Option<EventId>,
    /// What "Try again" does; without it the retry step shows no button.
    #[prop(optional)]
    on_retry: Option<Callback<()>>,
    /// The step this page already is, whose button would only lead back here.
    #[prop(optional)]
    current_step: Option<NextStep>,
) -> impl IntoView {
    let code = failure.code().map(|code| code.as_str()).unwrap_or("network");
    let step = failure.next_step();
    let step = if Some(step) == current_step { NextStep::None } else { step };
    let action = match (step, event) {
        (NextStep::Retry, _) => on_retry.map(|retry| {
            view! {
                <button class="button secondary" data-testid="error-retry" on:click=move |_| retry.run(())>
                    "Try again"
                </button>
            }
            .into_any()
        }),
        (NextStep::PickOtherSeats, Some(event)) => Some(
            view! { <a class="button secondary" data-testid="error-pick-seats" href=format!("/events/{event}/seats")>"Pick seats"</a> }
                .into_any(),
        ),
        (NextStep::RejoinQueue, Some(event)) => Some(
            view! { <a class="button secondary" data-testid="error-rejoin" href=format!("/events/{event}/queue")>"Join the queue"</a> }
                .into_any(),
        ),
        (NextStep::NewSession, _) => Some(
            view! {
                <button class="button secondary" data-testid="error-new-session" on:click=move |_| browser::reload()>
                    "Start a new session"
                </button>
            }
            .into_any(),
        ),
        (NextStep::BrowseEvents, _) => {
            Some(view! { <a class="button secondary" data-testid="error-browse" href="/">"See all events"</a> }.into_any())
        }
        _ => None,
    };
    view! {
        <div class="error-panel" role="alert" data-testid="error-message" data-error-code=code>
            <p>{failure.fan_message()}</p>
            {action}
        </div>
    }
}

/// Renders a placeholder while a request is in flight.
#[component]
fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <p class="loading" role="status" data-testid="loading">
            {what}
        </p>
    }
}

/// Reads a route parameter as an event id.
fn event_param(params: &leptos_router::params::ParamsMap) -> Option<EventId> {
    params.get("event").and_then(|value| value.parse().ok())
}
