//! The seat map's state and the operations on it: loading, polling the availability bitmap,
//! applying a change to the canvas and the seat buttons, and picking.
//!
//! Every field of [`MapState`] is a reactive handle, so the struct is `Copy` and each event
//! handler takes its own copy.

use std::collections::HashMap;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;

use onsale_shared::{EventId, SeatBitmap, SeatIndex};

use super::draw::{self, SeatLook};
use crate::failure::Failure;
use crate::seatmap::availability::{changed_seats, is_free, section_free_counts, touched_sections};
use crate::seatmap::geometry::Viewport;
use crate::seatmap::layout::SeatLayout;
use crate::seatmap::toggle_pick;
use crate::web::api::{self, BitmapPoll};
use crate::web::browser::{self, count_metric, perf_now, set_metric};

/// How often the bitmap is polled, in milliseconds. The origin and the CDN cache it for one
/// second, so polling faster would only return the same bytes.
const POLL_INTERVAL_MS: i32 = 1_000;

/// Failed polls in a row after which the map shows that it is no longer live.
const STALE_AFTER_FAILURES: u32 = 3;

/// Lowest and highest canvas height in CSS pixels.
const MIN_HEIGHT: f64 = 280.0;
const MAX_HEIGHT: f64 = 640.0;

#[derive(Debug, Clone, PartialEq)]
pub enum LoadStatus {
    Loading,
    Failed(Failure),
    Ready,
}

/// The availability the map shows.
pub struct Live {
    pub bitmap: SeatBitmap,
    /// Entity tag of `bitmap`, sent as `If-None-Match` on the next poll.
    pub etag: Option<String>,
}

/// A tooltip at a position inside the map stage, in CSS pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Tooltip {
    pub lines: Vec<String>,
    pub x: f64,
    pub y: f64,
    /// Whether the tooltip hangs below `y`, near the top edge where there is no room above.
    pub below: bool,
}

impl Tooltip {
    /// Height in CSS pixels above which a tooltip fits over its anchor.
    const ROOM_ABOVE: f64 = 90.0;

    /// Places a tooltip over the point (`x`, `top`), or under (`x`, `bottom`) when it would not fit.
    pub fn at(lines: Vec<String>, x: f64, top: f64, bottom: f64) -> Tooltip {
        if top < Self::ROOM_ABOVE {
            Tooltip { lines, x, y: bottom, below: true }
        } else {
            Tooltip { lines, x, y: top, below: false }
        }
    }
}

#[derive(Clone, Copy)]
pub struct MapState {
    pub event: EventId,
    pub pickable: bool,
    pub max_seats: u32,
    pub canvas: NodeRef<html::Canvas>,
    pub stage: NodeRef<html::Div>,
    pub layout: RwSignal<Option<Arc<SeatLayout>>>,
    pub live: StoredValue<Option<Live>>,
    pub status: RwSignal<LoadStatus>,
    /// Set after several failed polls in a row: the map may be out of date.
    pub stale: RwSignal<bool>,
    /// Free seats per section, for the section list.
    pub free: RwSignal<Vec<u32>>,
    /// The zoomed section, or `None` for the whole venue.
    pub zoom: RwSignal<Option<usize>>,
    /// Canvas size in CSS pixels.
    pub size: RwSignal<(f64, f64)>,
    pub pick: RwSignal<Vec<u32>>,
    /// The picked seats as last drawn, so a pick change repaints only the difference.
    pub drawn_pick: StoredValue<Vec<u32>>,
    /// Whether each seat of the zoomed section is free, for its button's label.
    pub seat_free: StoredValue<HashMap<u32, RwSignal<bool>>>,
    /// The seat button that has the keyboard focus (roving tabindex).
    pub focused: RwSignal<Option<u32>>,
    pub tooltip: RwSignal<Option<Tooltip>>,
    /// Text for the screen-reader live region.
    pub announcement: RwSignal<String>,
    pub notice: Option<RwSignal<Option<String>>>,
    /// Whether the last zoom came from the keyboard, which then moves the focus along.
    pub keyboard_zoom: StoredValue<bool>,
}

impl MapState {
    /// Loads the seat map and the bitmap together, draws the venue, then polls the bitmap
    /// until the component goes away (the task is cancelled with it).
    pub async fn run(self) {
        let started = perf_now();
        let (map, first_poll) = futures::join!(api::seat_map(self.event), api::availability(self.event, None));
        let map = match map {
            Ok(map) => map,
            Err(failure) => {
                self.status.set(LoadStatus::Failed(failure));
                return;
            }
        };
        let layout = SeatLayout::new(map);
        let (bitmap, etag) = match first_poll {
            Ok(BitmapPoll::Changed { bytes, etag, seat_count }) => (read_bitmap(&layout, seat_count, &bytes), etag),
            _ => (SeatBitmap::all_free(layout.len() as u32), None),
        };
        set_metric("mapLoadMs", perf_now() - started);
        set_metric("seatCount", f64::from(layout.seat_count));
        self.free.set(section_free_counts(&layout, &bitmap));
        self.live.set_value(Some(Live { bitmap, etag }));
        self.layout.set(Some(Arc::new(layout)));
        self.status.set(LoadStatus::Ready);

        self.measure();
        let draw_started = perf_now();
        self.redraw();
        let done = perf_now();
        set_metric("mapDrawMs", done - draw_started);
        set_metric("mapRenderMs", done - started);

        self.poll().await;
    }

    async fn poll(self) {
        let mut failures = 0u32;
        loop {
            browser::sleep(POLL_INTERVAL_MS).await;
            if browser::page_hidden() {
                continue;
            }
            let etag = self.live.with_value(|live| live.as_ref().and_then(|live| live.etag.clone()));
            count_metric("bitmapRequests");
            match api::availability(self.event, etag.as_deref()).await {
                Ok(BitmapPoll::NotModified) => {
                    count_metric("bitmapNotModified");
                    failures = 0;
                }
                Ok(BitmapPoll::Changed { bytes, etag, seat_count }) => {
                    let received = perf_now();
                    failures = 0;
                    self.apply_bitmap(&bytes, seat_count, etag, received);
                }
                Err(_) => failures += 1,
            }
            self.stale.set(failures >= STALE_AFTER_FAILURES);
        }
    }

    /// Replaces the bitmap and repaints only the seats, or on the overview the sections, whose
    /// bits changed. Records the time from `received` to the end of the repaint.
    fn apply_bitmap(self, bytes: &[u8], seat_count: Option<u32>, etag: Option<String>, received: f64) {
        let Some(layout) = self.layout.get_untracked() else {
            return;
        };
        let bitmap = read_bitmap(&layout, seat_count, bytes);
        let changed = self
            .live
            .with_value(|live| live.as_ref().map(|live| changed_seats(&live.bitmap, &bitmap)))
            .unwrap_or_default();
        self.live.set_value(Some(Live { bitmap, etag }));
        count_metric("bitmapChanges");
        self.show_changes(&layout, &changed);
        set_metric("lastBitmapChangedSeats", changed.len() as f64);
        set_metric("lastBitmapRedrawMs", perf_now() - received);
    }

    /// Marks seats that the server reported taken, before the next poll shows them.
    pub fn mark_taken(self, seats: &[u32]) {
        let Some(layout) = self.layout.get_untracked() else {
            return;
        };
        let changed: Vec<u32> = self
            .live
            .try_update_value(|live| {
                let live = live.as_mut()?;
                let mut changed = Vec::new();
                for seat in seats {
                    if let Ok(index) = SeatIndex::new(*seat)
                        && !live.bitmap.is_unavailable(index)
                    {
                        live.bitmap.set_unavailable(index, true);
                        changed.push(*seat);
                    }
                }
                Some(changed)
            })
            .flatten()
            .unwrap_or_default();
        self.show_changes(&layout, &changed);
    }

    /// Updates the section counts, the seat buttons, the pick and the canvas for `changed`.
    fn show_changes(self, layout: &SeatLayout, changed: &[u32]) {
        if changed.is_empty() {
            return;
        }
        let sections = touched_sections(layout, changed);
        self.live.with_value(|live| {
            let Some(live) = live else { return };
            self.free.update(|free| {
                for section in &sections {
                    let count =
                        layout.section_seats(*section).filter(|seat| is_free(layout, &live.bitmap, *seat)).count();
                    if let Some(slot) = free.get_mut(*section) {
                        *slot = count as u32;
                    }
                }
            });
            self.seat_free.with_value(|seat_free| {
                for seat in changed {
                    if let Some(signal) = seat_free.get(seat) {
                        signal.try_set(is_free(layout, &live.bitmap, *seat));
                    }
                }
            });
        });

        let lost: Vec<u32> = self
            .pick
            .get_untracked()
            .into_iter()
            .filter(|seat| changed.contains(seat) && !self.is_free(*seat))
            .collect();
        if !lost.is_empty() {
            self.pick.update(|pick| pick.retain(|seat| !lost.contains(seat)));
            let message = if lost.len() == 1 {
                "A seat you picked was just taken by someone else, so it was removed from your pick.".to_owned()
            } else {
                format!(
                    "{} seats you picked were just taken by someone else, so they were removed from your pick.",
                    lost.len()
                )
            };
            self.warn(message);
        }

        self.repaint(layout, changed, &sections);
    }

    /// Repaints `seats` on the zoomed section, or `sections` on the overview.
    fn repaint(self, layout: &SeatLayout, seats: &[u32], sections: &[usize]) {
        let Some(context) = self.context() else { return };
        let size = self.size.get_untracked();
        match self.zoom.get_untracked() {
            Some(zoomed) => {
                let viewport = draw::section_viewport(layout, zoomed, size.0, size.1);
                let radius = draw::seat_radius(layout, zoomed, &viewport);
                for seat in seats.iter().filter(|seat| layout.section_of(**seat) == Some(zoomed)) {
                    draw::draw_seat(&context, layout, &viewport, radius, *seat, self.look(*seat));
                }
            }
            None => {
                let viewport = draw::overview_viewport(layout, size.0, size.1);
                let free = self.free.get_untracked();
                let pick = self.pick.get_untracked();
                for section in sections {
                    let count = free.get(*section).copied().unwrap_or(0);
                    draw::draw_overview_section(&context, layout, &viewport, *section, count, &pick);
                }
            }
        }
    }

    /// Repaints the seats whose picked state changed since the last paint.
    pub fn repaint_pick(self) {
        let Some(layout) = self.layout.get_untracked() else { return };
        let pick = self.pick.get_untracked();
        let before = self.drawn_pick.get_value();
        let changed: Vec<u32> = pick
            .iter()
            .chain(before.iter())
            .copied()
            .filter(|seat| pick.contains(seat) != before.contains(seat))
            .collect();
        self.drawn_pick.set_value(pick);
        let sections = touched_sections(&layout, &changed);
        self.repaint(&layout, &changed, &sections);
    }

    /// Draws the whole canvas for the current mode.
    pub fn redraw(self) {
        let Some(layout) = self.layout.get_untracked() else { return };
        let Some(context) = self.context() else { return };
        let size = self.size.get_untracked();
        self.drawn_pick.set_value(self.pick.get_untracked());
        match self.zoom.get_untracked() {
            Some(section) => {
                let viewport = draw::section_viewport(&layout, section, size.0, size.1);
                draw::draw_section(&context, &layout, section, &viewport, size, |seat| self.look(seat));
            }
            None => {
                let viewport = draw::overview_viewport(&layout, size.0, size.1);
                draw::draw_overview(
                    &context,
                    &layout,
                    &viewport,
                    size,
                    &self.free.get_untracked(),
                    &self.pick.get_untracked(),
                );
            }
        }
    }

    /// Sizes the canvas to the width of its stage, keeping the venue's aspect ratio.
    pub fn measure(self) {
        let Some(layout) = self.layout.get_untracked() else { return };
        let width = self.stage.get_untracked().map(|stage| f64::from(stage.client_width())).filter(|w| *w > 0.0);
        let width = width.unwrap_or(800.0);
        let aspect = if layout.bounds.width() > 0.0 { layout.bounds.height() / layout.bounds.width() } else { 0.75 };
        let height = (width * aspect).clamp(MIN_HEIGHT, MAX_HEIGHT);
        self.size.set((width, height));
    }

    fn context(self) -> Option<web_sys::CanvasRenderingContext2d> {
        let canvas = self.canvas.get_untracked()?;
        let (width, height) = self.size.get_untracked();
        draw::prepare(&canvas, width, height)
    }

    /// Returns the viewport of the current mode.
    pub fn viewport(self) -> Option<Viewport> {
        let layout = self.layout.get_untracked()?;
        let (width, height) = self.size.get_untracked();
        Some(match self.zoom.get_untracked() {
            Some(section) => draw::section_viewport(&layout, section, width, height),
            None => draw::overview_viewport(&layout, width, height),
        })
    }

    pub fn is_free(self, seat: u32) -> bool {
        let Some(layout) = self.layout.get_untracked() else { return false };
        self.live.with_value(|live| live.as_ref().is_some_and(|live| is_free(&layout, &live.bitmap, seat)))
    }

    fn look(self, seat: u32) -> SeatLook {
        if self.pick.with_untracked(|pick| pick.contains(&seat)) {
            SeatLook::Picked
        } else if self.is_free(seat) {
            SeatLook::Free
        } else {
            SeatLook::Taken
        }
    }

    /// Adds a seat to the pick or removes it, and explains why when it cannot.
    pub fn toggle(self, seat: u32, label: String) {
        if !self.pickable {
            self.warn("Join the queue to pick seats. This map shows which seats are still free.".to_owned());
            return;
        }
        let current = self.pick.get_untracked();
        match toggle_pick(&current, seat, self.is_free(seat), self.max_seats) {
            Ok(next) => {
                let added = next.len() > current.len();
                self.pick.set(next);
                self.announce(if added { format!("Added: {label}") } else { format!("Removed: {label}") });
            }
            Err(error) => self.warn(error.message()),
        }
    }

    /// Says something to screen readers through the live region.
    pub fn announce(self, message: String) {
        self.announcement.set(message);
    }

    /// Says something that every fan should see: to screen readers, and on the page's notice.
    pub fn warn(self, message: String) {
        if let Some(notice) = self.notice {
            notice.set(Some(message.clone()));
        }
        self.announce(message);
    }
}

/// Reads a bitmap body for the layout's seats. A body longer than the layout expects (the plan
/// grew) is cut to fit, so the map keeps working, and the extra seats are not shown.
fn read_bitmap(layout: &SeatLayout, seat_count: Option<u32>, bytes: &[u8]) -> SeatBitmap {
    let seats = seat_count.unwrap_or(0).max(layout.len() as u32);
    let expected = SeatBitmap::byte_len(seats);
    let bytes = if bytes.len() > expected { &bytes[..expected] } else { bytes };
    SeatBitmap::from_bytes(seats, bytes).unwrap_or_else(|_| SeatBitmap::all_free(seats))
}
