//! Line charts as PNG images (training curves), drawn with the crate's own primitives.

use crate::draw::{fill, line, text, GLYPH};
use hypernoise::world::Image;

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const COLOURS: [[u8; 3]; 6] =
    [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [23, 190, 207]];
const W: usize = 720;
const H: usize = 400;
const LEFT: usize = 90;
const RIGHT: usize = 20;
const TOP: usize = 40;
const BOTTOM: usize = 40;

/// `log_y`: plot log10 of y (losses span decades).
pub fn chart(title: &str, x_label: &str, series: &[Series], log_y: bool) -> Image {
    let mut img = Image::filled(W, H, [255, 255, 255]);
    let ty = |y: f64| if log_y { y.max(1e-12).log10() } else { y };
    let pts = series.iter().flat_map(|s| s.points.iter()).filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(ty(y)), y1.max(ty(y)));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if y1 - y0 < 1e-9 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let (pw, ph) = ((W - LEFT - RIGHT) as f64, (H - TOP - BOTTOM) as f64);
    let px = |x: f64| LEFT as f64 + (x - x0) / (x1 - x0).max(1e-12) * pw;
    let py = |y: f64| TOP as f64 + (1.0 - (ty(y) - y0) / (y1 - y0)) * ph;
    let axis = [90, 90, 90];
    fill(&mut img, LEFT, TOP, 1, H - TOP - BOTTOM, axis);
    fill(&mut img, LEFT, H - BOTTOM, W - LEFT - RIGHT, 1, axis);
    text(&mut img, LEFT, 12, title, [0, 0, 0]);
    let fmt = |v: f64| if log_y { format!("{:.3e}", 10f64.powf(v)) } else { format!("{v:.4}") };
    text(&mut img, 4, TOP, &fmt(y1), axis);
    text(&mut img, 4, H - BOTTOM - GLYPH, &fmt(y0), axis);
    text(&mut img, LEFT, H - BOTTOM + 8, &format!("{x0:.0}"), axis);
    let right = format!("{x1:.0} {x_label}");
    text(&mut img, W - RIGHT - right.len() * GLYPH, H - BOTTOM + 8, &right, axis);
    for (i, s) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let finite: Vec<&(f64, f64)> = s.points.iter().filter(|p| p.1.is_finite()).collect();
        for w in finite.windows(2) {
            line(&mut img, (px(w[0].0), py(w[0].1)), (px(w[1].0), py(w[1].1)), c);
        }
        if let [p] = finite.as_slice() {
            fill(&mut img, px(p.0) as usize, py(p.1) as usize, 3, 3, c);
        }
        fill(&mut img, LEFT + 10 + 180 * i, H - 14, 12, 8, c);
        text(&mut img, LEFT + 26 + 180 * i, H - 14, &s.name, [0, 0, 0]);
    }
    img
}

/// Images one above the other (charts of one run), on white.
pub fn stack(images: &[Image]) -> Image {
    let width = images.iter().map(|i| i.width).max().unwrap_or(0);
    let mut out = Image::filled(width, images.iter().map(|i| i.height).sum(), [255, 255, 255]);
    let mut top = 0;
    for img in images {
        for y in 0..img.height {
            for x in 0..img.width {
                out.set_pixel(x, top + y, img.pixel(x, y));
            }
        }
        top += img.height;
    }
    out
}
