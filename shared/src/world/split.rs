//! The fixed split of compositions into training, validation and evaluation.
//!
//! A composition is a request up to word order ([`PromptSpec::composition_key`]). Every
//! composition of each task type is enumerated, shuffled with a fixed seed, and the first
//! `EVAL` of them are held out for evaluation, the next `VAL` for validation (model selection),
//! the rest are training data. Evaluation compositions never appear in training in any wording.
//! All lone colourless objects ("a circle") are held out, so `single_object` also measures
//! generalisation: a model sees circles only in other kinds of prompt.

use super::palette::{Colour, Shape};
use super::prompt::{Category, ObjectSpec, PromptSpec, Relation};
use crate::rng::{fnv1a, Rng};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Eval,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Eval => "eval",
        }
    }
}

const SPLIT_SEED: u64 = 2508_09968;

/// (held out for evaluation, for validation) per category, in [`Category::ALL`] order.
const HELD_OUT: [(usize, usize); 6] = [(4, 0), (26, 6), (28, 6), (8, 2), (360, 60), (80, 16)];

/// An evaluation set image wants at least this many images per category (small categories get
/// more seeds per prompt, so every category's accuracy is measured on enough images).
const MIN_IMAGES_PER_CATEGORY: usize = 96;
const MIN_SEEDS_PER_PROMPT: usize = 4;

fn one(shape: Shape, colour: Option<Colour>) -> ObjectSpec {
    ObjectSpec { shape, colour, count: 1 }
}

fn colour_options() -> impl Iterator<Item = Option<Colour>> + Clone {
    std::iter::once(None).chain(Colour::ALL.map(Some))
}

/// Every composition of a task type, in canonical wording (the one its key is written in).
pub fn compositions(category: Category) -> Vec<PromptSpec> {
    let single = |o: ObjectSpec| PromptSpec { objects: vec![o], relation: None };
    let pair = |a, b, relation| PromptSpec { objects: vec![a, b], relation };
    let phrases: Vec<ObjectSpec> = Shape::ALL.iter().flat_map(|&s| colour_options().map(move |c| one(s, c))).collect();
    let valid = |p: &PromptSpec| PromptSpec::parse(&p.text()).as_ref() == Ok(p);
    let specs: Vec<PromptSpec> = match category {
        Category::SingleObject => Shape::ALL.map(|s| single(one(s, None))).to_vec(),
        Category::Colors => Shape::ALL.iter().flat_map(|&s| Colour::ALL.map(|c| single(one(s, Some(c))))).collect(),
        Category::Counting => Shape::ALL
            .iter()
            .flat_map(|&shape| {
                (2..=4).flat_map(move |count| {
                    colour_options().map(move |colour| single(ObjectSpec { shape, colour, count }))
                })
            })
            .collect(),
        Category::TwoObject | Category::ColorAttr => {
            let mut v = Vec::new();
            for (i, &a) in phrases.iter().enumerate() {
                for &b in &phrases[i + 1..] {
                    let coloured = a.colour.is_some() && b.colour.is_some();
                    let keep = match category {
                        Category::TwoObject => a.shape != b.shape && !coloured,
                        _ => coloured && a.colour != b.colour,
                    };
                    if keep {
                        v.push(pair(a, b, None));
                    }
                }
            }
            v
        }
        Category::Position => {
            let mut v = Vec::new();
            for &a in &phrases {
                for &b in &phrases {
                    for rel in [Relation::LeftOf, Relation::Above] {
                        let p = pair(a, b, Some(rel));
                        if a != b && valid(&p) {
                            v.push(p);
                        }
                    }
                }
            }
            v
        }
    };
    debug_assert!(specs.iter().all(|p| valid(p) && p.category() == category && p.composition_key() == p.text()));
    specs
}

struct Table {
    /// Per split and category, the prompts in the wording used for that split.
    lists: HashMap<(Split, Category), Vec<PromptSpec>>,
    by_key: HashMap<String, Split>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut lists = HashMap::new();
        let mut by_key = HashMap::new();
        for (cat, (n_eval, n_val)) in Category::ALL.into_iter().zip(HELD_OUT) {
            let mut specs = compositions(cat);
            Rng::derive(SPLIT_SEED, cat.name()).shuffle(&mut specs);
            for (i, spec) in specs.into_iter().enumerate() {
                let split = if i < n_eval {
                    Split::Eval
                } else if i < n_eval + n_val {
                    Split::Val
                } else {
                    Split::Train
                };
                let key = spec.composition_key();
                // held-out prompts use both wordings ("left of" and "right of") across the set
                let spec = if split != Split::Train && fnv1a(key.as_bytes()) % 2 == 1 { spec.mirrored() } else { spec };
                by_key.insert(key, split);
                lists.entry((split, cat)).or_insert_with(Vec::new).push(spec);
            }
        }
        Table { lists, by_key }
    })
}

/// The prompts of one split and task type. Training prompts come in canonical wording; a
/// training sampler should also use [`PromptSpec::mirrored`].
pub fn prompts(split: Split, category: Category) -> &'static [PromptSpec] {
    table().lists.get(&(split, category)).map_or(&[], Vec::as_slice)
}

/// Which split a request belongs to (any wording). `None` for prompts outside the enumerated
/// task types (none: every prompt the grammar accepts is enumerated).
pub fn split_of(spec: &PromptSpec) -> Option<Split> {
    table().by_key.get(&spec.composition_key()).copied()
}

/// One image to generate and score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    pub prompt: String,
    pub seed: u64,
    pub category: Category,
}

/// The evaluation (or validation) set: every held-out prompt with its seeds.
pub fn items(split: Split) -> Vec<Item> {
    let mut out = Vec::new();
    for cat in Category::ALL {
        let specs = prompts(split, cat);
        if specs.is_empty() {
            continue;
        }
        let seeds = MIN_SEEDS_PER_PROMPT.max(MIN_IMAGES_PER_CATEGORY.div_ceil(specs.len()));
        for spec in specs {
            out.extend((0..seeds as u64).map(|seed| Item { prompt: spec.text(), seed, category: cat }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_counts() {
        let n: Vec<usize> = Category::ALL.iter().map(|&c| compositions(c).len()).collect();
        assert_eq!(n, vec![4, 78, 84, 24, 1416, 240]);
    }

    #[test]
    fn held_out_compositions_never_reach_training() {
        let eval: usize = Category::ALL.iter().map(|&c| prompts(Split::Eval, c).len()).sum();
        assert!(eval >= 500, "evaluation set has {eval} prompts");
        for cat in Category::ALL {
            for split in [Split::Eval, Split::Val] {
                for p in prompts(split, cat) {
                    assert_eq!(split_of(p), Some(split));
                    assert_eq!(split_of(&p.mirrored()), Some(split));
                    assert!(!prompts(Split::Train, cat).iter().any(|t| t.composition_key() == p.composition_key()));
                }
            }
            let total: usize = [Split::Train, Split::Val, Split::Eval].iter().map(|&s| prompts(s, cat).len()).sum();
            assert_eq!(total, compositions(cat).len());
        }
        let texts: Vec<String> = prompts(Split::Eval, Category::Position).iter().map(PromptSpec::text).collect();
        assert!(texts.iter().any(|t| t.contains("right of")) && texts.iter().any(|t| t.contains("below")));
    }

    #[test]
    fn every_category_has_enough_evaluation_images() {
        let items = items(Split::Eval);
        for cat in Category::ALL {
            let n = items.iter().filter(|i| i.category == cat).count();
            assert!(n >= MIN_IMAGES_PER_CATEGORY, "{cat:?}: {n}");
        }
    }
}
