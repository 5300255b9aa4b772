//! Boxes and two readings of spatial relations: GenEval's rule, which the scene sampler keeps
//! (its layouts satisfy it with a margin), and the direction between the boxes' centres that
//! people judge by, which the evaluator applies.

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
    offset_shrunk_by(a, b, POSITION_THRESHOLD)
}

/// The centre offset of `a` from `b`, each component shrunk by `threshold` of the summed box
/// sizes along it, divided by the full offset's length; `None` when nothing is left.
fn offset_shrunk_by(a: &BBox, b: &BBox, threshold: f32) -> Option<(f32, f32)> {
    let ((ax, ay), (bx, by)) = (a.centre(), b.centre());
    let ((aw, ah), (bw, bh)) = (a.size(), b.size());
    let (ox, oy) = (ax - bx, ay - by);
    let shrink = |o: f32, dim: f32| (o.abs() - threshold * dim).max(0.0) * o.signum();
    let (rx, ry) = (shrink(ox, aw + bw), shrink(oy, ah + bh));
    if rx.abs() < 1e-3 && ry.abs() < 1e-3 {
        return None;
    }
    let norm = (ox * ox + oy * oy).sqrt();
    Some((rx / norm, ry / norm))
}

/// Every relation in which `a` stands to `b` by GenEval's rule (a diagonal layout has two): what
/// the scene sampler's layouts are checked against.
#[cfg(test)]
pub(crate) fn relations(a: &BBox, b: &BBox) -> Vec<Relation> {
    relations_along(relation_offset(a, b))
}

/// Every relation in which people see `a` stand to `b`: the direction from `b`'s centre to
/// `a`'s within 60 degrees of the relation's. GenEval's rule first shrinks each component by 10%
/// of the boxes' sizes, so a pair drawn 55-60 degrees off the vertical is "above" (and beside)
/// to people and only beside by the rule; both audit labellers judge by the direction alone
/// (results/evaluator-audit/README.md).
pub fn seen_relations(a: &BBox, b: &BBox) -> Vec<Relation> {
    relations_along(offset_shrunk_by(a, b, 0.0))
}

/// The relations of a unit offset (within 60 degrees of each direction: a component above 0.5).
fn relations_along(offset: Option<(f32, f32)>) -> Vec<Relation> {
    let Some((dx, dy)) = offset else { return vec![] };
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

    #[test]
    fn people_see_a_relation_within_60_degrees_of_its_direction() {
        // 57 degrees off the vertical: above (and left of) to people, only left of by GenEval's rule
        let (a, b) = (
            square(10.0, 10.0),
            square(10.0 + 40.0 * 57f32.to_radians().sin(), 10.0 + 40.0 * 57f32.to_radians().cos()),
        );
        assert_eq!(seen_relations(&a, &b), vec![Relation::LeftOf, Relation::Above]);
        assert_eq!(relations(&a, &b), vec![Relation::LeftOf]);
        // 62 degrees: left of only, to both
        let b = square(10.0 + 40.0 * 62f32.to_radians().sin(), 10.0 + 40.0 * 62f32.to_radians().cos());
        assert_eq!(seen_relations(&a, &b), vec![Relation::LeftOf]);
        // whatever GenEval's rule sees, people see too
        for (x, y) in [(40.0, 30.0), (30.0, 5.0), (40.0, 40.0), (31.5, 30.5), (12.0, 50.0)] {
            let (a, b) = (square(30.0, 30.0), square(x, y));
            assert!(relations(&a, &b).iter().all(|r| seen_relations(&a, &b).contains(r)), "{x} {y}");
        }
    }
}
