//! Groups too large to be one object. Objects of one colour that overlap or share an edge (two
//! squares side by side, a circle resting on a square) make one pixel group with no thin join
//! for `separate` to cut. No object of the world is wider or taller than 19.2 px of 64, and
//! generated ones reach about 24, so a larger group holds several. It is explained as the
//! world's shapes, greedily: each time the shape, size and place that covers most of the group's
//! pixels not yet explained and least of the background, until what is left is too small to be
//! an object. Each object found takes the group's pixels inside it (where two overlap, both)
//! and the rim pixels it reaches first; its shape is then read from those pixels like any other
//! object's, so the fit decides where to cut more than what the pieces are.

use super::separate::bounds;
use crate::world::{Colour, Placed, Shape};
use std::collections::VecDeque;
use std::ops::RangeInclusive;

/// A group wider or taller than this (px of a 64 px image) holds more than one object.
const MAX_OBJECT_SIDE_64: f32 = 25.0;
/// Half-widths tried (px of a 64 px image): the world's 6.4-9.6, widened for generated sizes.
const RADII_64: RangeInclusive<u32> = 5..=12;
/// An object found must explain this many pixels not yet explained, less twice the background it
/// covers (px of a 64 px image): more than a smudge trailing an object (~45), less than a small
/// generated star (~70).
const MIN_GAIN_64: i32 = 60;
/// The objects found must explain this share of the group, or it stays whole.
const MIN_EXPLAINED: f32 = 0.85;
/// What covering a pixel outside the group costs, against 1 gained for explaining one.
const BACKGROUND_COST: i32 = 2;
/// At most this many objects in one group (prompts name up to four; generators draw more).
const MAX_OBJECTS: usize = 6;

/// A shape at one size: the pixel offsets it covers around the pixel at its centre.
type Template = Vec<(isize, isize)>;

/// The objects of a pixel group too large to be one object (`None` when it is not, or when no
/// two or more of the world's shapes explain it).
pub fn split_group(pixels: &[(usize, usize)], width: usize) -> Option<Vec<Vec<(usize, usize)>>> {
    let scale = width as f32 / 64.0;
    let ((x0, y0), (w, h)) = bounds(pixels);
    if (w.max(h) as f32) <= MAX_OBJECT_SIDE_64 * scale {
        return None;
    }
    let templates = templates(scale);
    let reach = templates.iter().flat_map(|t| t.iter()).map(|o| o.0.abs().max(o.1.abs())).max()?;
    let mut canvas = Canvas::new(pixels, (x0, y0), (w, h), reach);
    let min_gain = (MIN_GAIN_64 as f32 * scale * scale) as i32;
    let mut objects: Vec<Vec<usize>> = Vec::new();
    while objects.len() < MAX_OBJECTS {
        let Some((gain, at, template)) = canvas.best_placement(&templates) else { break };
        if gain < min_gain {
            break;
        }
        objects.push(canvas.explain(at, template));
    }
    let explained = canvas.explained() as f32 / pixels.len() as f32;
    (objects.len() >= 2 && explained >= MIN_EXPLAINED).then(|| canvas.pieces(objects))
}

/// Each shape at each half-width, centred on a pixel's centre or corner (objects are an even or an
/// odd number of pixels wide): the pixel offsets it covers around its centre pixel.
fn templates(scale: f32) -> Vec<Template> {
    let mut out = Vec::new();
    for shape in Shape::ALL {
        for r in RADII_64 {
            let r = r as f32 * scale;
            let reach = r.ceil() as isize + 1;
            for (cx, cy) in [(0.5, 0.5), (0.0, 0.5), (0.5, 0.0), (0.0, 0.0)] {
                let object = Placed { shape, colour: Colour::ALL[0], cx, cy, r };
                let covered = (-reach..=reach)
                    .flat_map(|dy| (-reach..=reach).map(move |dx| (dx, dy)))
                    .filter(|&(dx, dy)| object.contains(dx as f32 + 0.5, dy as f32 + 0.5))
                    .collect();
                out.push(covered);
            }
        }
    }
    out
}

/// The group on a canvas padded by the largest template's reach, with what is explained so far:
/// each pixel weighs +1 while it is in the group and unexplained, 0 once explained, and
/// `-BACKGROUND_COST` outside (a cost above 1 keeps one large shape from spanning two objects).
struct Canvas {
    origin: (isize, isize),
    stride: usize,
    weight: Vec<i32>,
    in_group: Vec<bool>,
}

impl Canvas {
    fn new(pixels: &[(usize, usize)], (x0, y0): (usize, usize), (w, h): (usize, usize), pad: isize) -> Canvas {
        let stride = w + 2 * pad as usize;
        let rows = h + 2 * pad as usize;
        let origin = (x0 as isize - pad, y0 as isize - pad);
        let mut canvas = Canvas {
            origin,
            stride,
            weight: vec![-BACKGROUND_COST; stride * rows],
            in_group: vec![false; stride * rows],
        };
        for &(x, y) in pixels {
            let i = canvas.index(x as isize, y as isize);
            canvas.weight[i] = 1;
            canvas.in_group[i] = true;
        }
        canvas
    }

    fn index(&self, x: isize, y: isize) -> usize {
        (y - self.origin.1) as usize * self.stride + (x - self.origin.0) as usize
    }

    fn covered<'t>(&self, at: usize, template: &'t [(isize, isize)]) -> impl Iterator<Item = usize> + 't {
        let stride = self.stride as isize;
        template.iter().map(move |&(dx, dy)| (at as isize + dy * stride + dx) as usize)
    }

    /// The placement (gain, centre, template) that explains most, centred on a group pixel.
    fn best_placement<'t>(&self, templates: &'t [Template]) -> Option<(i32, usize, &'t Template)> {
        let centres: Vec<usize> = (0..self.weight.len()).filter(|&i| self.in_group[i]).collect();
        templates
            .iter()
            .flat_map(|t| centres.iter().map(move |&at| (at, t)))
            .map(|(at, t)| (self.covered(at, t).map(|i| self.weight[i]).sum::<i32>(), at, t))
            .max_by_key(|&(gain, at, _)| (gain, std::cmp::Reverse(at)))
    }

    /// Marks what the placement covers of the group as explained; returns those pixels.
    fn explain(&mut self, at: usize, template: &[(isize, isize)]) -> Vec<usize> {
        let inside: Vec<usize> = self.covered(at, template).filter(|&i| self.in_group[i]).collect();
        inside.iter().for_each(|&i| self.weight[i] = 0);
        inside
    }

    fn explained(&self) -> usize {
        self.in_group.iter().zip(&self.weight).filter(|&(&g, &w)| g && w == 0).count()
    }

    /// Each object's pixels: those it explains, and the pixels no object explains that it reaches
    /// first through the group (an object's rounded or ragged rim, which its shape misses).
    fn pieces(&self, objects: Vec<Vec<usize>>) -> Vec<Vec<(usize, usize)>> {
        let mut owner = vec![usize::MAX; self.weight.len()];
        let mut queue = VecDeque::new();
        for (k, object) in objects.iter().enumerate() {
            for &i in object {
                if owner[i] == usize::MAX {
                    owner[i] = k;
                    queue.push_back(i);
                }
            }
        }
        let mut pieces = objects;
        while let Some(i) = queue.pop_front() {
            for j in self.neighbours(i) {
                if self.in_group[j] && owner[j] == usize::MAX {
                    owner[j] = owner[i];
                    pieces[owner[i]].push(j);
                    queue.push_back(j);
                }
            }
        }
        pieces.into_iter().map(|piece| piece.into_iter().map(|i| self.position(i)).collect()).collect()
    }

    /// The 8 neighbours of a canvas index (the padding keeps group pixels off the canvas's edge).
    fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> {
        let stride = self.stride as isize;
        [-stride - 1, -stride, -stride + 1, -1, 1, stride - 1, stride, stride + 1]
            .into_iter()
            .map(move |d| (i as isize + d) as usize)
    }

    fn position(&self, i: usize) -> (usize, usize) {
        ((self.origin.0 + (i % self.stride) as isize) as usize, (self.origin.1 + (i / self.stride) as isize) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::shape::{classify, Features};

    fn covered_by(objects: &[(Shape, f32, f32, f32)]) -> Vec<(usize, usize)> {
        (0..64)
            .flat_map(|y| (0..64).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                objects.iter().any(|&(shape, cx, cy, r)| {
                    Placed { shape, colour: Colour::ALL[0], cx, cy, r }.contains(x as f32 + 0.5, y as f32 + 0.5)
                })
            })
            .collect()
    }

    fn shapes_of(parts: &[Vec<(usize, usize)>]) -> Vec<Option<Shape>> {
        let mut shapes: Vec<_> = parts.iter().map(|p| classify(&Features::of(p))).collect();
        shapes.sort_by_key(|s| s.map(|s| s as u8));
        shapes
    }

    #[test]
    fn two_squares_side_by_side_are_two_squares() {
        let group = covered_by(&[(Shape::Square, 20.0, 30.0, 9.0), (Shape::Square, 36.0, 34.0, 9.0)]);
        let parts = split_group(&group, 64).expect("two objects");
        assert_eq!(shapes_of(&parts), vec![Some(Shape::Square); 2]);
    }

    #[test]
    fn a_circle_on_a_square_is_a_circle_and_a_square() {
        let group = covered_by(&[(Shape::Square, 22.0, 22.0, 9.0), (Shape::Circle, 36.0, 36.0, 8.0)]);
        let parts = split_group(&group, 64).expect("two objects");
        assert_eq!(shapes_of(&parts), vec![Some(Shape::Circle), Some(Shape::Square)]);
    }

    #[test]
    fn one_object_stays_whole_however_large() {
        for shape in Shape::ALL {
            assert_eq!(split_group(&covered_by(&[(shape, 32.0, 32.0, 9.6)]), 64), None, "{shape:?}");
            assert_eq!(split_group(&covered_by(&[(shape, 32.0, 32.0, 13.0)]), 64), None, "{shape:?}");
        }
    }

    #[test]
    fn a_blob_no_shapes_explain_stays_whole() {
        // a long thin bar: wider than any object, and no two shapes of the world cover it
        let bar: Vec<_> = (4..60).flat_map(|x| (30..33).map(move |y| (x, y))).collect();
        assert_eq!(split_group(&bar, 64), None);
    }
}
