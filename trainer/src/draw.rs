//! Drawing primitives for the PNGs the trainer writes (grids, plots): rectangles, lines and
//! 8x8 bitmap text.

use hypernoise::world::Image;

pub const GLYPH: usize = 8;

pub fn fill(img: &mut Image, x0: usize, y0: usize, w: usize, h: usize, c: [u8; 3]) {
    for y in y0..(y0 + h).min(img.height) {
        for x in x0..(x0 + w).min(img.width) {
            img.set_pixel(x, y, c);
        }
    }
}

pub fn text(img: &mut Image, x0: usize, y0: usize, s: &str, ink: [u8; 3]) {
    for (k, ch) in s.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY.get(ch as usize).copied().unwrap_or([0; 8]);
        for (gy, row) in glyph.iter().enumerate() {
            for gx in 0..GLYPH {
                let (x, y) = (x0 + k * GLYPH + gx, y0 + gy);
                if row & (1 << gx) != 0 && x < img.width && y < img.height {
                    img.set_pixel(x, y, ink);
                }
            }
        }
    }
}

/// A 2-px line (simple DDA), clipped to the image.
pub fn line(img: &mut Image, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: [u8; 3]) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        if x >= 0.0 && y >= 0.0 {
            fill(img, x as usize, y as usize, 2, 2, c);
        }
    }
}
