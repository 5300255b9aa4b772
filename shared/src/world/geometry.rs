//! Boxes and GenEval's rule for spatial relations, shared by the scene sampler (which must
//! only make layouts that satisfy the rule) and the evaluator (which applies it).

use super::prompt::Relation;
use serde::Serialize;

/// Axis-aligned box in pixel coordinates, y pointing down; `x1`, `y1` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn centre(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    pub fn size(&self) -> (f32, f32) {
        (self.x1 - self.x0, self.y1 - self.y0)
    }

    /// Larger of the x and y gaps between the boxes (negative when they overlap).
    pub fn gap(&self, other: &BBox) -> f32 {
        let gx = (other.x0 - self.x1).max(self.x0 - other.x1);
        let gy = (other.y0 - self.y1).max(self.y0 - other.y1);
        gx.max(gy)
    }
}

/// GenEval's `POSITION_THRESHOLD`: offsets within 10% of the summed sizes do not count.
const POSITION_THRESHOLD: f32 = 0.1;

/// The unit offset GenEval's `relative_position` uses: the centre offset of `a` from `b`, shrunk
/// by 10% of the summed box sizes, divided by the full offset's length. `None` when too close.
pub fn relation_offset(a: &BBox, b: &BBox) -> Option<(f32, f32)> {
    let ((ax, ay), (bx, by)) = (a.centre(), b.centre());
    let ((aw, ah), (bw, bh)) = (a.size(), b.size());
    let (ox, oy) = (ax - bx, ay - by);
    let shrink = |o: f32, dim: f32| (o.abs() - POSITION_THRESHOLD * dim).max(0.0) * o.signum();
    let (rx, ry) = (shrink(ox, aw + bw), shrink(oy, ah + bh));
    if rx.abs() < 1e-3 && ry.abs() < 1e-3 {
        return None;
    }
    let norm = (ox * ox + oy * oy).sqrt();
    Some((rx / norm, ry / norm))
}

/// Every relation in which `a` stands to `b` by GenEval's rule (a diagonal layout has two).
pub fn relations(a: &BBox, b: &BBox) -> Vec<Relation> {
    let Some((dx, dy)) = relation_offset(a, b) else { return vec![] };
    [
        (dx < -0.5, Relation::LeftOf),
        (dx > 0.5, Relation::RightOf),
        (dy < -0.5, Relation::Above),
        (dy > 0.5, Relation::Below),
    ]
    .into_iter()
    .filter_map(|(holds, r)| holds.then_some(r))
    .collect()
}

/// How strongly `a` stands in `rel` to `b`: the GenEval offset along the relation's direction
/// (it holds above 0.5).
pub fn relation_strength(a: &BBox, b: &BBox, rel: Relation) -> f32 {
    relation_offset(a, b).map_or(0.0, |(dx, dy)| match rel {
        Relation::LeftOf => -dx,
        Relation::RightOf => dx,
        Relation::Above => -dy,
        Relation::Below => dy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(cx: f32, cy: f32) -> BBox {
        BBox { x0: cx - 5.0, y0: cy - 5.0, x1: cx + 5.0, y1: cy + 5.0 }
    }

    #[test]
    fn geneval_relations() {
        assert_eq!(relations(&square(10.0, 30.0), &square(40.0, 30.0)), vec![Relation::LeftOf]);
        assert_eq!(relations(&square(40.0, 30.0), &square(10.0, 30.0)), vec![Relation::RightOf]);
        assert_eq!(relations(&square(30.0, 5.0), &square(30.0, 40.0)), vec![Relation::Above]);
        assert_eq!(relations(&square(10.0, 10.0), &square(40.0, 40.0)), vec![Relation::LeftOf, Relation::Above]);
        // centres within 10% of the summed sizes: no relation
        assert_eq!(relations(&square(30.0, 30.0), &square(31.5, 30.5)), vec![]);
    }
}
