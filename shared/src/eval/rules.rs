//! GenEval's decision rules on our detections:
//! - every object group needs at least `count` detections of its shape (and of its colour,
//!   when the prompt names one);
//! - counting prompts also fail with more than `count` of the shape, whatever their colour
//!   (GenEval's `exclude` of count + 1);
//! - position prompts take each group's most prominent detection (largest, standing in for
//!   GenEval's most confident) and test the relation as people see it: the direction between
//!   their centres within 60 degrees of the relation's (`seen_relations`; GenEval's
//!   `relative_position` first shrinks the offset, and rejects pairs people accept).

use super::detect::Detection;
use crate::world::geometry::seen_relations;
use crate::world::{Category, ObjectSpec, PromptSpec};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub correct: bool,
    /// Why not, in words ("correct" when it is).
    pub reason: String,
    pub category: Category,
    pub detections: Vec<Detection>,
}

fn describe(o: &ObjectSpec) -> String {
    PromptSpec { objects: vec![*o], relation: None }.text()
}

fn found_summary(of: &[&Detection]) -> String {
    if of.is_empty() {
        return "none".into();
    }
    of.iter().map(|d| d.colour.name()).collect::<Vec<_>>().join(", ")
}

pub fn judge(spec: &PromptSpec, detections: &[Detection]) -> Verdict {
    let category = spec.category();
    let verdict = |reason: Option<String>| Verdict {
        correct: reason.is_none(),
        reason: reason.unwrap_or_else(|| "correct".into()),
        category,
        detections: detections.to_vec(),
    };
    let mut prominent = Vec::new();
    for o in &spec.objects {
        let of_shape: Vec<&Detection> = detections.iter().filter(|d| d.shape == Some(o.shape)).collect();
        let mut matching: Vec<&Detection> =
            of_shape.iter().copied().filter(|d| o.colour.is_none_or(|c| d.colour == c)).collect();
        if matching.len() < o.count as usize {
            return verdict(Some(format!(
                "expected {}, found {} {} of colours: {}",
                describe(o),
                of_shape.len(),
                o.shape.plural(),
                found_summary(&of_shape)
            )));
        }
        if category == Category::Counting && of_shape.len() > o.count as usize {
            return verdict(Some(format!(
                "expected exactly {}, found {} {}",
                o.count,
                of_shape.len(),
                o.shape.plural()
            )));
        }
        matching.sort_by_key(|d| std::cmp::Reverse(d.area));
        prominent.push(matching[0]);
    }
    if let Some(rel) = spec.relation {
        let (a, b) = (prominent[0], prominent[1]);
        let found = seen_relations(&a.bbox, &b.bbox);
        if !found.contains(&rel) {
            let actual: Vec<&str> = found.iter().map(|r| r.text()).collect();
            return verdict(Some(format!(
                "the {} is {} the {}, not {}",
                describe(&spec.objects[0]).trim_start_matches(['a', 'n', ' ']),
                if actual.is_empty() { "too close to place relative to".into() } else { actual.join(" and ") },
                describe(&spec.objects[1]).trim_start_matches(['a', 'n', ' ']),
                rel.text()
            )));
        }
    }
    verdict(None)
}
