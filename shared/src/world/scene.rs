//! Layouts: where each object of a prompt goes, sampled from a seed so that the scene
//! satisfies the prompt with margin (objects never touch; relations hold clearly).

use super::geometry::{relation_strength, BBox};
use super::palette::{Colour, Shape};
use super::prompt::PromptSpec;
use crate::rng::Rng;
use serde::Serialize;

/// One object: `r` is half its width (all shapes are as wide as they are tall, within 5%).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Placed {
    pub shape: Shape,
    pub colour: Colour,
    pub cx: f32,
    pub cy: f32,
    pub r: f32,
}

// Star vertices on the unit circle, outer and inner alternating from the top point
// (constants instead of sin/cos so every platform rasterises identically).
const STAR_UNIT: [(f32, f32); 10] = [
    (0.0, -1.0),
    (0.587_785_25, -0.809_017),
    (0.951_056_5, -0.309_017),
    (0.951_056_5, 0.309_017),
    (0.587_785_25, 0.809_017),
    (0.0, 1.0),
    (-0.587_785_25, 0.809_017),
    (-0.951_056_5, 0.309_017),
    (-0.951_056_5, -0.309_017),
    (-0.587_785_25, -0.809_017),
];
const STAR_INNER: f32 = 0.5;
/// Outer radius per unit half-width (the star is 2 * 0.951 outer radii wide).
const STAR_OUTER_PER_R: f32 = 1.0 / 0.951_056_5;
/// Shifts the star down so its box is centred (it spans -1 .. 0.809 outer radii).
const STAR_SHIFT: f32 = 0.095_491_5;

impl Placed {
    pub fn bbox(&self) -> BBox {
        let half_h = match self.shape {
            Shape::Star => 0.904_508_5 * STAR_OUTER_PER_R * self.r,
            _ => self.r,
        };
        BBox { x0: self.cx - self.r, y0: self.cy - half_h, x1: self.cx + self.r, y1: self.cy + half_h }
    }

    pub fn contains(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let r = self.r;
        match self.shape {
            Shape::Circle => dx * dx + dy * dy <= r * r,
            Shape::Square => dx.abs() <= r && dy.abs() <= r,
            // apex at the top, base at the bottom: half-width grows from 0 to r
            Shape::Triangle => dy <= r && dx.abs() <= (dy + r) / 2.0,
            Shape::Star => {
                let ro = r * STAR_OUTER_PER_R;
                let vertex = |i: usize| {
                    let (ux, uy) = STAR_UNIT[i % 10];
                    let k = if i.is_multiple_of(2) { ro } else { ro * STAR_INNER };
                    (ux * k, uy * k + STAR_SHIFT * ro)
                };
                // even-odd rule
                let mut inside = false;
                for i in 0..10 {
                    let ((x0, y0), (x1, y1)) = (vertex(i), vertex(i + 1));
                    if (y0 > dy) != (y1 > dy) && dx < x0 + (dy - y0) * (x1 - x0) / (y1 - y0) {
                        inside = !inside;
                    }
                }
                inside
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub objects: Vec<Placed>,
}

/// Object half-widths as a fraction of the canvas.
const SIZE_RANGE: (f32, f32) = (0.10, 0.15);
/// Free space between objects and from the border, as a fraction of the canvas.
const GAP: f32 = 0.05;
/// A sampled relation must be this clear under GenEval's rule (it holds above 0.5).
const RELATION_MARGIN: f32 = 0.7;

impl Scene {
    /// A square scene of side `resolution` that satisfies `spec`; the same inputs give the same
    /// scene everywhere.
    pub fn sample(spec: &PromptSpec, seed: u64, resolution: usize) -> Scene {
        let mut rng = Rng::derive(seed, &spec.text());
        let side = resolution as f32;
        for attempt in 0.. {
            // Shrink objects if a layout keeps failing (it practically never does with <= 4).
            let shrink = 1.0 - 0.02 * (attempt / 20).min(10) as f32;
            if let Some(objects) = try_layout(spec, &mut rng, side, shrink) {
                return Scene { width: resolution, height: resolution, objects };
            }
        }
        unreachable!()
    }
}

fn try_layout(spec: &PromptSpec, rng: &mut Rng, side: f32, shrink: f32) -> Option<Vec<Placed>> {
    let mut placed: Vec<Placed> = Vec::new();
    for (g, group) in spec.objects.iter().enumerate() {
        for _ in 0..group.count {
            let colour = group.colour.unwrap_or_else(|| *rng.pick(&Colour::ALL));
            let r = side * rng.range(SIZE_RANGE.0, SIZE_RANGE.1) * shrink;
            let mut obj = Placed { shape: group.shape, colour, cx: 0.0, cy: 0.0, r };
            let ok = (0..200).any(|_| {
                obj.cx = rng.range(0.0, side);
                obj.cy = rng.range(0.0, side);
                fits(&obj, &placed, side)
                    && match (spec.relation, g) {
                        // objects[0] is placed first; objects[1] must see it in the converse relation
                        (Some(rel), 1) => relation_strength(&placed[0].bbox(), &obj.bbox(), rel) > RELATION_MARGIN,
                        _ => true,
                    }
            });
            if !ok {
                return None;
            }
            placed.push(obj);
        }
    }
    Some(placed)
}

fn fits(obj: &Placed, others: &[Placed], side: f32) -> bool {
    let b = obj.bbox();
    let margin = GAP * side;
    b.x0 >= margin
        && b.y0 >= margin
        && b.x1 <= side - margin
        && b.y1 <= side - margin
        && others.iter().all(|o| o.bbox().gap(&b) >= margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::geometry::relations;

    #[test]
    fn layouts_are_deterministic_separate_and_keep_relations() {
        for text in ["four stars", "a red circle to the left of a blue square", "a star below a square"] {
            let spec = PromptSpec::parse(text).unwrap();
            for seed in 0..200 {
                let s = Scene::sample(&spec, seed, 64);
                assert_eq!(s, Scene::sample(&spec, seed, 64));
                let n: u8 = spec.objects.iter().map(|o| o.count).sum();
                assert_eq!(s.objects.len(), n as usize);
                for (i, a) in s.objects.iter().enumerate() {
                    for b in &s.objects[i + 1..] {
                        assert!(a.bbox().gap(&b.bbox()) >= 3.0, "{text} seed {seed}");
                    }
                }
                if let Some(rel) = spec.relation {
                    assert!(relations(&s.objects[0].bbox(), &s.objects[1].bbox()).contains(&rel), "{text} seed {seed}");
                }
            }
        }
    }

    #[test]
    fn shape_membership_matches_geometry() {
        let at = |shape| Placed { shape, colour: Colour::Red, cx: 0.0, cy: 0.0, r: 10.0 };
        assert!(at(Shape::Circle).contains(7.0, 7.0) && !at(Shape::Circle).contains(7.2, 7.2));
        assert!(at(Shape::Square).contains(9.9, -9.9));
        assert!(at(Shape::Triangle).contains(0.0, -9.0) && !at(Shape::Triangle).contains(5.0, -5.0));
        assert!(at(Shape::Triangle).contains(9.5, 9.9));
        let star = at(Shape::Star);
        assert!(star.contains(0.0, 0.0) && star.contains(0.0, -9.0));
        assert!(!star.contains(0.0, 8.0), "notch between the two lower points");
        let b = star.bbox();
        assert!((b.y1 + b.y0).abs() < 1e-4 && (b.size().1 / b.size().0 - 0.951).abs() < 0.01);
    }
}
