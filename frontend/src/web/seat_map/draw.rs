//! Canvas drawing of the seat map: the whole venue by section, or one section seat by seat.
//! Every function can redraw a single section or seat in place, so that an availability change
//! repaints only what changed.

use std::f64::consts::TAU;

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use crate::seatmap::availability::{BACKGROUND, PICKED, TAKEN, section_fill};
use crate::seatmap::geometry::Viewport;
use crate::seatmap::layout::{Rgb, SeatLayout};

/// Empty space around the drawing, in CSS pixels.
pub const PADDING: f64 = 16.0;

/// Sizes the canvas for `width` × `height` CSS pixels at the screen's pixel density and
/// returns its 2D context, scaled so that drawing code works in CSS pixels.
pub fn prepare(canvas: &HtmlCanvasElement, width: f64, height: f64) -> Option<CanvasRenderingContext2d> {
    let ratio = leptos::prelude::window().device_pixel_ratio().max(1.0);
    let (pixel_width, pixel_height) = ((width * ratio).round() as u32, (height * ratio).round() as u32);
    if canvas.width() != pixel_width || canvas.height() != pixel_height {
        canvas.set_width(pixel_width);
        canvas.set_height(pixel_height);
    }
    let context = canvas.get_context("2d").ok().flatten()?.dyn_into::<CanvasRenderingContext2d>().ok()?;
    context.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0).ok()?;
    Some(context)
}

/// Returns the viewport of the whole venue.
pub fn overview_viewport(layout: &SeatLayout, width: f64, height: f64) -> Viewport {
    Viewport::fit(layout.bounds, width, height, PADDING)
}

/// Returns the viewport of one section, with a seat's width of margin.
pub fn section_viewport(layout: &SeatLayout, section: usize, width: f64, height: f64) -> Viewport {
    let section = &layout.sections[section];
    Viewport::fit(section.bounds.expanded(section.seat_pitch), width, height, PADDING)
}

/// Radius of a seat on the zoomed section, in CSS pixels.
pub fn seat_radius(layout: &SeatLayout, section: usize, viewport: &Viewport) -> f64 {
    (layout.sections[section].seat_pitch * viewport.scale * 0.42).clamp(2.5, 18.0)
}

fn clear(context: &CanvasRenderingContext2d, width: f64, height: f64) {
    context.set_fill_style_str(&BACKGROUND.css());
    context.fill_rect(0.0, 0.0, width, height);
}

/// Draws the venue: each section as its outline with its number, coloured by its category and
/// faded by how many of its seats are taken. The fan's picked seats are drawn as dots on top.
pub fn draw_overview(
    context: &CanvasRenderingContext2d,
    layout: &SeatLayout,
    viewport: &Viewport,
    size: (f64, f64),
    free: &[u32],
    pick: &[u32],
) {
    clear(context, size.0, size.1);
    for section in 0..layout.sections.len() {
        draw_overview_section(context, layout, viewport, section, free.get(section).copied().unwrap_or(0), pick);
    }
}

/// Draws one section of the overview over whatever was there.
pub fn draw_overview_section(
    context: &CanvasRenderingContext2d,
    layout: &SeatLayout,
    viewport: &Viewport,
    section_index: usize,
    free: u32,
    pick: &[u32],
) {
    let section = &layout.sections[section_index];
    let category = layout.categories.get(usize::from(section.category)).map(|style| style.color).unwrap_or(Rgb::GREY);
    let color = section_fill(category, free, section.seat_total).css();
    if section.outline.is_empty() {
        return;
    }
    context.begin_path();
    for (i, point) in section.outline.iter().enumerate() {
        let (x, y) = viewport.to_screen(*point);
        if i == 0 {
            context.move_to(x, y);
        } else {
            context.line_to(x, y);
        }
    }
    context.close_path();
    // The outline runs through the outer seats' centres. A stroke one seat wide in the same
    // colour covers the seats' full extent and gives a single row a visible width.
    context.set_fill_style_str(&color);
    context.set_stroke_style_str(&color);
    context.set_line_join("round");
    context.set_line_width((section.seat_pitch * viewport.scale).max(2.0));
    context.fill();
    context.stroke();

    let (label_x, label_y) = viewport.to_screen(section.label_at);
    let extent = section.bounds.width().max(section.bounds.height()) * viewport.scale;
    if extent >= 16.0 {
        context.set_fill_style_str(if free == 0 { "#5b6270" } else { "#ffffff" });
        context.set_font("600 10px system-ui, sans-serif");
        context.set_text_align("center");
        context.set_text_baseline("middle");
        let _ = context.fill_text(&section.label, label_x, label_y);
    }

    for seat in pick.iter().filter(|seat| layout.section_of(**seat) == Some(section_index)) {
        let (x, y) = viewport.to_screen(layout.position(*seat));
        dot(context, x, y, 2.5, PICKED);
    }
}

fn dot(context: &CanvasRenderingContext2d, x: f64, y: f64, radius: f64, color: Rgb) {
    context.begin_path();
    let _ = context.arc(x, y, radius, 0.0, TAU);
    context.set_fill_style_str(&color.css());
    context.fill();
}

/// The look of a seat on the zoomed section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatLook {
    Free,
    Taken,
    Picked,
}

/// Draws one section seat by seat.
pub fn draw_section(
    context: &CanvasRenderingContext2d,
    layout: &SeatLayout,
    section: usize,
    viewport: &Viewport,
    size: (f64, f64),
    look: impl Fn(u32) -> SeatLook,
) {
    clear(context, size.0, size.1);
    let radius = seat_radius(layout, section, viewport);
    for seat in layout.section_seats(section) {
        draw_seat(context, layout, viewport, radius, seat, look(seat));
    }
}

/// Draws one seat of the zoomed section over whatever was there.
pub fn draw_seat(
    context: &CanvasRenderingContext2d,
    layout: &SeatLayout,
    viewport: &Viewport,
    radius: f64,
    seat: u32,
    look: SeatLook,
) {
    let (x, y) = viewport.to_screen(layout.position(seat));
    // Paint the background first so that a seat turning grey leaves no coloured rim.
    dot(context, x, y, radius + 1.5, BACKGROUND);
    match look {
        SeatLook::Free => {
            let color = layout.categories.get(usize::from(layout.seat_category(seat))).map(|c| c.color);
            dot(context, x, y, radius, color.unwrap_or(Rgb::GREY));
        }
        SeatLook::Taken => dot(context, x, y, radius * 0.8, TAKEN),
        SeatLook::Picked => {
            dot(context, x, y, radius, PICKED);
            dot(context, x, y, radius * 0.4, Rgb(0xff, 0xff, 0xff));
        }
    }
}
