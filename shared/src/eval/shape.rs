//! Shape from geometry, read so that it survives what generators do to shapes (blurred and
//! ragged edges, rounded corners), not only clean renders:
//! - the width of the upper part: an upright triangle is at most ~45% as wide there as its
//!   base, while a star's arms, a circle and a square span the whole box (edges do not change
//!   that, where they do change a triangle's solidity);
//! - how full the box's corners are: a square's, even rounded, are mostly full, a circle's
//!   about a quarter (extent alone confuses rounded squares with circles);
//! - solidity (area / convex-hull area): the star's notches make it ~0.6, every other shape ~1;
//! - extent (area / box area) and bottom-heaviness (an upright triangle has 3/4 of its area in
//!   the lower half) as checks.

use crate::world::{BBox, Shape};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Features {
    pub bbox: BBox,
    pub area: usize,
    pub extent: f32,
    pub solidity: f32,
    /// Pixels in the lower half of the box over pixels in the upper half.
    pub bottom_heavy: f32,
    /// The widest row span in the upper 45% of the box, over the box's width.
    pub top_width: f32,
    /// Share of the four corner boxes (a quarter of the width and height each) that is filled.
    pub corner_fill: f32,
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
        let (w, h) = (x1 - x0, y1 - y0);
        Features {
            bbox,
            area,
            extent: area as f32 / (w * h) as f32,
            solidity: area as f32 / hull_area(pixels, y0, y1),
            bottom_heavy: lower as f32 / upper.max(1) as f32,
            top_width: top_width(pixels, x0, y0, w, h),
            corner_fill: corner_fill(pixels, x0, y0, w, h),
        }
    }
}

fn top_width(pixels: &[(usize, usize)], x0: usize, y0: usize, w: usize, h: usize) -> f32 {
    let rows = (h * 45).div_ceil(100).max(1);
    let mut lo = vec![usize::MAX; rows];
    let mut hi = vec![0; rows];
    for &(x, y) in pixels.iter().filter(|p| p.1 - y0 < rows) {
        lo[y - y0] = lo[y - y0].min(x - x0);
        hi[y - y0] = hi[y - y0].max(x - x0 + 1);
    }
    let widest = (0..rows).filter(|&r| lo[r] != usize::MAX).map(|r| hi[r] - lo[r]).max().unwrap_or(0);
    widest as f32 / w as f32
}

fn corner_fill(pixels: &[(usize, usize)], x0: usize, y0: usize, w: usize, h: usize) -> f32 {
    let (cw, ch) = ((w / 4).max(1), (h / 4).max(1));
    let in_corner = |&&(x, y): &&(usize, usize)| {
        let (dx, dy) = (x - x0, y - y0);
        (dx < cw || dx >= w - cw) && (dy < ch || dy >= h - ch)
    };
    pixels.iter().filter(in_corner).count() as f32 / (4 * cw * ch) as f32
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

/// Thresholds sit between the shapes' ranges on rendered scenes, sharp, 3x3-blurred and blurred
/// twice (0th-100th percentiles, evaluation and validation sets, 64 px): upper width triangle
/// .38-.80, others >= .86; bottom-heaviness triangle >= 1.83, others <= 1.64; corner fill
/// square >= .44 (1st percentile .67), circle <= .47 (99th .38), star <= .28; solidity star <= .91
/// (99th .89), circle >= .90; extent circle >= .69; corner fill triangle .25-.50 (0.1th
/// percentile .33).
///
/// Generated triangles' blurred tips can widen the upper part to .86, where a star's arms span
/// the whole box: such a shape is a triangle when it is bottom-heavy, its corners are filled as a
/// rendered triangle's (.33-.50: a star's at most .28, a square's mostly above .67) and it has no
/// star's notches (solidity >= .8). Generated stars and ragged triangles are not separable by these
/// features beyond that (docs/world-and-evaluator.md).
pub fn classify(f: &Features) -> Option<Shape> {
    let (w, h) = f.bbox.size();
    if !(0.6..=1.67).contains(&(w / h)) {
        return None;
    }
    let triangle_corners = (0.33..=0.5).contains(&f.corner_fill) && f.solidity >= 0.8;
    let narrow_top = f.top_width <= 0.82 || (f.top_width <= 0.86 && triangle_corners);
    if narrow_top && f.bottom_heavy >= 1.5 {
        Some(Shape::Triangle)
    } else if f.corner_fill >= 0.45 {
        Some(Shape::Square)
    } else if f.solidity < 0.875 {
        (f.extent < 0.8).then_some(Shape::Star)
    } else if f.extent >= 0.65 {
        Some(Shape::Circle)
    } else {
        None
    }
}
