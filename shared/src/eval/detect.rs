//! Object detection by colour: each pixel is given the palette colour nearest in hue (grey,
//! dark and unsaturated pixels are background), same-colour pixels are grouped into
//! 8-connected components, and specks too small to be an object are dropped.

use super::shape::{classify, Features};
use crate::world::palette::{hue_of, saturation};
use crate::world::{BBox, Colour, Image, Shape};
use serde::Serialize;

/// A pixel is part of an object only if this saturated: anti-aliased edges with under ~40%
/// object coverage fall to the background, so objects keep their shape.
const MIN_SATURATION: f32 = 0.3;
const MIN_VALUE: u8 = 60;
/// Hues further than this from every palette colour are no palette colour at all.
const MAX_HUE_DISTANCE: f32 = 30.0;
/// Smallest object, in pixels of a 64x64 image (the smallest rendered star has ~55).
const MIN_AREA_64: usize = 20;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// `None`: a coloured blob that is no recognisable shape.
    pub shape: Option<Shape>,
    pub colour: Colour,
    pub bbox: BBox,
    pub area: usize,
}

pub fn pixel_colour(rgb: [u8; 3]) -> Option<Colour> {
    if saturation(rgb) < MIN_SATURATION || rgb.iter().max().copied().unwrap_or(0) < MIN_VALUE {
        return None;
    }
    let hue = hue_of(rgb)?;
    let dist = |c: Colour| {
        let d = (hue - c.hue()).abs();
        d.min(360.0 - d)
    };
    let best = Colour::ALL.into_iter().min_by(|a, b| dist(*a).total_cmp(&dist(*b)))?;
    (dist(best) <= MAX_HUE_DISTANCE).then_some(best)
}

pub fn detect(img: &Image) -> Vec<Detection> {
    components(img)
        .into_iter()
        .map(|(colour, pixels)| {
            let f = Features::of(&pixels);
            Detection { shape: classify(&f), colour, bbox: f.bbox, area: pixels.len() }
        })
        .collect()
}

/// Same-colour 8-connected pixel groups large enough to be objects, with their colour.
pub fn components(img: &Image) -> Vec<(Colour, Vec<(usize, usize)>)> {
    let (w, h) = (img.width, img.height);
    let labels: Vec<Option<Colour>> = (0..w * h).map(|i| pixel_colour(img.pixel(i % w, i / w))).collect();
    let min_area = (MIN_AREA_64 * w * h / 4096).max(4);
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        let Some(colour) = labels[start] else { continue };
        if seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut pixels = Vec::new();
        while let Some(i) = stack.pop() {
            pixels.push((i % w, i / w));
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for (dx, dy) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if !seen[j] && labels[j] == Some(colour) {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        if pixels.len() >= min_area {
            out.push((colour, pixels));
        }
    }
    out
}
