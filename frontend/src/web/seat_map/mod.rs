//! The seat map component. A 2D canvas draws the venue by section, and shades each section by
//! how many of its seats are free. A click, or Enter on the section list, zooms into one section
//! and draws its seats. Over the zoomed canvas sits one transparent button per seat, grouped by
//! row, so that keyboards and screen readers pick seats the way a pointer does.
//!
//! Canvas rather than SVG, measured in headless Chromium 156 (software rendering) on a shared
//! 2-core machine with the 72,511-seat MetLife map: one SVG element per seat took about 880 ms
//! to the second frame, one canvas pass over every seat 50 to 110 ms, and the section overview
//! drawn here 5 to 18 ms. A zoomed section of 1,116 seats draws in about 6 ms.
//!
//! - [`draw`]: the canvas drawing.
//! - [`state`]: loading, bitmap polling, repainting what changed, picking.

mod draw;
mod state;

use std::collections::HashMap;
use std::sync::Arc;

use leptos::ev::{KeyboardEvent, MouseEvent};
use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;
use wasm_bindgen::JsCast;

use onsale_shared::EventId;

use crate::format::{format_count, format_price};
use crate::seatmap::availability::{PICKED, TAKEN, section_fill};
use crate::seatmap::layout::{Rgb, SeatLayout};
use crate::seatmap::navigation::{move_for_key, next_seat};
use crate::seatmap::{SeatStatus, seat_label};
use crate::web::{ErrorPanel, Loading, browser};
use state::{LoadStatus, MapState, Tooltip};

/// Renders the live seat map of an event.
#[component]
pub fn SeatMap(
    event: EventId,
    /// Currency of the event's prices.
    #[prop(into)]
    currency: String,
    /// Filled with the layout once the map has loaded, for the page's own use.
    layout: RwSignal<Option<Arc<SeatLayout>>>,
    /// The fan's picked seats; without it the map shows availability but picks nothing.
    #[prop(optional)]
    pick: Option<RwSignal<Vec<u32>>>,
    /// Most seats one order may have.
    #[prop(default = 8)]
    max_seats: u32,
    /// Seats the server just reported taken; the map marks them and empties the list.
    #[prop(optional)]
    taken: Option<RwSignal<Vec<u32>>>,
    /// Where the map reports what it did to the pick, such as dropping a seat someone took.
    #[prop(optional)]
    notice: Option<RwSignal<Option<String>>>,
) -> impl IntoView {
    let state = MapState {
        event,
        pickable: pick.is_some(),
        max_seats,
        canvas: NodeRef::new(),
        stage: NodeRef::new(),
        layout,
        live: StoredValue::new(None),
        status: RwSignal::new(LoadStatus::Loading),
        stale: RwSignal::new(false),
        free: RwSignal::new(Vec::new()),
        zoom: RwSignal::new(None),
        size: RwSignal::new((800.0, 600.0)),
        pick: pick.unwrap_or_else(|| RwSignal::new(Vec::new())),
        drawn_pick: StoredValue::new(Vec::new()),
        seat_free: StoredValue::new(HashMap::new()),
        focused: RwSignal::new(None),
        tooltip: RwSignal::new(None),
        announcement: RwSignal::new(String::new()),
        notice,
        keyboard_zoom: StoredValue::new(false),
    };

    spawn_local_scoped_with_cancellation(state.run());

    let resize = window_event_listener(leptos::ev::resize, move |_| {
        state.measure();
        state.redraw();
    });
    on_cleanup(move || resize.remove());

    Effect::new(move |_| {
        state.pick.track();
        state.repaint_pick();
    });

    if let Some(taken) = taken {
        Effect::new(move |_| {
            let seats = taken.get();
            if !seats.is_empty() {
                state.mark_taken(&seats);
                taken.set(Vec::new());
            }
        });
    }

    Effect::new(move |previous: Option<Option<usize>>| {
        let zoom = state.zoom.get();
        if previous.is_none() {
            return zoom;
        }
        let started = browser::perf_now();
        state.tooltip.set(None);
        state.redraw();
        browser::set_metric("zoomDrawMs", browser::perf_now() - started);
        // The focus handlers below read signals. `untrack` keeps this effect from subscribing to
        // them, because it would then run again, and move the focus, on every pick.
        if state.keyboard_zoom.get_value() {
            state.keyboard_zoom.set_value(false);
            untrack(|| match zoom {
                Some(section) => {
                    let first = state.layout.get_untracked().and_then(|layout| {
                        let all: Vec<u32> = layout.section_seats(section).collect();
                        all.iter().copied().find(|seat| state.is_free(*seat)).or(all.first().copied())
                    });
                    if let Some(seat) = first {
                        state.focused.set(Some(seat));
                        focus(&format!("[data-testid=\"seat\"][data-seat=\"{seat}\"]"));
                    }
                }
                None => {
                    if let Some(section) = previous.flatten() {
                        focus(&format!("[data-testid=\"section-button\"][data-section-index=\"{section}\"]"));
                    }
                }
            });
        }
        zoom
    });

    let on_canvas_move = move |event: MouseEvent| {
        if state.zoom.get_untracked().is_some() {
            return;
        }
        let (Some(layout), Some(viewport)) = (state.layout.get_untracked(), state.viewport()) else { return };
        let (x, y) = (f64::from(event.offset_x()), f64::from(event.offset_y()));
        let section = layout.section_at(viewport.to_plan((x, y)));
        state
            .tooltip
            .set(section.map(|section| Tooltip::at(section_lines(&layout, state, section), x, y - 12.0, y + 16.0)));
    };
    let on_canvas_click = move |event: MouseEvent| {
        if state.zoom.get_untracked().is_some() {
            return;
        }
        let (Some(layout), Some(viewport)) = (state.layout.get_untracked(), state.viewport()) else { return };
        let point = viewport.to_plan((f64::from(event.offset_x()), f64::from(event.offset_y())));
        if let Some(section) = layout.section_at(point) {
            state.keyboard_zoom.set_value(false);
            state.zoom.set(Some(section));
        }
    };

    let currency = StoredValue::new(currency);
    view! {
        <div
            class="seat-map"
            data-testid="seat-map"
            data-state=move || match state.status.get() {
                LoadStatus::Loading => "loading",
                LoadStatus::Failed(_) => "failed",
                LoadStatus::Ready => "ready",
            }
            data-zoomed=move || state.zoom.get().is_some().to_string()
        >
            {move || match state.status.get() {
                LoadStatus::Loading => Some(view! { <Loading what="Loading the seat map…"/> }.into_any()),
                LoadStatus::Failed(failure) => Some(
                    view! { <ErrorPanel failure=failure on_retry=Callback::new(|_| browser::reload())/> }.into_any(),
                ),
                LoadStatus::Ready => None,
            }}
            <ZoomBar state=state currency=currency/>
            <div class="map-body">
                <div class="map-stage" node_ref=state.stage style:height=move || format!("{}px", state.size.get().1)>
                    <canvas
                        node_ref=state.canvas
                        data-testid="seat-map-canvas"
                        aria-hidden="true"
                        style:width=move || format!("{}px", state.size.get().0)
                        style:height=move || format!("{}px", state.size.get().1)
                        on:mousemove=on_canvas_move
                        on:mouseleave=move |_| state.tooltip.set(None)
                        on:click=on_canvas_click
                    ></canvas>
                    {move || state.zoom.get().map(|section| view! { <SeatGrid state=state section=section currency=currency/> })}
                    {move || state.tooltip.get().map(|tooltip| view! {
                        <div
                            class="map-tooltip"
                            class:below=tooltip.below
                            role="tooltip"
                            data-testid="map-tooltip"
                            style:left=format!("{}px", tooltip.x)
                            style:top=format!("{}px", tooltip.y)
                        >
                            {tooltip.lines.into_iter().map(|line| view! { <div>{line}</div> }).collect_view()}
                        </div>
                    })}
                </div>
                <aside class="map-side">
                    <Legend state=state currency=currency/>
                    {move || state.zoom.get().is_none().then(|| view! { <SectionList state=state currency=currency/> })}
                </aside>
            </div>
            {move || state.stale.get().then(|| view! {
                <p class="map-stale" role="status" data-testid="map-stale">
                    "Live seat updates are paused while we reconnect. Seats shown as free may already be taken."
                </p>
            })}
            <p class="sr-only" aria-live="polite" data-testid="map-announcement">{move || state.announcement.get()}</p>
        </div>
    }
}

/// Moves the keyboard focus to the element that `selector` finds, if any.
fn focus(selector: &str) {
    let element = leptos::prelude::document().query_selector(selector).ok().flatten();
    if let Some(element) = element.and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = element.focus();
    }
}

/// Returns the tooltip lines of a section on the overview.
fn section_lines(layout: &SeatLayout, state: MapState, section: usize) -> Vec<String> {
    let info = &layout.sections[section];
    let free = state.free.with_untracked(|free| free.get(section).copied().unwrap_or(0));
    let category = layout.categories.get(usize::from(info.category)).map(|c| c.key.clone()).unwrap_or_default();
    vec![
        info.name.clone(),
        category,
        format!("{} of {} seats free", format_count(u64::from(free)), format_count(u64::from(info.seat_total))),
    ]
}

/// Renders the bar above the map: the zoomed section's name with the way back, or a hint.
#[component]
fn ZoomBar(state: MapState, currency: StoredValue<String>) -> impl IntoView {
    move || {
        let layout = state.layout.get()?;
        Some(match state.zoom.get() {
            None => view! {
                <div class="map-toolbar">
                    <p class="hint" data-testid="map-hint">
                        "Pick a section on the map or in the list to see its seats."
                    </p>
                </div>
            }
            .into_any(),
            Some(section) => {
                let info = &layout.sections[section];
                let category = layout.categories.get(usize::from(info.category));
                let price = category
                    .and_then(|c| c.price_cents)
                    .map(|cents| format_price(cents, &currency.get_value()))
                    .unwrap_or_else(|| "not for sale".to_owned());
                let title =
                    format!("{} · {} · {}", info.name, category.map(|c| c.key.as_str()).unwrap_or_default(), price);
                view! {
                    <div class="map-toolbar">
                        <h3 data-testid="zoomed-section">{title}</h3>
                        <button
                            type="button"
                            class="button secondary"
                            data-testid="map-back"
                            on:click=move |event: MouseEvent| {
                                state.keyboard_zoom.set_value(event.detail() == 0);
                                state.zoom.set(None);
                            }
                        >
                            "Back to the whole venue"
                        </button>
                        <p class="hint">"Arrow keys move between seats, Enter or Space picks one, Escape goes back."</p>
                    </div>
                }
                .into_any()
            }
        })
    }
}

/// Renders the zoomed section's seats as buttons over the canvas, one group per row.
#[component]
fn SeatGrid(state: MapState, section: usize, currency: StoredValue<String>) -> impl IntoView {
    move || {
        let layout = state.layout.get()?;
        let (width, height) = state.size.get();
        let viewport = draw::section_viewport(&layout, section, width, height);
        let radius = draw::seat_radius(&layout, section, &viewport);
        let pitch = layout.sections[section].seat_pitch * viewport.scale;
        let hit = (2.0 * radius).max(14.0).min(pitch.max(2.0 * radius));

        let mut seat_free = HashMap::new();
        for seat in layout.section_seats(section) {
            seat_free.insert(seat, RwSignal::new(state.is_free(seat)));
        }
        state.seat_free.set_value(seat_free.clone());

        let info = &layout.sections[section];
        let rows = layout.rows[info.rows.clone()].to_vec();
        let rows_view = rows
            .into_iter()
            .map(|row| {
                let seats = row
                    .seats()
                    .map(|seat| {
                        let free = seat_free[&seat];
                        let (x, y) = viewport.to_screen(layout.position(seat));
                        seat_button(state, layout.clone(), seat, free, (x, y, hit, radius), currency)
                    })
                    .collect_view();
                view! {
                    <div class="seat-row" role="group" aria-label=format!("Row {}", row.number)>
                        {seats}
                    </div>
                }
            })
            .collect_view();
        Some(view! {
            <div class="seat-grid" data-testid="seat-grid" role="group" aria-label=format!("Seats in {}", info.name)>
                {rows_view}
            </div>
        })
    }
}

/// Renders one seat's button with its label, state and keyboard handling.
fn seat_button(
    state: MapState,
    layout: Arc<SeatLayout>,
    seat: u32,
    free: RwSignal<bool>,
    (x, y, hit, radius): (f64, f64, f64, f64),
    currency: StoredValue<String>,
) -> impl IntoView {
    // A memo, so that a pick change re-runs one cheap comparison per seat and rebuilds the
    // label and attributes only of the seats whose status changed.
    let status = Memo::new(move |_| {
        if state.pick.with(|pick| pick.contains(&seat)) {
            SeatStatus::Picked
        } else if free.get() {
            SeatStatus::Available
        } else {
            SeatStatus::Taken
        }
    });
    let status = move || status.get();

    let label = {
        let layout = layout.clone();
        move || {
            layout.seat_info(seat).map(|info| seat_label(&info, &currency.get_value(), status())).unwrap_or_default()
        }
    };

    // A snapshot for the tooltip, read without tracking, because event handlers build it.
    let tooltip_lines = {
        let layout = layout.clone();
        move || {
            let status = untrack(status);
            let Some(info) = layout.seat_info(seat) else { return Vec::new() };
            let price = info.price_cents.map(|cents| format_price(cents, &currency.get_value()));
            vec![
                info.section.to_owned(),
                format!("Row {}, seat {}", info.row, info.number),
                format!("{} · {}", info.category, price.unwrap_or_else(|| "not for sale".to_owned())),
                status.describe().to_owned(),
            ]
        }
    };
    let show_tooltip = {
        let tooltip_lines = tooltip_lines.clone();
        move || state.tooltip.set(Some(Tooltip::at(tooltip_lines(), x, y - radius - 6.0, y + radius + 6.0)))
    };
    let show_on_focus = show_tooltip.clone();
    let click_label = label.clone();

    let on_keydown = move |event: KeyboardEvent| {
        let key = event.key();
        if key == "Escape" {
            event.prevent_default();
            state.keyboard_zoom.set_value(true);
            state.zoom.set(None);
            return;
        }
        let Some(movement) = move_for_key(&key) else { return };
        event.prevent_default();
        if let Some(next) = next_seat(&layout, seat, movement) {
            state.focused.set(Some(next));
            focus(&format!("[data-testid=\"seat\"][data-seat=\"{next}\"]"));
        }
    };

    view! {
        <button
            type="button"
            class="seat-hit"
            data-testid="seat"
            data-seat=seat.to_string()
            data-status=move || match status() {
                SeatStatus::Available => "available",
                SeatStatus::Picked => "picked",
                SeatStatus::Taken => "taken",
            }
            aria-label=label
            aria-pressed=move || state.pickable.then(|| (status() == SeatStatus::Picked).to_string())
            aria-disabled=move || (status() == SeatStatus::Taken).to_string()
            tabindex=move || if state.focused.get() == Some(seat) { "0" } else { "-1" }
            style:left=format!("{}px", x - hit / 2.0)
            style:top=format!("{}px", y - hit / 2.0)
            style:width=format!("{hit}px")
            style:height=format!("{hit}px")
            on:click=move |_| state.toggle(seat, click_label())
            on:keydown=on_keydown
            on:mouseenter=move |_| show_tooltip()
            on:mouseleave=move |_| state.tooltip.set(None)
            on:focus=move |_| {
                state.focused.set(Some(seat));
                show_on_focus();
            }
            on:blur=move |_| state.tooltip.set(None)
        ></button>
    }
}

/// Renders the venue's sections as a list of buttons with their free seats.
#[component]
fn SectionList(state: MapState, currency: StoredValue<String>) -> impl IntoView {
    move || {
        let layout = state.layout.get()?;
        let items = layout
            .sections
            .iter()
            .enumerate()
            .map(|(index, section)| {
                let category = layout.categories.get(usize::from(section.category)).cloned();
                let color = category.as_ref().map(|c| c.color).unwrap_or(Rgb::GREY);
                let category_name = category.as_ref().map(|c| c.key.clone()).unwrap_or_default();
                let price = category
                    .and_then(|c| c.price_cents)
                    .map(|cents| format_price(cents, &currency.get_value()))
                    .unwrap_or_else(|| "not for sale".to_owned());
                let (name, total) = (section.name.clone(), section.seat_total);
                let free = move || state.free.with(|free| free.get(index).copied().unwrap_or(0));
                let label = {
                    let name = name.clone();
                    move || {
                        format!(
                            "{name}, {category_name}, {price}, {} of {} seats free",
                            format_count(u64::from(free())),
                            format_count(u64::from(total))
                        )
                    }
                };
                view! {
                    <li>
                        <button
                            type="button"
                            class="section-button"
                            data-testid="section-button"
                            data-section=name.clone()
                            data-section-index=index.to_string()
                            aria-label=label
                            on:click=move |event: MouseEvent| {
                                state.keyboard_zoom.set_value(event.detail() == 0);
                                state.zoom.set(Some(index));
                            }
                        >
                            <span class="swatch" style:background=move || section_fill(color, free(), total).css()></span>
                            <span class="section-name">{name.clone()}</span>
                            <span class="section-free">{move || format!("{} free", format_count(u64::from(free())))}</span>
                        </button>
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <h3 class="side-title">"Sections"</h3>
            <ul class="section-list" data-testid="section-list">{items}</ul>
        })
    }
}

/// Renders the category colours and prices, and the two seat states that are not categories.
#[component]
fn Legend(state: MapState, currency: StoredValue<String>) -> impl IntoView {
    move || {
        let layout = state.layout.get()?;
        let categories = layout
            .categories
            .iter()
            .filter(|category| category.price_cents.is_some())
            .map(|category| {
                let price = format_price(category.price_cents.unwrap_or_default(), &currency.get_value());
                view! {
                    <li data-testid="legend-category">
                        <span class="swatch" style:background=category.color.css()></span>
                        {format!("{} · {}", category.key, price)}
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <ul class="legend" data-testid="map-legend">
                {categories}
                <li><span class="swatch" style:background=TAKEN.css()></span>"Taken"</li>
                <li><span class="swatch" style:background=PICKED.css()></span>"Your pick"</li>
            </ul>
        })
    }
}
