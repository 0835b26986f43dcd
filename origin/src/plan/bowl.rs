//! Geometry of a stadium bowl: the inner edge is a rounded rectangle, and every row of a tier
//! follows a curve parallel to it. The stadium generator places sections and seats on it.

use std::f64::consts::PI;

/// The inner edge of the bowl, a rounded rectangle centred on the origin (y grows downwards),
/// and the curves parallel to it at a depth `d` behind it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Track {
    pub half_width: f64,
    pub half_height: f64,
    pub corner: f64,
}

/// Part of the loop that a point lies on, which decides the category of its section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// Along a long side of the field.
    Sideline,
    /// Along a short side.
    End,
    Corner,
}

impl Track {
    /// Returns the lengths of the loop's nine pieces at depth `d`, from the middle of the east end
    /// and going clockwise on the drawing (east, south, west, north).
    pub fn pieces(&self, d: f64) -> [(f64, Side); 9] {
        let long = 2.0 * (self.half_width - self.corner);
        let short = 2.0 * (self.half_height - self.corner);
        let arc = PI / 2.0 * (self.corner + d);
        [
            (short / 2.0, Side::End),
            (arc, Side::Corner),
            (long, Side::Sideline),
            (arc, Side::Corner),
            (short, Side::End),
            (arc, Side::Corner),
            (long, Side::Sideline),
            (arc, Side::Corner),
            (short / 2.0, Side::End),
        ]
    }

    pub fn perimeter(&self, d: f64) -> f64 {
        self.pieces(d).iter().map(|(length, _)| length).sum()
    }

    /// Returns the point at loop fraction `u` (0..1) and depth `d`. `u` is spread over the
    /// pieces in proportion to their lengths at depth `reference`. With one reference per tier, a
    /// section keeps its `u` span from front row to back row and so stays a radial wedge.
    pub fn point(&self, u: f64, d: f64, reference: f64) -> (f64, f64, Side) {
        let pieces = self.pieces(reference);
        let total: f64 = pieces.iter().map(|(length, _)| length).sum();
        let mut along = u.rem_euclid(1.0) * total;
        let (a, b, r) = (self.half_width, self.half_height, self.corner);
        let (cx, cy) = (a - r, b - r);
        for (i, (length, side)) in pieces.iter().enumerate() {
            if along > *length && i < pieces.len() - 1 {
                along -= length;
                continue;
            }
            let t = if *length > 0.0 { (along / length).clamp(0.0, 1.0) } else { 0.0 };
            let quarter = |center_x: f64, center_y: f64, start: f64| {
                let angle = start + t * PI / 2.0;
                (center_x + (r + d) * angle.cos(), center_y + (r + d) * angle.sin(), *side)
            };
            return match i {
                0 => (a + d, t * cy, *side),
                1 => quarter(cx, cy, 0.0),
                2 => (cx - t * 2.0 * cx, b + d, *side),
                3 => quarter(-cx, cy, PI / 2.0),
                4 => (-a - d, cy - t * 2.0 * cy, *side),
                5 => quarter(-cx, -cy, PI),
                6 => (-cx + t * 2.0 * cx, -b - d, *side),
                7 => quarter(cx, -cy, 1.5 * PI),
                _ => (a + d, -cy + t * cy, *side),
            };
        }
        (a + d, 0.0, Side::End)
    }
}
