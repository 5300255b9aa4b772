//! Labelled image grids: each cell an upscaled image with its caption below and, when a
//! verdict is known, a green (correct) or red (wrong) frame.

use crate::draw::{fill, text, GLYPH};
use hypernoise::world::Image;

pub struct Cell {
    pub image: Image,
    pub caption: String,
    pub correct: Option<bool>,
}

const CAPTION_LINES: usize = 4;
const PAD: usize = 4;
const FRAME: usize = 2;
const PAPER: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [20, 20, 20];

pub fn compose(cells: &[Cell], cols: usize, scale: usize) -> Image {
    let cols = cols.max(1);
    let (iw, ih) = cells.first().map_or((0, 0), |c| (c.image.width * scale, c.image.height * scale));
    let cell_w = iw + 2 * FRAME + 2 * PAD;
    let cell_h = ih + 2 * FRAME + 2 * PAD + CAPTION_LINES * (GLYPH + 2);
    let rows = cells.len().div_ceil(cols);
    let mut out = Image::filled(cols * cell_w, rows * cell_h, PAPER);
    for (i, cell) in cells.iter().enumerate() {
        let (ox, oy) = ((i % cols) * cell_w + PAD, (i / cols) * cell_h + PAD);
        if let Some(ok) = cell.correct {
            let frame = if ok { [40, 170, 70] } else { [220, 40, 40] };
            fill(&mut out, ox, oy, iw + 2 * FRAME, ih + 2 * FRAME, frame);
        }
        for y in 0..ih {
            for x in 0..iw {
                out.set_pixel(ox + FRAME + x, oy + FRAME + y, cell.image.pixel(x / scale, y / scale));
            }
        }
        let max_chars = (cell_w - PAD) / GLYPH;
        for (l, line) in wrap(&cell.caption, max_chars).iter().take(CAPTION_LINES).enumerate() {
            text(&mut out, ox, oy + ih + 2 * FRAME + 2 + l * (GLYPH + 2), line, INK);
        }
    }
    out
}

fn wrap(text: &str, max_chars: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + word.len() <= max_chars => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}
