//! The list of events, filtered by city and by a range of dates. The filters live in the URL
//! (`/?city=Chicago&from=2023-06-01&to=2023-06-30`), so a filtered list can be shared.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use onsale_shared::api::{EventList, EventSummary};

use crate::failure::Failure;
use crate::format::{format_count, format_event_date};
use crate::web::{ErrorPanel, Loading, api};

#[component]
pub fn BrowsePage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let query = query.read();
        let value = |name: &str| query.get(name).unwrap_or_default();
        (value("city"), value("from"), value("to"))
    });

    let city = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let (events, set_events) = signal(None::<Result<EventList, Failure>>);
    let (cities, set_cities) = signal(Vec::<String>::new());
    let reload = RwSignal::new(0u32);
    // Numbers each request, so that the response to an older filter never replaces a newer one.
    let latest_request = StoredValue::new(0u32);

    Effect::new(move |_| {
        let (filter_city, filter_from, filter_to) = filters.get();
        reload.track();
        city.set(filter_city.clone());
        from.set(filter_from.clone());
        to.set(filter_to.clone());
        set_events.set(None);
        let request = latest_request.get_value() + 1;
        latest_request.set_value(request);
        spawn_local(async move {
            let result = api::list_events(&filter_city, &filter_from, &filter_to).await;
            if latest_request.get_value() == request {
                set_events.set(Some(result));
            }
        });
    });

    // The city list comes from every event, whatever the filter.
    spawn_local(async move {
        if let Ok(list) = api::list_events("", "", "").await {
            let mut names: Vec<String> = list.events.into_iter().map(|event| event.city).collect();
            names.sort();
            names.dedup();
            set_cities.set(names);
        }
    });

    let navigate = use_navigate();
    let apply = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let mut params = Vec::new();
        for (name, value) in
            [("city", city.get_untracked()), ("from", from.get_untracked()), ("to", to.get_untracked())]
        {
            if !value.is_empty() {
                params.push(format!("{name}={}", String::from(js_sys::encode_uri_component(&value))));
            }
        }
        let target = if params.is_empty() { "/".to_owned() } else { format!("/?{}", params.join("&")) };
        navigate(&target, Default::default());
    };

    view! {
        <section class="browse">
            <h1>"Upcoming events"</h1>
            <form class="filters" data-testid="event-filters" on:submit=apply>
                <label>
                    "City"
                    <select data-testid="filter-city" prop:value=move || city.get() on:change=move |ev| city.set(event_target_value(&ev))>
                        <option value="">"All cities"</option>
                        <For each=move || cities.get() key=|name| name.clone() let:name>
                            <option value=name.clone() selected=move || city.get() == name>{name.clone()}</option>
                        </For>
                    </select>
                </label>
                <label>
                    "From"
                    <input type="date" data-testid="filter-from" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev))/>
                </label>
                <label>
                    "To"
                    <input type="date" data-testid="filter-to" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev))/>
                </label>
                <button type="submit" class="button" data-testid="filter-apply">"Show events"</button>
                <a class="link" href="/" data-testid="filter-clear">"Clear filters"</a>
            </form>
            {move || match events.get() {
                None => view! { <Loading what="Loading events…"/> }.into_any(),
                Some(Err(failure)) => view! { <ErrorPanel failure=failure on_retry=Callback::new(move |_| reload.update(|n| *n += 1))/> }.into_any(),
                Some(Ok(list)) if list.events.is_empty() => view! {
                    <p class="empty" data-testid="event-list-empty">"No events match these filters. Try another city or a wider range of dates."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <p class="count" data-testid="event-count">{format!("{} events", list.events.len())}</p>
                    <ul class="event-list" data-testid="event-list">
                        {list.events.into_iter().map(|event| view! { <EventCard event=event/> }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn EventCard(event: EventSummary) -> impl IntoView {
    let href = format!("/events/{}", event.id);
    view! {
        <li class="event-card" data-testid="event-card" data-event-id=event.id.to_string()>
            <a href=href>
                <span class="event-date">{format_event_date(event.local_date)}</span>
                <span class="event-name">{event.name.clone()}</span>
                <span class="event-venue">{format!("{}, {}, {}", event.venue, event.city, event.region)}</span>
                <span class="event-seats">{format!("{} seats", format_count(u64::from(event.seat_count)))}</span>
            </a>
        </li>
    }
}
