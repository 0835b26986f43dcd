//! Plane geometry for the seat map: bounding boxes, convex hulls, point-in-polygon tests and
//! the viewport that maps plan coordinates to canvas pixels.

/// A point in plan coordinates (the seating plan's own units) or in CSS pixels.
pub type Point = (f64, f64);

/// An axis-aligned bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Bounds {
    /// A box that contains nothing; [`Bounds::include`] grows it.
    pub const EMPTY: Bounds =
        Bounds { min_x: f64::INFINITY, min_y: f64::INFINITY, max_x: f64::NEG_INFINITY, max_y: f64::NEG_INFINITY };

    pub fn include(&mut self, (x, y): Point) {
        self.min_x = self.min_x.min(x);
        self.min_y = self.min_y.min(y);
        self.max_x = self.max_x.max(x);
        self.max_y = self.max_y.max(y);
    }

    pub fn is_empty(&self) -> bool {
        self.min_x > self.max_x || self.min_y > self.max_y
    }

    pub fn width(&self) -> f64 {
        (self.max_x - self.min_x).max(0.0)
    }

    pub fn height(&self) -> f64 {
        (self.max_y - self.min_y).max(0.0)
    }

    pub fn center(&self) -> Point {
        ((self.min_x + self.max_x) / 2.0, (self.min_y + self.max_y) / 2.0)
    }

    /// Returns the box grown by `margin` on every side.
    pub fn expanded(&self, margin: f64) -> Bounds {
        Bounds {
            min_x: self.min_x - margin,
            min_y: self.min_y - margin,
            max_x: self.max_x + margin,
            max_y: self.max_y + margin,
        }
    }
}

/// Computes the convex hull of `points` counter-clockwise (Andrew's monotone chain), without
/// repeating the first point. Fewer than three distinct points come back as they are, sorted.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<Point> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sorted.dedup();
    if sorted.len() < 3 {
        return sorted;
    }
    let cross = |o: Point, a: Point, b: Point| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let chain = |points: &mut dyn Iterator<Item = Point>| {
        let mut chain: Vec<Point> = Vec::new();
        for point in points {
            while chain.len() >= 2 && cross(chain[chain.len() - 2], chain[chain.len() - 1], point) <= 0.0 {
                chain.pop();
            }
            chain.push(point);
        }
        // The last point of each chain is the first point of the other one.
        chain.pop();
        chain
    };
    let mut hull = chain(&mut sorted.iter().copied());
    hull.extend(chain(&mut sorted.iter().rev().copied()));
    hull
}

/// Returns whether `point` lies inside `polygon` (even-odd rule). Points on an edge may go either way.
pub fn point_in_polygon(point: Point, polygon: &[Point]) -> bool {
    let (px, py) = point;
    let mut inside = false;
    let mut j = polygon.len().wrapping_sub(1);
    for i in 0..polygon.len() {
        let (xi, yi) = polygon[i];
        let (xj, yj) = polygon[j];
        if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Distance from `point` to the closest edge of `polygon`, or to its only point or segment.
pub fn distance_to_polygon(point: Point, polygon: &[Point]) -> f64 {
    match polygon.len() {
        0 => f64::INFINITY,
        1 => distance(point, polygon[0]),
        n => (0..n).map(|i| distance_to_segment(point, polygon[i], polygon[(i + 1) % n])).fold(f64::INFINITY, f64::min),
    }
}

pub fn distance(a: Point, b: Point) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

fn distance_to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length_squared = dx * dx + dy * dy;
    if length_squared == 0.0 {
        return distance(p, a);
    }
    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length_squared).clamp(0.0, 1.0);
    distance(p, (a.0 + t * dx, a.1 + t * dy))
}

/// Returns the centroid of a polygon's area, or the mean of its points when the area is zero.
pub fn polygon_centroid(polygon: &[Point]) -> Option<Point> {
    if polygon.is_empty() {
        return None;
    }
    let mut area = 0.0;
    let (mut cx, mut cy) = (0.0, 0.0);
    for i in 0..polygon.len() {
        let (x0, y0) = polygon[i];
        let (x1, y1) = polygon[(i + 1) % polygon.len()];
        let cross = x0 * y1 - x1 * y0;
        area += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    if area.abs() < f64::EPSILON {
        let n = polygon.len() as f64;
        let (sx, sy) = polygon.iter().fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
        return Some((sx / n, sy / n));
    }
    Some((cx / (3.0 * area), cy / (3.0 * area)))
}

/// A uniform scale and offset from plan coordinates to CSS pixels on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub scale: f64,
    pub offset_x: f64,
    pub offset_y: f64,
}

impl Viewport {
    /// Fits `bounds` into a `width` × `height` pixel area with `padding` pixels on each side,
    /// centred and keeping the aspect ratio.
    pub fn fit(bounds: Bounds, width: f64, height: f64, padding: f64) -> Viewport {
        let usable_w = (width - 2.0 * padding).max(1.0);
        let usable_h = (height - 2.0 * padding).max(1.0);
        let scale = if bounds.is_empty() {
            1.0
        } else {
            let sx = usable_w / bounds.width().max(1e-9);
            let sy = usable_h / bounds.height().max(1e-9);
            sx.min(sy)
        };
        let (cx, cy) = if bounds.is_empty() { (0.0, 0.0) } else { bounds.center() };
        Viewport { scale, offset_x: width / 2.0 - cx * scale, offset_y: height / 2.0 - cy * scale }
    }

    pub fn to_screen(&self, (x, y): Point) -> Point {
        (x * self.scale + self.offset_x, y * self.scale + self.offset_y)
    }

    pub fn to_plan(&self, (x, y): Point) -> Point {
        ((x - self.offset_x) / self.scale, (y - self.offset_y) / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_drops_inner_points() {
        let points = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (1.0, 1.0), (1.0, 0.0)];
        let hull = convex_hull(&points);
        assert_eq!(hull.len(), 4);
        assert!(!hull.contains(&(1.0, 1.0)));
        assert!(!hull.contains(&(1.0, 0.0)), "collinear edge points are dropped");
    }

    #[test]
    fn hull_of_a_line_keeps_its_points() {
        assert_eq!(convex_hull(&[(1.0, 0.0), (0.0, 0.0)]), vec![(0.0, 0.0), (1.0, 0.0)]);
        assert!(convex_hull(&[]).is_empty());
    }

    #[test]
    fn polygon_contains_inner_points() {
        let square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)];
        assert!(point_in_polygon((1.0, 1.0), &square));
        assert!(!point_in_polygon((3.0, 1.0), &square));
        assert!(!point_in_polygon((1.0, -0.1), &square));
        assert_eq!(distance_to_polygon((3.0, 1.0), &square), 1.0);
        assert_eq!(polygon_centroid(&square), Some((1.0, 1.0)));
    }

    #[test]
    fn viewport_round_trips_and_centres() {
        let bounds = Bounds { min_x: 100.0, min_y: 0.0, max_x: 300.0, max_y: 100.0 };
        let view = Viewport::fit(bounds, 400.0, 400.0, 0.0);
        assert_eq!(view.scale, 2.0);
        assert_eq!(view.to_screen((100.0, 0.0)), (0.0, 100.0));
        assert_eq!(view.to_screen((300.0, 100.0)), (400.0, 300.0));
        let back = view.to_plan(view.to_screen((123.0, 45.0)));
        assert!((back.0 - 123.0).abs() < 1e-9, "x after a round trip: {}", back.0);
        assert!((back.1 - 45.0).abs() < 1e-9, "y after a round trip: {}", back.1);
    }

    #[test]
    fn empty_bounds_fit_without_dividing_by_zero() {
        let view = Viewport::fit(Bounds::EMPTY, 100.0, 100.0, 10.0);
        assert!(view.scale.is_finite());
        let point = Bounds { min_x: 5.0, min_y: 5.0, max_x: 5.0, max_y: 5.0 };
        assert!(Viewport::fit(point, 100.0, 100.0, 10.0).scale.is_finite());
    }
}
