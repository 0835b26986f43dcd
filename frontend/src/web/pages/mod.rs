//! One component per route.

pub mod browse;
pub mod checkout;
pub mod event;
pub mod order;
pub mod queue;
pub mod seats;

use leptos::prelude::*;

use crate::messages;
use onsale_shared::ErrorCode;

/// Renders the page for a path that no route matches.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <section class="card" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>{messages::fan_message(ErrorCode::NotFound)}</p>
            <a class="button" href="/" data-testid="error-browse">"See all events"</a>
        </section>
    }
}
