//! Hard negatives for the reward model: the scene of a slightly different request, shown with
//! the original prompt. Each kind targets one GenEval failure: a wrong count, a wrong colour,
//! a flipped relation, swapped colour bindings, a wrong shape, one of two objects missing.

use crate::rng::Rng;
use crate::world::{Colour, PromptSpec, Shape};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    Count,
    Colour,
    Relation,
    Binding,
    Shape,
    Missing,
}

impl Perturbation {
    pub const ALL: [Perturbation; 6] = [
        Perturbation::Count,
        Perturbation::Colour,
        Perturbation::Relation,
        Perturbation::Binding,
        Perturbation::Shape,
        Perturbation::Missing,
    ];

    /// The name the command line and the accuracy report use.
    pub fn name(self) -> &'static str {
        match self {
            Perturbation::Count => "count",
            Perturbation::Colour => "colour",
            Perturbation::Relation => "relation",
            Perturbation::Binding => "binding",
            Perturbation::Shape => "shape",
            Perturbation::Missing => "missing",
        }
    }
}

fn other<T: Copy + PartialEq>(all: &[T], not: T, rng: &mut Rng) -> T {
    let rest: Vec<T> = all.iter().copied().filter(|c| *c != not).collect();
    *rng.pick(&rest)
}

/// A request whose scenes contradict `spec` in the way `kind` says, when `spec` has such a way.
pub fn perturb(spec: &PromptSpec, kind: Perturbation, rng: &mut Rng) -> Option<PromptSpec> {
    let mut p = spec.clone();
    let i = rng.below(p.objects.len());
    match kind {
        // a lone "a circle" is satisfied by any number of circles: only counts above one
        Perturbation::Count => {
            let o = &mut p.objects[i];
            if o.count < 2 {
                return None;
            }
            o.count = if o.count == 4 || (o.count > 2 && rng.unit() < 0.5) { o.count - 1 } else { o.count + 1 };
        }
        Perturbation::Colour => {
            let o = &mut p.objects[i];
            o.colour = Some(other(&Colour::ALL, o.colour?, rng));
        }
        Perturbation::Relation => p.relation = Some(p.relation?.converse()),
        Perturbation::Binding => {
            let [a, b] = [p.objects.first()?.colour?, p.objects.get(1)?.colour?];
            if a == b || p.objects[0].shape == p.objects[1].shape {
                return None;
            }
            p.objects[0].colour = Some(b);
            p.objects[1].colour = Some(a);
        }
        Perturbation::Shape => {
            let o = &mut p.objects[i];
            o.shape = other(&Shape::ALL, o.shape, rng);
        }
        // ReNO on the first rewards drew one object and skipped the other: a two-object request
        // with only one of its objects must score below the full scene
        Perturbation::Missing => {
            if p.objects.len() < 2 {
                return None;
            }
            p.objects.remove(i);
            p.relation = None;
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::evaluate;
    use crate::world::render::render;
    use crate::world::split::{prompts, Split};
    use crate::world::{Category, Scene};

    #[test]
    fn negatives_contradict_their_prompt() {
        let mut rng = Rng::new(5);
        let (mut made, mut rejected) = (0, 0);
        for cat in Category::ALL {
            for spec in prompts(Split::Eval, cat).iter().take(40) {
                for kind in Perturbation::ALL {
                    let Some(neg) = perturb(spec, kind, &mut rng) else { continue };
                    assert_ne!(&neg, spec);
                    made += 1;
                    rejected += !evaluate(&spec.text(), &render(&Scene::sample(&neg, 1, 64))).unwrap().correct as usize;
                }
            }
        }
        assert!(made > 300 && rejected as f64 >= 0.95 * made as f64, "{rejected} of {made}");
        let single = PromptSpec::parse("a circle").unwrap();
        assert_eq!(perturb(&single, Perturbation::Count, &mut rng), None, "two circles still show a circle");
        assert_eq!(perturb(&single, Perturbation::Relation, &mut rng), None);
        assert_eq!(perturb(&single, Perturbation::Missing, &mut rng), None, "nothing to leave out");
        let two = PromptSpec::parse("a red star to the left of a blue circle").unwrap();
        let kept = perturb(&two, Perturbation::Missing, &mut rng).unwrap();
        assert!(
            kept.objects.len() == 1 && kept.relation.is_none() && two.objects.contains(&kept.objects[0]),
            "{}",
            kept.text()
        );
    }
}
